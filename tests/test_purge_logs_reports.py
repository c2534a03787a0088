"""``icope-bot purge`` erases the log lines and morning reports older than its age, too.

A real night (``schedule --once`` against the sandbox) writes the morning report and the JSON log,
both naming the night's references; the purge then applies the same age to them as to the rest.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import logger
from bot.sample import generate
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import run_env


@pytest.fixture
def night_data(
    check_usager: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The CLI aimed at the sandbox (holding the preflight's test usager), files in tmp_path."""
    env = run_env(check_usager, tmp_path, screenshots="off", logs_dir=tmp_path / "logs")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield tmp_path
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def _log_lines(path: Path) -> list[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _written_at(line: dict[str, object]) -> float:
    record = line["record"]
    assert isinstance(record, dict)
    return float(record["time"]["timestamp"])


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_purge_erases_the_log_lines_and_morning_reports_older_than_its_age(
    night_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = night_data
    # Discordant alerts: the item waits for a person, so the morning report names it.
    generate(1, seed=21, discordant=1).write(data / "queue" / "inbox" / "export.xlsx")
    assert main(["schedule", "--once"]) == 1
    with open_queue(data / "queue" / "queue.db") as queue:
        [reference] = [v.reference for v in queue.items()]
    log = data / "logs" / "icope-bot.jsonl"
    morning = sorted(p.name for p in (data / "reports").glob("morning-*"))
    assert len(morning) == 2  # .txt and .json
    assert reference in (data / "reports" / morning[0]).read_text(encoding="utf-8")
    assert reference in log.read_text(encoding="utf-8")
    # What loguru's rotation leaves beside the current file (a compressed, older log).
    rotated = data / "logs" / "icope-bot.2025-01-01_00-00-00_000000.jsonl.gz"
    with log.open("rb") as src, gzip.open(rotated, "wb") as dst:
        shutil.copyfileobj(src, dst)

    # A longer age than the night's: nothing of it goes.
    assert main(["purge", "--older-than", "1d"]) == 0
    assert "0 ligne(s) ancienne(s) effacée(s) du journal" in capsys.readouterr().out
    assert sorted(p.name for p in (data / "reports").glob("morning-*")) == morning
    assert rotated.exists()
    assert reference in log.read_text(encoding="utf-8")

    purge_started = time.time()
    assert main(["purge", "--older-than", "0m"]) == 0

    out = capsys.readouterr().out
    logger.complete()  # the log file's sink writes from a queue: let it catch up
    assert "rapports du matin, journaux" in out
    assert not list((data / "reports").glob("morning-*"))
    assert not rotated.exists()  # every line in it was older
    lines = _log_lines(log)
    assert lines  # the purge's own lines stay: the log goes on
    assert all(_written_at(line) >= purge_started for line in lines)
    assert any("Purge :" in str(line["text"]) for line in lines), [x["text"] for x in lines]
    assert reference not in log.read_text(encoding="utf-8")
    assert log.stat().st_mode & 0o777 == 0o600
