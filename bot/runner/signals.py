"""Ctrl-C handling for a run: the first stops between items, the second leaves at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["sigint_stops"]


@contextlib.contextmanager
def sigint_stops(
    stop: threading.Event, on_first: Callable[[], None] | None = None
) -> Iterator[None]:
    """Ctrl-C once: set ``stop`` (the run ends after the current items). Twice: abort at once.

    Main thread only. The abort raises KeyboardInterrupt: items being entered stay in progress,
    their lease runs out (or the next run on this machine ends it) and recovery takes over.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if on_first is not None:
            on_first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
