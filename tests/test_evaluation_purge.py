"""``icope-bot purge`` erases the evaluations' private gap lists with the rest of old health data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import logger


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "reports"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue" / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_REPORTS_DIR", str(folder))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))
    # purge also sweeps these: never the project's own folders from a test
    for name in ("SCREENSHOTS_DIR", "REVIEWS_DIR", "ARCHIVE_DIR", "INBOX_DIR"):
        monkeypatch.setenv(f"ICOPE_BOT_{name}", str(tmp_path / name.lower()))
    yield folder
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def period(start: date, end: date) -> str:
    return f"evaluation-{start.isoformat()}_{end.isoformat()}"


def test_purge_erases_gap_lists_of_periods_older_than_the_age(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = date.today()
    old = period(today - timedelta(days=400), today - timedelta(days=100))
    recent = period(today - timedelta(days=60), today)
    files = {
        "old_gaps": reports / f"{old}-ecarts.csv",
        "old_territory_gaps": reports / f"{old}-cpts-o-tours-ecarts.csv",
        "old_aggregates": reports / f"{old}-agrege.csv",
        "old_page": reports / f"{old}.html",
        "recent_gaps": reports / f"{recent}-ecarts.csv",
        "someone_elses": reports / "ecarts-notes.csv",
    }
    for path in files.values():
        path.write_text("x", encoding="utf-8")

    assert main(["purge", "--older-than", "90d"]) == 0

    assert "2 liste(s) d'écarts d'évaluation effacée(s)" in capsys.readouterr().out
    gone = {k for k, p in files.items() if not p.exists()}
    assert gone == {"old_gaps", "old_territory_gaps"}  # aggregates hold no item: they stay
