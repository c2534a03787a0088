"""Tests build their Settings from what they pass, never from a developer's .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings


def test_a_developers_env_file_never_reaches_a_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "ICOPE_BOT_USERNAME=compte-reel\nICOPE_BOT_BASE_URL=https://e-parcours.example\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    settings = Settings()

    assert settings.username == "bot"
    assert settings.base_url == "http://127.0.0.1:8765"
    # The file itself is read when asked for: the guard is the suite's, not a broken loader.
    assert Settings(_env_file=tmp_path / ".env").username == "compte-reel"  # type: ignore[call-arg]
