"""``icope-bot run`` as the assistant runs it: a real process, its output, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.models import ItemState
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_env

S = ItemState


def _icope_bot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,  # no stray .env from the project folder
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_help_explains_the_options_and_exit_codes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--help"],
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--limit", "--reference", "--workers", "--dry-run", "--pause-on-exception"):
        assert option in done.stdout
    assert "Ctrl-C" in done.stdout
    assert "Exit code" in done.stdout


@pytest.mark.timeout(120)
def test_first_ctrl_c_finishes_the_current_item_then_stops(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    refs = enqueue_batch(work_queue, 4)
    proc = _icope_bot(["run", "--json"], run_env(sandbox, tmp_path), tmp_path)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if re.match(rf"→ {refs[1]} : début", line):
            proc.send_signal(signal.SIGINT)  # while the second item is being entered
            break
    out, err = proc.communicate(timeout=90)
    seen.append(err)

    assert proc.returncode == 0, "".join(seen)
    summary = json.loads(out)
    assert summary["stopped_reason"] == "interrupted"
    assert "Arrêt demandé : fin de l'élément en cours" in err
    assert [work_queue.get(r).state for r in refs] == [S.DONE, S.DONE, S.PENDING, S.PENDING]
    assert not work_queue.items([S.IN_PROGRESS])
    counts = sandbox.counts()
    assert counts["step1"] == 2
    assert counts["duplicate_step1"] == 0
    assert Path(summary["report"]).is_file()


def test_run_with_nothing_waiting_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_REPORTS_DIR", str(tmp_path / "reports"))

    assert main(["run", "--reference", "AE-INCONNU"]) == 0

    out = capsys.readouterr().out
    assert "Aucun élément à traiter" in out
    assert "Références inconnues : AE-INCONNU" in out
    assert len(list((tmp_path / "reports").glob("run-*.html"))) == 1


def test_pause_on_exception_with_several_workers_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))

    assert main(["run", "--workers", "2", "--pause-on-exception"]) == 2
    assert "un seul robot" in capsys.readouterr().err
