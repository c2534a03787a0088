"""``icope-bot schedule --once``: one whole night now, against the sandbox in real Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.logs import logger
from bot.models import ItemState
from bot.sample import generate
from bot.scheduler import EXIT_LOCKED, EXIT_TARGET_CHANGED, build_scheduler
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import run_env, run_settings
from tests.fixtures.scheduler import HOLD_LOCK
from tests.fixtures.settings import settings_env

S = ItemState


@pytest.fixture
def cli_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every file of the CLI under ``tmp_path`` (ICOPE_BOT_* variables); log sinks closed after."""
    for name, value in settings_env(tmp_path, logs_dir=tmp_path / "logs").items():
        monkeypatch.setenv(name, value)
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


# --- whole cycles against the sandbox ---------------------------------------------------------


@pytest.fixture
def night_env(
    cli_data: Path, check_usager: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The CLI aimed at the test sandbox as the bot's account (files still under tmp_path); the
    sandbox holds the test usager the preflight reads."""
    sandbox = check_usager
    # Screenshots off: evidence has its own tests, and a lighter browser keeps these short.
    for name, value in run_env(sandbox, cli_data, screenshots="off", timeout_ms=15_000).items():
        monkeypatch.setenv(name, value)
    return cli_data


def _queued(data: Path) -> dict[str, ItemState]:
    with open_queue(data / "queue" / "queue.db") as queue:
        return {v.reference: v.state for v in queue.items()}


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_once_ingests_runs_and_writes_the_morning_report(
    night_env: Path, sandbox: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    export = generate(2, seed=21, discordant=1)
    export.write(night_env / "queue" / "inbox" / "export-du-jour.xlsx")

    code = main(["schedule", "--once"])

    out = capsys.readouterr().out
    assert code == 1  # one item waits for a person
    assert not list((night_env / "queue" / "inbox").iterdir())
    assert [p.name for p in (night_env / "queue" / "archive").glob("*export-du-jour.xlsx")]
    states = _queued(night_env)
    assert sorted(states.values()) == [S.DONE, S.NEEDS_REVIEW]
    [to_review] = [r for r, s in states.items() if s == S.NEEDS_REVIEW]
    text, report = _morning(night_env)
    assert text in out  # the same report on the terminal
    assert "export-du-jour.xlsx : 2 lue(s), 2 nouvelle(s)" in text
    assert "Contrôle de l'outil cible : conforme." in text
    assert "2 élément(s) traité(s)" in text
    assert f"{to_review} — à vérifier [alerts_discordant]" in text
    assert {k: n for k, n in report["queue"].items() if n} == {"done": 1, "needs_review": 1}
    assert report["night"]["run"]["counts"] == {"done": 1, "needs_review": 1}
    assert report["night"]["run"]["stopped_reason"] is None
    assert Path(report["night"]["run"]["report"]).is_file()  # the run's HTML report
    assert Path(report["review_export"]["xlsx"]).is_file()
    with open_queue(night_env / "queue" / "queue.db") as queue:
        step1_ids = {queue.get(r).result["step1_id"] for r in states}
    assert len(step1_ids) == 2
    assert {str(s["id"]) for s in sandbox.step1s()} >= {str(i) for i in step1_ids}
    assert sandbox.counts()["duplicate_step1"] == 0
    names = {row["Nom de naissance"] for row in export.rows}
    assert not any(name in text for name in names)


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_once_leaves_the_queue_alone_when_the_target_screens_changed(
    night_env: Path, sandbox: RunningSandbox
) -> None:
    generate(2, seed=22).write(night_env / "queue" / "inbox" / "export.xlsx")
    sandbox.set_faults(ui_variant="v2")  # the tool was updated; the mapping is the old one

    code = main(["schedule", "--once"])

    assert code == EXIT_TARGET_CHANGED
    with open_queue(night_env / "queue" / "queue.db") as queue:
        views = queue.items()
        assert [(v.state, v.attempts) for v in views] == [(S.PENDING, 0)] * 2  # never leased
    text, report = _morning(night_env)
    assert "Contrôle de l'outil cible : NON CONFORME." in text
    assert "File non traitée" in text
    assert report["night"]["target"]["ok"] is False
    assert report["night"]["run"] is None


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_once_leaves_the_queue_alone_when_the_step1_save_button_was_renamed(
    night_env: Path, sandbox: RunningSandbox
) -> None:
    generate(2, seed=25).write(night_env / "queue" / "inbox" / "export.xlsx")
    # Only the STEP 1 form changed: the read-only preflight must open that form to see it.
    sandbox.set_faults(renamed_texts={"step1.submit": "Valider l'évaluation"})

    code = main(["schedule", "--once"])

    assert code == EXIT_TARGET_CHANGED
    with open_queue(night_env / "queue" / "queue.db") as queue:
        views = queue.items()
        assert [(v.state, v.attempts) for v in views] == [(S.PENDING, 0)] * 2  # never leased
    text, report = _morning(night_env)
    assert "Contrôle de l'outil cible : NON CONFORME." in text
    assert "step1.buttons.save « Enregistrer »" in text
    assert report["night"]["target"]["ok"] is False
    assert "step1.buttons.save « Enregistrer »" in report["night"]["target"]["missing"]
    assert report["night"]["run"] is None
    assert sandbox.counts()["step1"] == 1  # the test usager's own STEP 1: nothing saved


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_once_past_its_stop_time_starts_nothing_and_items_stay_pending(
    night_env: Path, sandbox: RunningSandbox
) -> None:
    generate(2, seed=23).write(night_env / "queue" / "inbox" / "export.xlsx")

    code = main(["schedule", "--once", "--stop-at", "2000-01-01T06:00"])

    assert code == 0
    with open_queue(night_env / "queue" / "queue.db") as queue:
        views = queue.items()
        assert [v.state for v in views] == [S.PENDING, S.PENDING]
        assert all(v.attempts == 0 for v in views)  # never leased
    text, report = _morning(night_env)
    assert report["night"]["run"]["stopped_reason"] == "stop_time"
    assert "Heure de fin atteinte" in text


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_the_service_jobs_make_one_night_from_evening_to_morning(
    check_usager: RunningSandbox, tmp_path: Path
) -> None:
    sandbox = check_usager
    settings = run_settings(
        sandbox,
        tmp_path,
        inbox_dir=tmp_path / "queue" / "inbox",
        archive_dir=tmp_path / "queue" / "archive",
        reviews_dir=tmp_path / "reviews",
        screenshots="off",
        timeout_ms=15_000,
    )
    generate(1, seed=24).write(settings.inbox_dir / "export.xlsx")
    scheduler = build_scheduler(settings, threading.Event())

    for job in ("ingest", "run", "report"):  # 21:00, 21:05, 06:15: what the triggers call
        scheduler.get_job(job).func()

    assert set(_queued(tmp_path).values()) == {S.DONE}
    [text] = (tmp_path / "reports").glob("morning-*.txt")
    report = text.read_text(encoding="utf-8")
    assert "export.xlsx : 1 lue(s), 1 nouvelle(s)" in report
    assert "Contrôle de l'outil cible : conforme." in report
    assert "1 élément(s) traité(s) (terminé 1)" in report
    assert "À examiner par une personne : 0" in report
