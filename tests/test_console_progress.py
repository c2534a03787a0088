"""Progress of long file work, and the one data folder: the real command, on a terminal or not.

Each test starts ``python -m bot.cli`` as a person or cron would: under a pseudo-terminal (what a
person's terminal is) or with its output in a pipe (cron, a script), and reads what it printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.sample import generate
from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import BOT_PASSWORD, MAPPINGS

ROOT = Path(__file__).resolve().parent.parent
BAR = "/s · reste"  # the rate and time left of a progress bar line


def _env(home: Path, **more: str) -> dict[str, str]:
    """The environment of a person whose data folder is ``home`` (the suite's own paths removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")}
    env |= {"ICOPE_BOT_HOME": str(home), "PYTHONPATH": str(ROOT), "COLUMNS": "100", **more}
    return env


def _in_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as its stdin, stdout and stderr; all it wrote."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=cwd,
        close_fds=True,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:  # the terminal's buffer is small: read while the command writes
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    code = proc.wait(timeout=300)
    reader.join(timeout=30)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def _in_pipe(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return generate(120, seed=3, errors=2).write(tmp_path / "export-icope.csv")


def test_ingest_on_a_terminal_shows_rows_rate_and_time_left(export: Path, tmp_path: Path) -> None:
    code, out = _in_terminal(["ingest", str(export)], _env(tmp_path / "data"), tmp_path)

    assert code == 0, out
    assert "Ingestion de export-icope.csv" in out
    assert "120/120 lignes" in out
    assert BAR in out
    assert "Ingestion des exports ICOPE et Moi" in out  # the summary table still follows


def test_ingest_in_a_pipe_prints_the_summary_and_no_bar(export: Path, tmp_path: Path) -> None:
    done = _in_pipe(["ingest", str(export)], _env(tmp_path / "data"), tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Ingestion des exports ICOPE et Moi" in done.stdout
    assert BAR not in done.stdout + done.stderr
    assert "\x1b[" not in done.stdout + done.stderr  # no cursor movement in a log file


def test_ingest_json_on_a_terminal_is_only_json(export: Path, tmp_path: Path) -> None:
    code, out = _in_terminal(["ingest", "--json", str(export)], _env(tmp_path / "data"), tmp_path)

    assert code == 0, out
    assert BAR not in out
    body = out[out.index("[") : out.rindex("]") + 1]
    assert json.loads(body)[0]["read"] == 120


def test_sample_export_on_a_terminal_shows_each_step(tmp_path: Path) -> None:
    out_file = tmp_path / "big.xlsx"
    code, out = _in_terminal(
        ["sample-export", "--rows", "1500", "--out", str(out_file)], _env(tmp_path / "d"), tmp_path
    )

    assert code == 0, out
    for step in ("Tirage des personnes", "Réponses et alertes", "Écriture de big.xlsx"):
        assert step in out
    assert "1\u202f500/1\u202f500 lignes" in out  # French thousands: narrow no-break space
    assert out_file.stat().st_size > 0


def test_sample_export_in_a_pipe_prints_one_line(tmp_path: Path) -> None:
    done = _in_pipe(
        ["sample-export", "--rows", "50", "--out", str(tmp_path / "s.csv")],
        _env(tmp_path / "d"),
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip().endswith("ligne sans consentement au partage).")


def test_review_export_on_a_terminal_shows_its_steps(export: Path, tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    assert _in_pipe(["ingest", str(export)], env, tmp_path).returncode == 0  # 2 rows quarantined

    code, out = _in_terminal(["review", "export"], env, tmp_path)
    piped = _in_pipe(["review", "export"], env, tmp_path)

    assert code == 0, out
    assert "Préparation des lignes" in out
    assert "Écriture du classeur" in out
    assert "2/2 lignes" in out
    assert BAR not in piped.stdout + piped.stderr
    assert "2 élément(s) à examiner" in piped.stdout


# --- one data folder --------------------------------------------------------------------------


def test_icope_bot_home_holds_the_queue_and_the_log(export: Path, tmp_path: Path) -> None:
    home = tmp_path / "donnees-icope"

    assert _in_pipe(["ingest", str(export)], _env(home), tmp_path).returncode == 0
    status = _in_pipe(["status"], _env(home), tmp_path)

    assert (home / "queue" / "queue.db").is_file()
    assert (home / "logs" / "icope-bot.jsonl").is_file()
    assert f"Données : {home.resolve()} (ICOPE_BOT_HOME)" in status.stdout
    assert "ailleurs" not in status.stdout
    assert "en attente" in status.stdout  # the 118 valid rows are in this home's queue
    assert not (tmp_path / "queue").exists()  # nothing beside it, in the working folder


@pytest.mark.parametrize("made_before", [False, True], ids=["created-by-the-bot", "mkdir-0755"])
def test_icope_bot_home_is_private_to_the_bot(
    made_before: bool, export: Path, tmp_path: Path
) -> None:
    home = tmp_path / "donnees-icope"
    if made_before:  # as an administrator would prepare it: mkdir, umask 022
        home.mkdir(mode=0o755)
        home.chmod(0o755)

    assert _in_pipe(["ingest", str(export)], _env(home), tmp_path).returncode == 0

    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "queue").stat().st_mode & 0o777 == 0o700


def test_a_folder_set_on_its_own_stays_apart_and_status_says_so(tmp_path: Path) -> None:
    home, reviews = tmp_path / "home", tmp_path / "relecture"
    env = _env(home, ICOPE_BOT_REVIEWS_DIR=str(reviews))

    status = _in_pipe(["status", "--json"], env, tmp_path)
    text = _in_pipe(["status"], env, tmp_path)

    data = json.loads(status.stdout)["data"]
    assert data["home"] == str(home)
    assert data["queue_path"] == str(home / "queue" / "queue.db")
    assert data["reviews_dir"] == str(reviews)
    assert f"fichiers de vérification ailleurs : {reviews} (ICOPE_BOT_REVIEWS_DIR)" in text.stdout


# --- work that cannot count: a spinner -----------------------------------------------------------


def _training_mapping(tmp_path: Path) -> Path:
    """The target mapping, saying the target is a training sandbox (check-target may create)."""
    path = tmp_path / "target.yaml"
    text = (MAPPINGS / "target.yaml").read_text(encoding="utf-8")
    path.write_text(text + "\ntarget:\n  name: bac à sable\n  sandbox: true\n", encoding="utf-8")
    return path


@pytest.mark.browser
def test_check_target_on_a_terminal_says_what_it_is_doing(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    env = _env(
        tmp_path / "data",
        ICOPE_BOT_BASE_URL=sandbox.base_url,
        ICOPE_BOT_PASSWORD=BOT_PASSWORD,
        ICOPE_BOT_MAPPING=str(_training_mapping(tmp_path)),
        ICOPE_BOT_TIMEOUT_MS="5000",
    )

    code, out = _in_terminal(["check-target"], env, tmp_path)
    piped = _in_pipe(["check-target"], env, tmp_path)

    assert code == 0, out
    assert "Contrôle des écrans de l'e-parcours…" in out
    assert "trouvé(s), 0 absent(s)" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # colours
    assert piped.returncode == 0, piped.stderr
    assert "Contrôle des écrans" not in piped.stdout + piped.stderr
