"""Evidence filed under an item shows that item's usager, never the previous one's record.

The demo once filed the previous item's saved STEP 1 (another person's identity, answers and
alerts) as the "99-a-verifier.png" of the next item, which had no consent: the browser still
showed it. Here two items run back to back on one worker, and every place a person reads the
second item's evidence (its folder, the run report, the review file) holds nothing of the first.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from bot.models import ItemState
from bot.review import export_exceptions
from bot.runner import RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.review import xlsx_rows
from tests.fixtures.runner import run_settings

S = ItemState


def _section(html: str, reference: str) -> str:
    """The run report's exception block of ``reference``."""
    match = re.search(
        rf'<section class="exception" id="{reference}-\d+">(.*?)</section>', html, re.S
    )
    assert match, f"no exception section for {reference}"
    return match.group(1)


def test_an_item_that_never_reached_its_dossier_gets_no_screenshot_of_the_previous_one(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    first = make_assessment(
        reference="AE-EV-1",
        identity={"birth_name": "PREMIERE", "first_names": ("Alice",), "ins": None},
    )
    second = make_assessment(
        reference="AE-EV-2",
        identity={"birth_name": "SECONDE", "first_names": ("Berthe",), "ins": None},
        consent_sharing=False,
    )
    work_queue.enqueue(first, source="export.xlsx", row=2)
    work_queue.enqueue(second, source="export.xlsx", row=3)
    settings = run_settings(sandbox, tmp_path)

    summary = run_batch(settings, work_queue, RunOptions(workers=1))

    assert [r.reference for r in summary.items] == ["AE-EV-1", "AE-EV-2"]
    assert len({r.worker for r in summary.items}) == 1  # one browser, one page, back to back
    assert work_queue.get("AE-EV-1").state == S.DONE
    assert work_queue.get("AE-EV-2").state == S.NEEDS_REVIEW
    # The first item's own evidence is there (its form and alerts, screenshots on)...
    assert [Path(p).name for p in work_queue.get("AE-EV-1").evidence] == [
        "02-alertes.png",
        "01-saisie-step1.png",
    ]
    # ...the second, refused before opening anything, has none: no file, no folder.
    assert work_queue.get("AE-EV-2").evidence == []
    assert summary.final["AE-EV-2"].evidence == ()
    assert not list(settings.screenshots_dir.glob("*/AE-EV-2"))
    # The run report shows no image for it, the review file links none.
    html = write_run_report(summary, settings.reports_dir).read_text(encoding="utf-8")
    section = _section(html, "AE-EV-2")
    assert "consentement" in section.lower()
    assert "<img" not in section
    assert "data:image" not in section
    rows = xlsx_rows(export_exceptions(work_queue, tmp_path / "reviews", today=date.today()).xlsx)
    [row] = [r for r in rows if r["Référence"] == "AE-EV-2"]
    assert row["Capture"] is None
    assert not row["Autres captures"]


def test_a_failure_on_the_items_own_dossier_keeps_its_screenshot(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    work_queue.enqueue(make_assessment(reference="AE-EV-3"), source="export.xlsx", row=2)
    sandbox.set_faults(wrong_domain="vision")  # discordant alerts, seen on its own evaluation

    run_batch(run_settings(sandbox, tmp_path), work_queue, RunOptions())

    view = work_queue.get("AE-EV-3")
    assert view.state == S.NEEDS_REVIEW
    assert Path(view.evidence[0]).name == "99-a-verifier.png"
    assert all("AE-EV-3" in p for p in view.evidence)
