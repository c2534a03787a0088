"""Locks shared by every worker of one machine: threads and processes alike.

Two things must never happen at once, whatever the number of workers:
- two logins on the same account (the tool invalidates the code it e-mailed for the first one);
- two items of the same person in the flow (both would search, find nothing, and create).

Where the lock lives follows the queue: :meth:`bot.workqueue.WorkQueue.lock` hands out these file
locks for a file-based queue (one machine), and the database's advisory locks when several machines
share a PostgreSQL queue (``bot/workqueue/postgres.py``). Flows and sessions receive the queue (or
any :class:`LockProvider`) instead of reaching for a global.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Protocol

from filelock import FileLock, Timeout

__all__ = ["FILE_LOCKS", "LockProvider", "LockTimeout", "QueueLock", "machine_lock"]

LockTimeout = Timeout


class QueueLock(Protocol):
    """A lock as :class:`filelock.FileLock` offers it: ``acquire`` raises LockTimeout."""

    def acquire(self) -> object: ...

    def release(self) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...


class LockProvider(Protocol):
    """Whatever hands out the shared locks: the work queue, or :data:`FILE_LOCKS`."""

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock: ...


def machine_lock(kind: str, *key: str, timeout: float) -> FileLock:
    """A lock named by ``kind`` and a hash of ``key`` (the key itself never appears on disk)."""
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:20]
    return FileLock(
        Path(tempfile.gettempdir()) / f"icope-bot-{kind}-{digest}.lock", timeout=timeout
    )


class _FileLocks:
    """The machine-wide file locks as a :class:`LockProvider` (no queue at hand: one machine)."""

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock:
        return machine_lock(kind, *key, timeout=timeout)


FILE_LOCKS: LockProvider = _FileLocks()
