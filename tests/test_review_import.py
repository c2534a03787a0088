"""Importing the reviewer's decisions: each decision moves the item, and a doubtful file moves nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.models import ItemState, SelfAssessment
from bot.review import Decision, ImportReport, ReviewFileError, export_exceptions, import_decisions
from bot.workqueue import WorkQueue
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, make_assessment
from tests.fixtures.review import (
    DAY,
    HOSTILE_RAW,
    fill_csv,
    fill_xlsx,
    to_failed,
    to_invalid,
    to_review,
    xlsx_rows,
)

pytestmark = BOTH_BACKENDS

S = ItemState


def states(queue: WorkQueue, *refs: str) -> list[ItemState]:
    return [queue.get(r).state for r in refs]


def assert_nothing_applied(report: ImportReport, queue: WorkQueue, before: dict[str, S]) -> None:
    assert not report.ok
    assert not any(report.applied.values())
    assert {r: queue.get(r).state for r in before} == before
    assert all(not h.actor.startswith("reviewer:") for r in before for h in queue.history(r))


@pytest.mark.parametrize(
    ("decision", "expected"),
    [("approve", S.APPROVED), ("retry", S.PENDING), ("reject", S.REJECTED)],
)
@pytest.mark.parametrize("make", [to_review, to_failed], ids=["needs_review", "failed"])
def test_each_decision_moves_the_item_and_records_the_reviewer(
    work_queue: WorkQueue, tmp_path: Path, decision: str, expected: ItemState, make: object
) -> None:
    ref = make(work_queue, make_assessment(reference="AE-1"))  # type: ignore[operator]
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {ref: {"Décision": decision, "Commentaire": "vu avec le médecin"}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    item = work_queue.get(ref)
    assert item.state is expected
    last = work_queue.history(ref)[-1]
    assert last.actor == "reviewer:alice"
    assert last.to_state is expected
    assert "Commentaire du relecteur : vu avec le médecin" in item.details
    if decision == "retry":
        assert item.attempts == 0


def test_approve_keeps_the_accepted_difference_in_the_details(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {"AE-1": {"Décision": "approve"}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.summary() == (
        "Décisions appliquées (reviewer:alice) : 1 validée(s), 0 relancée(s), 0 rejetée(s), "
        "0 corrigée(s) ; 0 ligne(s) sans décision."
    )
    item = work_queue.get("AE-1")
    assert item.reason == "Validé par le relecteur : la différence est acceptée telle quelle"
    assert item.details.startswith("Mobilité : alerte")


def test_fix_replaces_the_payload_and_requeues_under_the_same_reference(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(
        path,
        {
            "AE-1": {
                "Décision": "fix",
                "Mots rappelés (sur 3)": 3,
                "Nom de naissance": "TESTICOPE-MARTIN",
                "Lever de chaise (secondes)": "15,5",
                "Date d'évaluation": "13/03/2025",
                "Alerte cognition": "Non",
            }
        },
    )

    report = import_decisions(work_queue, path, reviewer="bob")

    assert report.ok, report.summary()
    assert report.applied[Decision.FIX] == ["AE-1"]
    item = work_queue.get("AE-1")
    assert item.state is S.PENDING
    assert item.attempts == 0
    assert item.assessment is not None
    assert item.assessment.reference == "AE-1"
    assert item.assessment.identity.birth_name == "TESTICOPE-MARTIN"
    assert item.assessment.answers.words_recalled == 3
    assert item.assessment.answers.chair_rise_seconds == 15.5
    assert item.assessment.assessed_on == date(2025, 3, 13)
    assert item.assessment.app_alerts.cognition is False
    assert work_queue.history("AE-1")[-1].actor == "reviewer:bob"


def test_fix_reads_cells_as_an_export_is_read(work_queue: WorkQueue, tmp_path: Path) -> None:
    """The export's value synonyms hold in the review file too."""
    to_review(work_queue, make_assessment(reference="AE-1", consent_sharing=False))
    path = export_exceptions(work_queue, tmp_path, today=DAY).csv
    edits = {
        "Décision": "fix",
        "Sexe": "Femme",
        "Consentement au partage": "O",
        "Lever de chaise (secondes)": "Non réalisé",
        "Test d'audition": "Audiométrie",
        "Audiométrie (dB)": "-5",
        "Code INSEE lieu de naissance": "1053",
    }
    fill_csv(path, {"AE-1": edits})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    fixed = work_queue.get("AE-1").assessment
    assert fixed is not None
    assert fixed.consent_sharing is True
    assert fixed.answers.chair_rise_seconds is None
    assert fixed.answers.hearing_test == "audiometrie"
    assert fixed.answers.hearing_audiometry_db == -5
    assert fixed.identity.birth_insee == "01053"


