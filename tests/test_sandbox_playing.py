"""The sandbox says what it is playing: UI variant, faults, second factor and data file.

Started as a person starts it (``icope-bot sandbox …``): its start-up lines and every page's
footer name what is active, so a screenshot or a terminal tells which scenario was running.
"""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.config import Faults

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _sandbox(args: list[str], **env: str) -> Iterator[tuple[str, list[str]]]:
    """``icope-bot sandbox`` running; its base URL and its start-up lines (up to the accounts)."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    environ |= {"PYTHONPATH": str(ROOT), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Comptes de formation"):
                break
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # the lines are printed before the server listens
            try:
                urllib.request.urlopen(url + "/connexion", timeout=5).close()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url, lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own sandbox
        return html.unescape(response.read().decode("utf-8"))  # the text a person reads


def test_startup_lines_and_footer_say_variant_faults_second_factor_and_data(
    tmp_path: Path,
) -> None:
    db = tmp_path / "formation.db"
    args = ["--ui-variant", "v2", "--otp", "none", "--db", str(db)]

    with _sandbox(args, SANDBOX_LATENCY_MS="5", SANDBOX_WRONG_DOMAIN="vision") as (url, lines):
        footer = _page(url + "/connexion")

    faults = "latence 5 ms, alerte vision calculée à l'envers"
    assert "Interface : v2" in lines
    assert f"Défaillances simulées : {faults}" in lines
    assert "Second facteur : none" in lines
    assert f"Données : {db}" in lines
    assert (
        f"Bac à sable : interface v2 · défaillances : {faults} · second facteur : none"
        " · données : formation.db"
    ) in footer


def test_a_sandbox_without_faults_says_so(tmp_path: Path) -> None:
    with _sandbox(["--otp", "none", "--db", str(tmp_path / "s.db")]) as (url, lines):
        footer = _page(url + "/connexion")

    assert "Interface : standard" in lines
    assert "Défaillances simulées : aucune" in lines
    assert "interface standard · défaillances : aucune" in footer


@pytest.mark.parametrize(
    ("knobs", "said"),
    [
        ({}, "aucune"),
        ({"error_rate": 0.2}, "erreur 500 sur 20 % des pages"),
        ({"slow_rate": 0.05, "slow_seconds": 2.5}, "5 % des pages ralenties de 2,5 s"),
        ({"expire_session_after": 30}, "session perdue après 30 requêtes"),
        ({"info_modal_rate": 1.0}, "message bloquant sur 100 % des pages"),
        ({"latency_ms": 200, "jitter_ms": 50}, "latence 200 ms ± 50 ms"),
        ({"alerts_delay_ms": 0}, "alertes affichées après 0 ms"),
        ({"error_rate": 0.1, "seed": 4}, "erreur 500 sur 10 % des pages, tirage reproductible"),
    ],
)
def test_each_fault_is_described_in_french(knobs: dict[str, object], said: str) -> None:
    assert Faults.model_validate(knobs).describe().startswith(said)
