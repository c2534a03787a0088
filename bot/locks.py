"""Locks shared by every worker of one machine: threads and processes alike.

Two things must never happen at once, whatever the number of workers:
- two logins on the same account (the tool invalidates the code it e-mailed for the first one);
- two items of the same person in the flow (both would search, find nothing, and create).

A deployment on several hosts (PostgreSQL queue) would replace these with the database's
advisory locks on the same keys (``pg_advisory_lock(hashtext(key))``).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["LockTimeout", "machine_lock"]

LockTimeout = Timeout


def machine_lock(kind: str, *key: str, timeout: float) -> FileLock:
    """A lock named by ``kind`` and a hash of ``key`` (the key itself never appears on disk)."""
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:20]
    return FileLock(
        Path(tempfile.gettempdir()) / f"icope-bot-{kind}-{digest}.lock", timeout=timeout
    )
