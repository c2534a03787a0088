"""The bot's password and TOTP secret are written nowhere: logs, queue, reports, review files,
evidence folders, traces.

A sandbox e-parcours asks for a password and a TOTP code; the bot logs in with known, unique
values through the real ``icope-bot run``: one item entered, then the tool starts ending every
session (the next items fail, their screenshots and Playwright traces are kept as evidence), then
the exceptions file for the reviewer. Every file the bot wrote is then read, byte by byte, zip
members included.
"""

from __future__ import annotations

import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from pydantic import SecretStr

from bot.models import ItemState
from bot.review import export_exceptions
from bot.workqueue import open_queue
from sandbox.config import Account
from sandbox.server import serve_in_thread
from tests.fixtures.bot_process import BotProcess
from tests.fixtures.runner import enqueue_batch, run_env
from tests.fixtures.sandbox import sandbox_test_config

S = ItemState


@dataclass(frozen=True)
class SecretRun:
    data: Path  # everything the bot wrote
    password: bytes
    totp_secret: bytes

    def files(self) -> list[Path]:
        return sorted(p for p in self.data.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> SecretRun:
    root = tmp_path_factory.mktemp("secrets")
    password = f"Mdp-{secrets.token_hex(8)}-icope"
    totp_secret = pyotp.random_base32()
    bot = Account(
        username="bot",
        password=SecretStr(password),
        email="bot@sandbox.e-parcours.invalid",
        display_name="Robot de ressaisie ICOPE",
        totp_secret=SecretStr(totp_secret),
    )
    config = sandbox_test_config(root / "e-parcours.db", otp_mode="totp", accounts=[bot])
    data = root / "bot"
    with serve_in_thread(config) as server:
        with open_queue(data / "queue" / "queue.db") as queue:
            refs = enqueue_batch(queue, 3, prefix="AE-SECRET")
        env = run_env(
            server,
            data,
            password=password,
            otp_source="totp",
            totp_secret=totp_secret,
            reviews_dir=data / "reviews",
            logs_dir=data / "logs",  # this run's own log, scanned below (and by the PII scan)
            max_attempts=1,
            circuit_breaker=2,
            screenshots="on",
            traces="on",  # every attempt traced: the logins inside a trace are what is checked
        )
        run = BotProcess(["--json"], env, root)
        # Once the first item is entered, the tool starts ending every session at once: the
        # other items fail and their screenshots and traces are kept as evidence.
        assert run.wait_for_line(r"✓ AE-SECRET-01 ", timeout=300), run.output()
        server.set_faults(expire_session_after=2)
        assert run.wait(timeout=300) == 2, run.output()[-3000:]
        with open_queue(data / "queue" / "queue.db") as queue:
            export_exceptions(queue, data / "reviews")
        with open_queue(data / "queue" / "queue.db") as queue:
            states = [queue.get(r).state for r in refs]
        assert states == [S.DONE, S.FAILED, S.FAILED]
    return SecretRun(data, password.encode(), totp_secret.encode())


def _places(run: SecretRun, needle: bytes, *, traces: bool) -> list[str]:
    """Where ``needle`` is found: file paths, file contents, and (if asked) members of zips."""
    found = []
    for path in run.files():
        if needle in str(path.relative_to(run.data)).encode():
            found.append(f"nom de fichier {path}")
        content = path.read_bytes()
        if path.suffix == ".zip":
            if not traces:
                continue
            with zipfile.ZipFile(path) as z:
                found += [f"{path}:{m}" for m in z.namelist() if needle in z.read(m)]
        elif needle in content:
            found.append(str(path))
    return found


def test_the_run_left_logs_queue_report_reviews_screenshots_and_traces(
    secret_run: SecretRun,
) -> None:
    """The scan below reads real files of every kind, not an empty folder."""
    names = [p.name for p in secret_run.files()]
    assert any(n.endswith(".jsonl") for n in names)
    assert "queue.db" in names
    assert any(n.startswith("run-") and n.endswith(".html") for n in names)
    assert any(n.startswith("exceptions-") for n in names)
    assert any(n.endswith(".png") for n in names)
    assert any(n.endswith(".zip") for n in names)


def test_password_and_totp_secret_are_in_no_log_queue_report_review_or_file_name(
    secret_run: SecretRun,
) -> None:
    assert _places(secret_run, secret_run.password, traces=False) == []
    assert _places(secret_run, secret_run.totp_secret, traces=True) == []


def test_password_is_in_no_trace(secret_run: SecretRun) -> None:
    """Logins are not traced: the typed value, its POST and the page values stay out."""
    assert _places(secret_run, secret_run.password, traces=True) == []
