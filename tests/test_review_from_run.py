"""The review file as a reviewer gets it after a real run: produced by the flow, not by hand.

The export's unit tests build queue items themselves; here the run against the sandbox writes
them, so a shape the flow never writes cannot pass (it once did: every alerts cell said "non lu").
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import logger
from bot.models import ItemState
from bot.runner import RunOptions, run_batch
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_settings
from tests.test_review_export import xlsx_rows

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
