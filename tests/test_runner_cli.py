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
from bot.errors import SystemException
from bot.models import ItemState
from bot.workqueue import RetryPolicy, WorkQueue, open_queue
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
    codes = done.stdout.split("Code de sortie", 1)[1]
    for code, words in [
        (0, "rien n'attendait"),
        (1, "attendent une décision"),
        (2, "nouvel essai"),
        (3, "lot interrompu"),
        (4, "absente(s) de la file"),
    ]:
        assert re.search(rf"^  {code}  .*{re.escape(words)}", codes, re.M | re.S), codes


@pytest.mark.timeout(120)
def test_first_ctrl_c_finishes_the_current_item_then_stops(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    refs = enqueue_batch(work_queue, 4)
    # -v: the item's start is a DEBUG line (the console shows each item once, at its end).
    proc = _icope_bot(["-v", "run", "--json"], run_env(sandbox, tmp_path), tmp_path)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if re.search(rf"Élément {refs[1]} : début", line):
            proc.send_signal(signal.SIGINT)  # while the second item is being entered
            break
    out, err = proc.communicate(timeout=90)
    seen.append(err)

    assert proc.returncode == 3, "".join(seen)
    summary = json.loads(out)
    assert summary["stopped_reason"] == "interrupted"
    assert summary["exit_code"] == 3
    assert summary["verdict"] == "Lot interrompu : 2 élément(s) attendent le prochain passage."
    report = Path(summary["report"]).read_text(encoding="utf-8")
    assert "Lot interrompu : 2 élément(s) attendent le prochain passage" in report
    assert "tout est saisi" not in report.lower()
    assert "Arrêt demandé : fin de l'élément en cours" in err
    assert [work_queue.get(r).state for r in refs] == [S.DONE, S.DONE, S.PENDING, S.PENDING]
    assert not work_queue.items([S.IN_PROGRESS])
    counts = sandbox.counts()
    assert counts["step1"] == 2
    assert counts["duplicate_step1"] == 0
    assert Path(summary["report"]).is_file()


def _last_result(out: str) -> str:
    """The "Résultat : …" line of ``icope-bot run``'s output (the one before the report path)."""
    [line] = [x for x in out.splitlines() if x.startswith("Résultat : ")]
    return line


def test_run_with_nothing_waiting_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_REPORTS_DIR", str(tmp_path / "reports"))

    assert main(["run"]) == 0

    out = capsys.readouterr().out
    assert _last_result(out) == (
        "Résultat : Rien à saisir : aucun élément n'attend le robot (code 0)"
    )
    assert len(list((tmp_path / "reports").glob("run-*.html"))) == 1


def test_an_unknown_reference_exits_4_and_never_says_nothing_waits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_REPORTS_DIR", str(tmp_path / "reports"))
    with open_queue(tmp_path / "queue.db") as queue:
        enqueue_batch(queue, 3)  # waiting, but not the one asked for

    assert main(["run", "--reference", "AE-INCONNU"]) == 4

    out = capsys.readouterr().out
    assert "Références inconnues : AE-INCONNU" in out
    assert "rien n'attend" not in out
    assert _last_result(out) == (
        "Résultat : Référence(s) inconnue(s) dans la file : AE-INCONNU ; "
        "rien n'a été fait pour elle(s) (code 4)"
    )
    assert "Toute la file : 3 en attente" in out


def test_a_retry_not_yet_due_exits_2_and_says_when(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_REPORTS_DIR", str(tmp_path / "reports"))
    with open_queue(tmp_path / "queue.db") as queue:
        [ref] = enqueue_batch(queue, 1)
        (item,) = queue.lease("w1", policy=RetryPolicy(max_attempts=3, backoff_seconds=3600))
        with item:
            raise SystemException("Le site e-parcours ne répond pas", code="timeout")
        assert queue.get(ref).state == S.RETRY_WAIT

    assert main(["run"]) == 2

    line = _last_result(capsys.readouterr().out)
    assert line.startswith("Résultat : Problème technique : 1 élément(s) attendent un nouvel essai")
    assert "pas avant" in line
    assert line.endswith("(code 2)")


def test_dry_run_says_nothing_was_saved(
    sandbox: RunningSandbox,
    work_queue: WorkQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in run_env(sandbox, tmp_path).items():
        monkeypatch.setenv(name, value)
    enqueue_batch(work_queue, 1)

    assert main(["run", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert _last_result(out) == (
        "Résultat : Essai à blanc, rien n'a été enregistré : 1 formulaire(s) rempli(s) sans "
        "problème ; les éléments attendent toujours leur saisie (code 0)"
    )
    assert sandbox.counts()["step1"] == 0


def test_a_limited_run_says_what_still_waits(
    sandbox: RunningSandbox,
    work_queue: WorkQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in run_env(sandbox, tmp_path).items():
        monkeypatch.setenv(name, value)
    enqueue_batch(work_queue, 2)

    assert main(["run", "--limit", "1"]) == 0

    assert _last_result(capsys.readouterr().out) == (
        "Résultat : 1 élément(s) saisi(s), alertes concordantes ; 1 autre(s) attendent (code 0)"
    )


def test_pause_on_exception_with_several_workers_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))

    assert main(["run", "--workers", "2", "--pause-on-exception"]) == 2
    assert "un seul robot" in capsys.readouterr().err
