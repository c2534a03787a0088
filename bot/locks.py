"""Locks shared by every worker of one machine: threads and processes alike.

Two things must never happen at once, whatever the number of workers:
- two logins on the same account (the tool invalidates the code it e-mailed for the first one);
- two items of the same person in the flow (both would search, find nothing, and create).

The lock files live in the bot's private data folder (``<queue folder>/locks/``, 0700), never in
the shared /tmp. Their names are an HMAC of the key with a per-installation secret
(``locks/.key``, 0600): an unsalted hash of identity traits could be reversed by trying the
birth dates and names of a town. A lock file exists only while it is held: it is removed on
release (safely: a waiter that locked a file since unlinked notices and tries again).

Where the lock lives follows the queue: :meth:`bot.workqueue.WorkQueue.lock` hands out these file
locks for a file-based queue (one machine), and the database's advisory locks when several machines
share a PostgreSQL queue (``bot/workqueue/postgres.py``). Flows and sessions receive the queue (or
any :class:`LockProvider`) instead of reaching for a global.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

from bot.evidence import private_dir

__all__ = [
    "LOCKS_DIR",
    "FileLocks",
    "LockProvider",
    "LockTimeout",
    "MachineLock",
    "QueueLock",
    "lock_folder",
    "machine_lock",
]

#: Under the queue's folder.
LOCKS_DIR = "locks"
_KEY_FILE = ".key"
_POLL_SECONDS = 0.05  # how often a waiter tries again (as filelock does)


class LockTimeout(TimeoutError):
    """The lock stayed taken longer than the caller was ready to wait."""


def lock_folder(queue_path: Path) -> Path:
    """The machine's lock folder, next to the queue file (private)."""
    return queue_path.parent / LOCKS_DIR


def _secret(folder: Path) -> bytes:
    """The installation's key, created 0600 on first use (O_EXCL: two creators, one winner)."""
    path = folder / _KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    for _ in range(100):  # the creator may be between open() and write()
        key = path.read_bytes()
        if len(key) == 32:
            return key
        time.sleep(_POLL_SECONDS)
    raise OSError(f"clé des verrous illisible : {path}")


class MachineLock:
    """An exclusive lock between threads and processes of this machine, removed on release."""

    def __init__(self, path: Path, *, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"verrou toujours pris : {self.path.name}") from None
                time.sleep(_POLL_SECONDS)
                continue
            # The holder before us may have removed the file after we opened it: our lock is
            # then on a file nobody else will ever open. Only the file at the path counts.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: see acquire()
        finally:
            os.close(fd)  # closing releases the flock

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> MachineLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def machine_lock(kind: str, *key: str, folder: Path, timeout: float) -> MachineLock:
    """A lock on ``key`` in ``folder``, named by ``kind`` and a keyed hash (the key never shows)."""
    private_dir(folder)
    digest = hmac.new(_secret(folder), "\0".join(key).encode(), hashlib.sha256).hexdigest()
    return MachineLock(folder / f"{kind}-{digest[:32]}.lock", timeout=timeout)


class QueueLock(Protocol):
    """A lock as :class:`MachineLock` offers it: ``acquire`` raises LockTimeout."""

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
    """Whatever hands out the shared locks: the work queue, or :class:`FileLocks`."""

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock: ...


class FileLocks:
    """The machine-wide file locks of one lock folder as a :class:`LockProvider`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock:
        return machine_lock(kind, *key, folder=self.folder, timeout=timeout)
