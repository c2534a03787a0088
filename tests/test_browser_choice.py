"""Which Chromium a run launches: the headless shell for headless runs when it is installed, the
full browser for a headed one (the assistant's window), ICOPE_BOT_CHROMIUM above both."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.browser import find_chromium, launch_chromium, launch_options


def _fake(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_headless_run_takes_the_headless_shell_a_headed_one_the_full_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ICOPE_BOT_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    full = _fake(tmp_path, "chromium")
    assert find_chromium(headless=True) == full  # no shell installed: the full browser
    shell = _fake(tmp_path, "chromium-headless-shell")

    assert find_chromium(headless=True) == shell
    assert find_chromium() == full
    assert launch_options()["executable_path"] == str(shell)
    assert launch_options(headed=True)["executable_path"] == str(full)
    assert launch_options(headed=True)["headless"] is False


def test_the_explicit_chromium_wins_headless_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(tmp_path, "chromium-headless-shell")
    mine = _fake(tmp_path, "my-chrome")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ICOPE_BOT_CHROMIUM", str(mine))
    assert find_chromium(headless=True) == mine
    assert find_chromium() == mine


def test_the_chromium_chosen_for_headless_runs_really_starts_and_renders() -> None:
    """Whatever this machine has (the shell after the set-up on Debian), it runs a page."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.set_content("<h1>Évaluation STEP 1</h1>")
            assert page.get_by_role("heading", name="Évaluation STEP 1").is_visible()
            assert page.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            browser.close()
