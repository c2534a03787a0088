"""Credentials and settings: a wrong password halts the run at once; a misspelt key never leaks.

Both through the real command: ``icope-bot run`` against the sandbox, ``icope-bot status`` in a
folder holding a ``.env``; then what the assistant reads (stderr, exit code) and the sandbox's
own account record (failed logins, lock).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings
from bot.models import ItemState
from bot.runner.summary import EXIT_SYSTEM
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_env
from tests.fixtures.sandbox import BOT_USER

S = ItemState


def _icope_bot(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,  # the .env read is the one of this folder
        env=clean | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(180)
def test_a_wrong_password_halts_the_run_after_one_login_attempt(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.reset()
    env = run_env(sandbox, tmp_path, password="pas-le-bon-mot-de-passe")
    with open_queue(tmp_path / "queue" / "queue.db") as queue:
        refs = enqueue_batch(queue, 4)

    done = _icope_bot(["run", "--json"], env, tmp_path)

    assert done.returncode == EXIT_SYSTEM, done.stderr
    assert "refuse l'identifiant ou le mot de passe du robot" in done.stderr
    assert "sans nouvel essai" in done.stderr
    assert "pas-le-bon-mot-de-passe" not in done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["stopped_reason"] == "configuration"
    # One login attempt in all: the tool counted one failure and did not lock the account.
    account = sandbox.app.state.runtime.store.account(BOT_USER)
    assert account["failures"] == 1
    assert not account["locked_until"]
    # Nothing was spent on the items: all wait as they were, no attempt counted.
    with open_queue(tmp_path / "queue" / "queue.db") as queue:
        views = {v.reference: v for v in queue.items()}
    assert {views[r].state for r in refs} == {S.PENDING}
    assert all(views[r].attempts == 0 for r in refs)


def test_a_misspelt_key_in_env_is_named_without_its_value_or_a_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "ICOPE_BOT_PASWORD=s3cret-du-robot\nICOPE_BOT_TIMEOUT_MS=beaucoup\n", encoding="utf-8"
    )

    done = _icope_bot(["status"], {}, tmp_path, timeout=60)

    assert done.returncode == 2
    assert "ICOPE_BOT_PASWORD" in done.stderr
    assert "vouliez-vous écrire ICOPE_BOT_PASSWORD" in done.stderr
    assert "ICOPE_BOT_TIMEOUT_MS" in done.stderr
    assert "s3cret-du-robot" not in done.stdout + done.stderr
    assert "beaucoup" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://robot:s3cret-base@db.example/icope",
        "postgresql://robot@db.example/icope?password=s3cret-base",
    ],
)
def test_a_database_password_in_the_queue_url_is_refused_without_being_shown(
    tmp_path: Path, url: str
) -> None:
    done = _icope_bot(["status"], {"ICOPE_BOT_QUEUE_URL": url}, tmp_path, timeout=60)

    assert done.returncode == 2
    assert "ICOPE_BOT_QUEUE_URL : l'adresse contient un mot de passe" in done.stderr
    assert "~/.pgpass" in done.stderr
    assert "s3cret-base" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_queue_url_without_password_is_accepted() -> None:
    url = "postgresql://robot@db.example:5432/icope?sslmode=verify-full"
    assert Settings(queue_url=url).queue_target == url