def test_fix_without_changes_gives_back_the_same_assessment(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    """Every field of the payload travels through the file and back, defaults or not."""
    original = make_assessment(
        reference="AE-FULL",
        source_id="4711",
        identity={
            "used_name": "MARTIN",
            "used_first_name": "Jeannette",
            "phone": "06 12 34 56 78",
            "email": "jeanne.testicope@example.org",
            "address": "1 rue de la Paix, 75002 Paris",
            "birth_insee": "01053",
        },
        answers={
            "memory_complaint": True,
            "hearing_test": "hearwho",
            "hearing_score": 42,
            "hearing_problem_reported": True,
            "weight_loss_kg": 3.5,
            "chair_rise_seconds": None,
        },
        consent_sharing=False,
    )
    to_review(work_queue, original)
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {"AE-FULL": {"Décision": "fix"}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    assert work_queue.get("AE-FULL").assessment == original


def test_fix_makes_an_invalid_row_pending(work_queue: WorkQueue, tmp_path: Path) -> None:
    good = make_assessment(reference="AE-BAD").model_dump()
    raw = {"Nom de naissance": "TESTICOPE", "Date de naissance": "31/02/1940"}
    to_invalid(work_queue, "AE-BAD", raw)
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    answers = {
        "Prénoms de naissance": "Jeanne Marie",
        "Date de naissance": "12/05/1940",
        "Sexe": "F",
        "Code INSEE lieu de naissance": "75115",
        "Date d'évaluation": "14/03/2025",
        "Consentement au partage": "Oui",
        "Orientation : année correcte": "Oui",
        "Orientation : mois correct": "Oui",
        "Orientation : jour de la semaine correct": "Oui",
        "Orientation : date du jour correcte": "Oui",
        "Orientation : lieu correct": "Oui",
        "Mots rappelés (sur 3)": 2,
        "Lever de chaise (secondes)": 11.5,
        "Perte d'appétit": "Non",
        "Problème de vision": "Oui",
        "Triste ou déprimé (2 semaines)": "Non",
        "Peu d'intérêt ou de plaisir (2 semaines)": "Non",
        **{f"Alerte {d}": "Non" for d in ("mobilité", "nutrition", "audition", "psychologie")},
        "Alerte cognition": "Oui",
        "Alerte vision": "Oui",
    }
    fill_xlsx(path, {"AE-BAD": {"Décision": "fix", **answers}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    item = work_queue.get("AE-BAD")
    assert item.state is S.PENDING
    assert item.assessment is not None
    assert item.assessment.model_dump(exclude={"identity"}) == {
        k: v for k, v in good.items() if k != "identity"
    }
    assert item.assessment.identity.first_names == ("Jeanne", "Marie")


def test_decisions_from_the_csv_are_applied_and_formula_guards_removed(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))
    to_invalid(work_queue, "AE-3", HOSTILE_RAW)
    path = export_exceptions(work_queue, tmp_path, today=DAY).csv
    fill_csv(
        path,
        {
            "AE-1": {"Décision": "fix", "Lever de chaise (secondes)": "16,5"},
            "AE-2": {"Décision": "retry"},
            "AE-3": {"Décision": "reject", "Commentaire": "=doublon"},
        },
    )

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    assert states(work_queue, "AE-1", "AE-2", "AE-3") == [S.PENDING, S.PENDING, S.REJECTED]
    assert work_queue.get("AE-1").assessment.answers.chair_rise_seconds == 16.5  # type: ignore[union-attr]
    assert work_queue.get("AE-3").details.endswith("Commentaire du relecteur : =doublon")


def test_line_breaks_in_csv_cells_survive_and_rows_keep_their_numbers(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).csv
    fill_csv(
        path,
        {
            "AE-1": {"Décision": "reject", "Commentaire": "doublon\nvu avec l'infirmière"},
            "AE-2": {"Décision": "approuve"},
        },
    )

    report = import_decisions(work_queue, path, reviewer="alice")

    assert [str(r) for r in report.refused] == [
        "ligne 3 (AE-2) : décision « approuve » inconnue "
        "(valeurs possibles : valider, relancer, rejeter, corriger)"
    ]
    fill_csv(path, {"AE-2": {"Décision": "approve"}})
    assert import_decisions(work_queue, path, reviewer="alice").ok
    assert work_queue.get("AE-1").details.endswith("doublon\nvu avec l'infirmière")


def test_a_masked_file_fixes_the_answers_and_keeps_the_identity(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    original = make_assessment(reference="AE-1")
    to_review(work_queue, original)
    path = export_exceptions(work_queue, tmp_path, with_identity=False, today=DAY).xlsx
    fill_xlsx(path, {"AE-1": {"Décision": "fix", "Problème de vision": "Non"}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok, report.summary()
    fixed = work_queue.get("AE-1").assessment
    assert isinstance(fixed, SelfAssessment)
    assert fixed.identity == original.identity
    assert fixed.answers.vision_problem is False


def test_rows_without_a_decision_change_nothing(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    updated = work_queue.get("AE-1").updated_at

    report = import_decisions(work_queue, path, reviewer="alice")

    assert report.ok
    assert report.without_decision == 2
    assert states(work_queue, "AE-1", "AE-2") == [S.NEEDS_REVIEW, S.FAILED]
    assert work_queue.get("AE-1").updated_at == updated


# --- refusals: nothing is half-applied ------------------------------------------------------------


def test_an_unknown_decision_refuses_the_whole_file(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {"AE-1": {"Décision": "approve"}, "AE-2": {"Décision": "valider vite"}})
    before = {"AE-1": S.NEEDS_REVIEW, "AE-2": S.FAILED}

    report = import_decisions(work_queue, path, reviewer="alice")

    assert_nothing_applied(report, work_queue, before)
    (refusal,) = report.refused
    assert str(refusal) == (
        "ligne 3 (AE-2) : décision « valider vite » inconnue "
        "(valeurs possibles : valider, relancer, rejeter, corriger)"
    )
    assert report.summary().startswith("Aucune décision appliquée : 1 ligne(s) refusée(s).")


def test_an_edited_reference_is_refused(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(
        path, {"AE-1": {"Décision": "reject"}, "AE-2": {"Décision": "retry", "Référence": "AE-9"}}
    )

    report = import_decisions(work_queue, path, reviewer="alice")

    assert_nothing_applied(report, work_queue, {"AE-1": S.NEEDS_REVIEW, "AE-2": S.FAILED})
    (refusal,) = report.refused
    assert refusal.row == 3
    assert "référence « AE-9 » inconnue : a-t-elle été modifiée ?" in refusal.message


def test_a_file_older_than_the_item_is_refused(
    clocked_queue: WorkQueue, fake_clock: FakeClock, tmp_path: Path
) -> None:
    to_review(clocked_queue, make_assessment(reference="AE-1"))
    to_review(clocked_queue, make_assessment(reference="AE-2"))
    path = export_exceptions(clocked_queue, tmp_path, today=DAY).xlsx
    # Meanwhile another reviewer re-queued AE-2 and the bot sent it back to review.
    fake_clock.advance(60)
    clocked_queue.transition("AE-2", S.PENDING, actor="reviewer:bob")
    fake_clock.advance(60)
    with clocked_queue.lease("w1", references=["AE-2"])[0] as item:
        item.needs_review("Identité ambiguë : 2 dossiers candidats")
    fill_xlsx(path, {"AE-1": {"Décision": "approve"}, "AE-2": {"Décision": "approve"}})
    history = len(clocked_queue.history("AE-2"))

    report = import_decisions(clocked_queue, path, reviewer="alice")

    assert not report.ok
    assert states(clocked_queue, "AE-1", "AE-2") == [S.NEEDS_REVIEW, S.NEEDS_REVIEW]
    assert len(clocked_queue.history("AE-2")) == history
    (refusal,) = report.refused
    assert refusal.reference == "AE-2"
    assert refusal.message.startswith(
        "le fichier est plus ancien que la dernière modification de l'élément"
    )
    assert refusal.message.endswith("réexportez le fichier")


def test_a_decision_the_state_does_not_allow_is_refused(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_invalid(work_queue, "AE-2", {"Nom de naissance": "TESTICOPE"})
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {"AE-1": {"Décision": "reject"}, "AE-2": {"Décision": "approve"}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert_nothing_applied(report, work_queue, {"AE-1": S.NEEDS_REVIEW, "AE-2": S.INVALID})
    assert [str(r) for r in report.refused] == [
        "ligne 3 (AE-2) : décision « valider » impossible sur une ligne invalide : "
        "corrigez-la (corriger) ou rejetez-la (rejeter)"
    ]


def test_a_fix_with_wrong_values_names_the_columns(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(
        path,
        {
            "AE-1": {
                "Décision": "fix",
                "Mots rappelés (sur 3)": 5,
                "Problème de vision": "peut-être",
            }
        },
    )

    report = import_decisions(work_queue, path, reviewer="alice")

    assert_nothing_applied(report, work_queue, {"AE-1": S.NEEDS_REVIEW})
    (refusal,) = report.refused
    assert refusal.message == (
        "correction (corriger) invalide : "
        "« Problème de vision » : la réponse « peut-être » n'est pas reconnue (attendu Oui ou Non) ; "
        "« Mots rappelés (sur 3) » : la valeur « 5 » est trop grande (au plus 3)"
    )


def test_a_file_that_is_not_an_exceptions_file_is_refused(
    tmp_path: Path, work_queue: WorkQueue
) -> None:
    other = tmp_path / "export.csv"
    other.write_text("Nom;Prénom\nX;Y\n", encoding="utf-8")

    with pytest.raises(
        ReviewFileError, match="colonne\\(s\\) absente\\(s\\) : Référence, Décision"
    ):
        import_decisions(work_queue, other, reviewer="alice")


def test_the_reviewer_name_is_required(tmp_path: Path, work_queue: WorkQueue) -> None:
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx

    with pytest.raises(ReviewFileError, match="relecteur"):
        import_decisions(work_queue, path, reviewer="  ")
    assert xlsx_rows(path) == []
