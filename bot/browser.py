"""Which Chromium to run and how: system Chromium first, Playwright's own build otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM_ARGS", "find_chromium", "launch_chromium", "launch_options"]

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


def launch_chromium(
    playwright: Playwright,
    *,
    headed: bool = False,
    slow_mo_ms: int = 0,
    own_signals: bool = False,
    env: dict[str, str] | None = None,
) -> Browser:
    """Start Chromium: the one launcher of the runner, the preflight, the benchmarks and tests.

    ``own_signals``: Ctrl-C, SIGTERM and SIGHUP belong to the caller (the runner), so the browser
    outlives the first Ctrl-C and the items in progress finish cleanly.
    """
    extra: dict[str, Any] = {} if env is None else {"env": env}  # the browser's environment
    return playwright.chromium.launch(
        **launch_options(headed=headed, slow_mo_ms=slow_mo_ms),
        **extra,
        handle_sigint=not own_signals,
        handle_sigterm=not own_signals,
        handle_sighup=not own_signals,
    )


def launch_options(*, headed: bool = False, slow_mo_ms: int = 0) -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch`` (also pytest-playwright's launch arguments)."""
    options: dict[str, Any] = {"headless": not headed, "args": list(CHROMIUM_ARGS)}
    if slow_mo_ms:
        options["slow_mo"] = slow_mo_ms
    chromium = find_chromium()
    if chromium is not None:
        options["executable_path"] = str(chromium)
    return options
