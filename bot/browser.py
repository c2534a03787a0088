"""Which Chromium to run and how: system Chromium first, Playwright's own build otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["CHROMIUM_ARGS", "find_chromium", "launch_options"]

#: Flags this kind of machine needs: no sandbox as root, no GPU, and no background traffic
#: (without the networking flags Chromium stalls on refused connections in a closed network).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")


def find_chromium() -> Path | None:
    """A system Chromium: ``ICOPE_BOT_CHROMIUM`` if set, else the first one on PATH; None if none."""
    explicit = os.environ.get("ICOPE_BOT_CHROMIUM")
    if explicit:
        return Path(explicit)
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def launch_options(*, headed: bool = False, slow_mo_ms: int = 0) -> dict[str, object]:
    """Keyword arguments for ``playwright.chromium.launch``."""
    options: dict[str, object] = {"headless": not headed, "args": list(CHROMIUM_ARGS)}
    if slow_mo_ms:
        options["slow_mo"] = slow_mo_ms
    chromium = find_chromium()
    if chromium is not None:
        options["executable_path"] = str(chromium)
    return options
