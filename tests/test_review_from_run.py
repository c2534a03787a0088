"""The review file as a reviewer gets it after a real run: produced by the flow, not by hand.

The export's unit tests build queue items themselves; here the run against the sandbox writes
them, so a shape the flow never writes cannot pass (it once did: every alerts cell said "non lu").
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.ingest import ingest_file
from bot.logs import logger
from bot.models import ItemState
from bot.review import export_exceptions
from bot.runner import RunEvent, RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.sample import SampleExport, generate
from bot.workqueue import WorkQueue, open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.review import fill_xlsx, xlsx_rows
from tests.fixtures.runner import enqueue_batch, run_settings

S = ItemState
VISION = "Alertes comparées — Vision"
MOBILITY = "Alertes comparées — Mobilité"


@pytest.fixture
def review_cli(
    queue_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """``icope-bot review export`` pointed at the test queue; (reviews folder, logs folder)."""
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(queue_path))
    monkeypatch.setenv("ICOPE_BOT_REVIEWS_DIR", str(tmp_path / "reviews"))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))
    return tmp_path / "reviews", tmp_path / "logs"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def test_review_file_shows_what_each_source_said_after_a_real_discordance(
    sandbox: RunningSandbox,
    work_queue: WorkQueue,
    review_cli: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    reviews, _ = review_cli
    [ref] = enqueue_batch(work_queue, 1)  # vision alert in the app and by the rules
    sandbox.set_faults(wrong_domain="vision")  # the e-parcours computes vision inverted
    summary = run_batch(run_settings(sandbox, tmp_path / "run"), work_queue, RunOptions())
    assert work_queue.get(ref).state == S.NEEDS_REVIEW, summary.items

    try:
        assert main(["review", "export"]) == 0
    finally:
        logger.remove()  # main() configured logging sinks into tmp_path

    (xlsx,) = reviews.glob("exceptions-*.xlsx")
    (csv_path,) = reviews.glob("exceptions-*.csv")
    for rows in (xlsx_rows(xlsx), csv_rows(csv_path)):
        [row] = [r for r in rows if r["Référence"] == ref]
        assert row[VISION] == "⚠ app : alerte / e-parcours : pas d'alerte / règle : alerte"
        # The panel was read: no domain says "non lu", agreeing ones carry no marker.
        assert (
            row[MOBILITY] == "app : pas d'alerte / e-parcours : pas d'alerte / règle : pas d'alerte"
        )
        assert not any("non lu" in str(v) for k, v in row.items() if k.startswith("Alertes"))


# --- a conflict reaches a person ---------------------------------------------------------------

VISION_ANSWER = "Problème de vision"


def _two_exports(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """Export a, then export b where one valid row's vision answer (and alert) changed.

    Returns both files, the changed row's reference and its vision answer in export a.
    """
    sample = generate(6, seed=11, errors=0, as_of=date(2025, 6, 30))
    changed = [dict(r) for r in sample.rows]
    row = changed[2]
    old = row[VISION_ANSWER]
    row[VISION_ANSWER] = row["Alerte vision"] = "Non" if old == "Oui" else "Oui"
    a = sample.write(tmp_path / "export-a.csv")
    b = SampleExport(sample.headers, changed, sample.keys).write(tmp_path / "export-b.csv")
    return a, b, f"ICM-{row['Identifiant évaluation']}", old


def _decide(
    queue_path: Path,
    reviews: Path,
    reference: str,
    decision: str,
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, object], dict[str, str]]:
    """``review export``, the decision typed in the XLSX, ``review import``: the row as read."""
    try:
        assert main(["review", "export"]) == 0
        (xlsx,) = reviews.glob("exceptions-*.xlsx")
        (csv_path,) = reviews.glob("exceptions-*.csv")
        [row] = [r for r in xlsx_rows(xlsx) if r["Référence"] == reference]
        [csv_row] = [r for r in csv_rows(csv_path) if r["Référence"] == reference]
        fill_xlsx(xlsx, {reference: {"Décision": decision}})
        assert main(["review", "import", str(xlsx), "--reviewer", "alice"]) == 0, (
            capsys.readouterr()
        )
    finally:
        logger.remove()
    return row, csv_row


@pytest.mark.parametrize(
    ("decision", "kept"), [("corriger", "new"), ("valider", "old")], ids=["take-new", "keep-old"]
)
def test_a_changed_reimport_waits_for_a_person_with_both_versions_side_by_side(
    decision: str,
    kept: str,
    queue_path: Path,
    review_cli: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reviews, _ = review_cli
    a, b, ref, old = _two_exports(tmp_path)
    new = "Non" if old == "Oui" else "Oui"
    with open_queue(queue_path) as queue:
        ingest_file(a, queue)
        before = queue.get(ref).assessment
        assert ingest_file(b, queue).conflicts == 1

        view = queue.get(ref)
        assert (view.state, view.error_code) == (S.NEEDS_REVIEW, "conflict")
        assert view.assessment == before  # nothing overwritten...
        # ...and nothing entered: a run asked for it takes nothing (no browser is started).
        assert (
            run_batch(run_settings_offline(tmp_path), queue, RunOptions(references=[ref])).items
            == []
        )

    row, csv_row = _decide(queue_path, reviews, ref, decision, capsys)

    for r in (row, csv_row):
        assert str(r["Motif"]).startswith("Conflit : une nouvelle version")
        details = str(r["Détails"])
        assert "en file : export-a.csv" in details
        assert "nouvelle : export-b.csv" in details
        assert f"{VISION_ANSWER} : en file « {old} » / nouvelle « {new} »" in details
        assert r[VISION_ANSWER] == new  # the correctable columns hold the new version
    with open_queue(queue_path) as queue:
        view = queue.get(ref)
        assert view.state == S.PENDING  # nothing of it was entered before: now it will be
        assert view.conflict is None
        assert view.assessment is not None
        assert view.assessment.answers.vision_problem is ((new if kept == "new" else old) == "Oui")
        assert queue.history(ref)[-1].actor == "reviewer:alice"


def test_a_conflict_arriving_during_the_entry_reaches_the_reviewer_and_the_run_report(
    sandbox: RunningSandbox,
    queue_path: Path,
    review_cli: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reviews, _ = review_cli
    a, b, ref, old = _two_exports(tmp_path)
    new = "Non" if old == "Oui" else "Oui"
    arrived: list[int] = []

    def reexport_during_the_entry(event: RunEvent) -> None:
        # The corrected export lands while the worker holds the item (its entry is starting).
        if event.kind == "item_started" and event.reference == ref:
            arrived.append(ingest_file(b, queue).conflicts)

    with open_queue(queue_path) as queue:
        ingest_file(a, queue)
        summary = run_batch(
            run_settings(sandbox, tmp_path / "run"),
            queue,
            RunOptions(references=[ref]),
            on_event=reexport_during_the_entry,
        )
        assert arrived == [1]
        view = queue.get(ref)
        # The queued version was entered (the attempt is not cut), but the item does not end
        # "done" with the new version on it unseen: it waits for a person.
        assert (view.state, view.error_code) == (S.NEEDS_REVIEW, "conflict"), summary.items
        assert view.conflict is not None
        assert view.conflict.entered
        assert (view.result or {}).get("alerts")  # what was entered stays for the reviewer

    # The run says so: exit code, last sentence, and the HTML report's exceptions.
    assert summary.exit_code == 1
    [record] = summary.items
    assert (record.outcome, record.category, record.error_code) == (
        S.NEEDS_REVIEW,
        "business",
        "conflict",
    )
    html = write_run_report(summary, tmp_path / "reports").read_text(encoding="utf-8")
    assert ref in html
    assert "pendant la saisie de celle en file" in html

    row, csv_row = _decide(queue_path, reviews, ref, "valider", capsys)

    for r in (row, csv_row):
        assert str(r["Motif"]).startswith("Conflit : une nouvelle version")
        details = str(r["Détails"])
        assert "en file : export-a.csv" in details
        assert "nouvelle : export-b.csv" in details
        assert f"{VISION_ANSWER} : en file « {old} » / nouvelle « {new} »" in details
    with open_queue(queue_path) as queue:
        view = queue.get(ref)
        # "valider" keeps what is in the e-parcours: the item is finished, nothing re-entered.
        assert (view.state, view.conflict) == (S.APPROVED, None)


def run_settings_offline(tmp_path: Path) -> Settings:
    """Settings for a run that must not reach any target (nothing leasable)."""
    return Settings(
        base_url="http://127.0.0.1:9",  # discard port: a browser would fail at once
        queue_path=tmp_path / "unused.db",
        reports_dir=tmp_path / "reports",
        screenshots_dir=tmp_path / "screenshots",
    )


def test_a_masked_review_file_names_no_identity_even_in_a_conflicts_differences(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    first = make_assessment(reference="AE-C1")
    renamed = make_assessment(
        reference="AE-C1", identity={"birth_name": "NOUVEAUNOM"}, answers={"mood_down": True}
    )
    work_queue.enqueue(first, source="a.xlsx", row=2)
    work_queue.enqueue(renamed, source="b.xlsx", row=5)

    masked = export_exceptions(work_queue, tmp_path / "m", with_identity=False)
    full = export_exceptions(work_queue, tmp_path / "f", with_identity=True)

    [m] = xlsx_rows(masked.xlsx)
    assert "Triste ou déprimé (2 semaines) : en file « Non » / nouvelle « Oui »" in m["Détails"]
    assert "Identité : différente" in m["Détails"]
    assert "NOUVEAUNOM" not in str(m)
    assert "TESTICOPE" not in str(m)
    [f] = xlsx_rows(full.xlsx)
    assert "Nom de naissance : en file « TESTICOPE » / nouvelle « NOUVEAUNOM »" in f["Détails"]
