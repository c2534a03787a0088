"""What differs between the export and the dossier, said in a person's words.

- A near match says how its names differ (another order, one letter, accents…), not just
  "orthographe différente".
- A dossier found on its strict traits whose used name, phone, e-mail or address differ from the
  export's: the item ends done, and the difference is told in the item's result, the run report
  and the review file's « Informations » sheet, the dossier left as it was.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from rich.console import Console

from bot.config import Settings
from bot.console import print_run_summary
from bot.errors import BusinessException
from bot.flows.double_entry import double_entry
from bot.flows.identity import (
    first_names_difference,
    informational_differences,
    name_difference,
)
from bot.models import ItemState, SelfAssessment
from bot.pages.session import TargetSession
from bot.review import export_exceptions
from bot.runner import RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.workqueue import WorkItem, WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.identity import OURS, ours_in_sandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.runner import run_settings

Leased = Callable[[SelfAssessment], WorkItem]


# --- the words for a difference (pure) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "said"),
    [
        ("DUPONT", "DUPOND", "une lettre différente"),
        ("DUPONT", "DUPOTN", "deux lettres voisines inversées"),
        ("DUPONT", "DUPONTT", "une lettre en plus ou en moins"),
        ("LE GUEN", "LEGUEN", "espace ou tiret en plus ou en moins"),
        ("MARTIN", "MARTIN-DURAND", "une partie seulement du nom composé"),
        ("Hélène", "Helene", "accents seulement"),
        ("Testicope", "TESTICOPE", "majuscules et minuscules seulement"),
        ("DUPONT", "LEROY", "orthographe différente"),
        ("DUPONT", "", "absent du dossier"),
    ],
)
def test_a_name_difference_is_named_by_its_kind(ours: str, theirs: str, said: str) -> None:
    assert name_difference(ours, theirs) == said


@pytest.mark.parametrize(
    ("ours", "theirs", "said"),
    [
        (("Jeanne", "Marie"), "Marie Jeanne", "mêmes prénoms dans un autre ordre"),
        (
            ("Jeanne", "Marie"),
            "Marie",
            "premier prénom absent du dossier (les suivants concordent)",
        ),
        (
            ("Marie",),
            "Jeanne, Marie",
            "premier prénom absent de l'export (les suivants concordent)",
        ),
        (
            ("Jeanne", "Marie"),
            "Louise Jeanne",
            "ordre des prénoms différent (le premier de l'export est plus loin dans le dossier)",
        ),
        (("Jeanne",), "Jeane", "une lettre en plus ou en moins"),
        (("Jeanne",), "", "aucun prénom dans le dossier"),
        (("Jeanne",), "Joséphine", "orthographe différente"),
    ],
)
def test_a_first_names_difference_is_named_by_its_kind(
    ours: tuple[str, ...], theirs: str, said: str
) -> None:
    assert first_names_difference(ours, theirs) == said


def test_contact_details_differ_only_when_the_export_says_something_else() -> None:
    ours = OURS.model_copy(
        update={
            "phone": "+33 1 99 00 12 34",
            "email": "Jeanne@Example.org",
            "address": "3, rue des Lilas",
            "used_name": "Martin",
        }
    )
    same = {
        "phone": "01.99.00.12.34",
        "email": "jeanne@example.org",
        "address": "3 RUE DES LILAS",
        "used_name": "MARTIN",
    }
    assert informational_differences(ours, same) == []
    # what the export leaves empty, or the screen does not show, is not a difference
    assert informational_differences(OURS, {"phone": "01 99 00 98 76"}) == []
    assert informational_differences(ours, {}) == []

    found = informational_differences(ours, same | {"phone": "01 99 00 98 76", "used_name": None})

    assert [(d.trait, d.kind) for d in found] == [
        ("used_name", "absent du dossier"),
        ("phone", "différent"),
    ]
    assert found[1].export == "+33 1 99 00 12 34"
    assert found[1].dossier == "01 99 00 98 76"


# --- a near match in the sandbox ---------------------------------------------------------------


@pytest.mark.browser
def test_near_match_with_first_names_in_another_order_says_so(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    near = ours_in_sandbox(sandbox, first_names=["Marie", "Jeanne"])
    item = leased(make_assessment(reference="AE-ORDER"))

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, item, flow_settings)

    assert raised.value.code == "identity_near_match"
    assert raised.value.details == (
        f"dossier {near} : diffère par premier prénom (mêmes prénoms dans un autre ordre)"
    )
    assert "orthographe" not in raised.value.details


@pytest.mark.browser
def test_near_match_on_one_letter_of_the_birth_name_says_so(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    near = ours_in_sandbox(sandbox, birth_name="TESTICOPPE")
    item = leased(make_assessment(reference="AE-LETTER"))

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, item, flow_settings)

    assert raised.value.details == (
        f"dossier {near} : diffère par nom de naissance (une lettre en plus ou en moins)"
    )


# --- a real run: told everywhere, the dossier left as it was --------------------------------------

EXPORT_PHONE = "01 99 00 12 34"
DOSSIER_PHONE = "01 99 00 98 76"


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_other_phone_and_used_name_end_done_and_are_told_in_result_report_and_review_file(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    dossier = ours_in_sandbox(sandbox, phone=DOSSIER_PHONE, used_name="DURAND")
    settings = run_settings(sandbox, tmp_path, reviews_dir=tmp_path / "reviews")
    identity = {"phone": EXPORT_PHONE, "used_name": "MARTIN"}
    # Two assessments of the same person: the second finds the dossier as the first left it.
    for ref, on in (("AE-INFO-1", date(2025, 3, 3)), ("AE-INFO-2", date(2025, 9, 3))):
        work_queue.enqueue(
            make_assessment(reference=ref, identity=identity, assessed_on=on), source="t.xlsx"
        )

    summary = run_batch(settings, work_queue, RunOptions())

    assert summary.counts == {"done": 2}
    assert sandbox.counts()["usagers"] == 1  # found, not created
    for ref in ("AE-INFO-1", "AE-INFO-2"):
        view = work_queue.get(ref)
        assert view.state == ItemState.DONE
        info = {d["trait"]: d for d in (view.result or {})["identity_info"]}
        assert set(info) == {"used_name", "phone"}
        # the dossier still shows its own values: the bot never updated it
        assert (info["phone"]["export"], info["phone"]["dossier"]) == (EXPORT_PHONE, DOSSIER_PHONE)
        assert info["used_name"]["dossier"] == "DURAND"
        assert info["used_name"]["kind"] == "orthographe différente"

    screen = Console(file=io.StringIO(), width=200)
    print_run_summary(screen, summary, None)
    assert (
        "Informations d'identité (sans décision, dossiers non modifiés) : AE-INFO-1, AE-INFO-2"
        in screen.file.getvalue()  # type: ignore[attr-defined]
    )

    html = write_run_report(summary, settings.reports_dir).read_text(encoding="utf-8")
    assert "Informations d'identité (2)" in html
    assert "<td>AE-INFO-1</td><td>nom utilisé, téléphone</td>" in html
    assert EXPORT_PHONE not in html
    assert DOSSIER_PHONE not in html

    exported = export_exceptions(work_queue, settings.reviews_dir)
    wb = load_workbook(exported.xlsx, read_only=True)
    assert wb.sheetnames == ["Exceptions", "Informations", "Mode d'emploi"]
    rows = list(wb["Informations"].iter_rows(values_only=True))
    wb.close()
    assert rows[0] == (
        "Référence",
        "Usager",
        "État",
        "Dossier e-parcours",
        "Diffère par",
        "Nature de l'écart",
        "Dans l'export",
        "Dans le dossier",
    )
    assert (
        "AE-INFO-1",
        "TESTICOPE Jeanne, née le 12/05/1940",
        "terminé",
        str(dossier),
        "téléphone",
        "différent",
        EXPORT_PHONE,
        DOSSIER_PHONE,
    ) in rows
    assert len(rows) == 1 + 4  # two items, two traits each
    assert exported.count == 0  # nothing to decide: no exception row
    assert exported.informations == 4

    masked = export_exceptions(work_queue, settings.reviews_dir, with_identity=False)
    wb = load_workbook(masked.xlsx, read_only=True)
    values = [c for r in wb["Informations"].iter_rows(values_only=True) for c in r]
    wb.close()
    assert "téléphone" in values
    assert EXPORT_PHONE not in values
    assert DOSSIER_PHONE not in values
