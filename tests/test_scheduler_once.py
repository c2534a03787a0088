"""``icope-bot schedule --once``: one whole night now, against the sandbox in real Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.logs import logger
from bot.models import ItemState
from bot.sample import generate
from bot.scheduler import EXIT_LOCKED
from bot.workqueue import open_queue
from tests.test_scheduler_service import HOLD_LOCK

S = ItemState


@pytest.fixture
def cli_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every file of the CLI under ``tmp_path`` (ICOPE_BOT_* variables); log sinks closed after."""
    for key, sub in {
        "QUEUE_PATH": "queue/queue.db",
        "INBOX_DIR": "queue/inbox",
        "ARCHIVE_DIR": "queue/archive",
        "REPORTS_DIR": "reports",
        "REVIEWS_DIR": "reviews",
        "LOGS_DIR": "logs",
        "SCREENSHOTS_DIR": "screenshots",
    }.items():
        monkeypatch.setenv(f"ICOPE_BOT_{key}", str(tmp_path / sub))
    yield tmp_path
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def _morning(data: Path) -> tuple[str, dict[str, Any]]:
    [text] = (data / "reports").glob("morning-*.txt")
    [js] = (data / "reports").glob("morning-*.json")
    return text.read_text(encoding="utf-8"), json.loads(js.read_text(encoding="utf-8"))


def test_once_refuses_while_another_process_holds_the_lock(
    cli_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox_file = generate(2, seed=5).write(cli_data / "queue" / "inbox" / "export.csv")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(cli_data / "queue" / "queue.db")],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "verrou pris"

        code = main(["schedule", "--once"])
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)

    assert code == EXIT_LOCKED
    assert "Une exécution est déjà en cours" in capsys.readouterr().err
    assert inbox_file.exists()  # nothing ingested
    assert not (cli_data / "reports").exists()  # no report either
    with open_queue(cli_data / "queue" / "queue.db") as queue:
        assert sum(queue.counts().values()) == 0
