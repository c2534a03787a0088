"""The durable work queue: the contract, the leased item, and the backends that store it.

- :mod:`bot.workqueue.contract`: :class:`WorkQueue` (the interface every backend implements), the
  transition table, :class:`ItemView`, :class:`HistoryEntry`, :class:`RetryPolicy`;
- :mod:`bot.workqueue.item`: :class:`WorkItem`, a leased item used as a context manager;
- :mod:`bot.workqueue.sqlite`: the embedded SQLite backend (one machine).

:func:`open_queue` picks the backend; callers only see the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.workqueue.contract import (
    DEFAULT_POLICY,
    FINISHED_STATES,
    STATE_LABELS,
    TRANSITIONS,
    WAITING_STATES,
    Clock,
    Conflict,
    EnqueueStatus,
    HistoryEntry,
    IllegalTransition,
    ItemView,
    RetryPolicy,
    WorkQueue,
    parse_age,
    utcnow,
)
from bot.workqueue.item import WorkItem

__all__ = [
    "DEFAULT_POLICY",
    "FINISHED_STATES",
    "STATE_LABELS",
    "TRANSITIONS",
    "WAITING_STATES",
    "Clock",
    "Conflict",
    "EnqueueStatus",
    "HistoryEntry",
    "IllegalTransition",
    "ItemView",
    "RetryPolicy",
    "WorkItem",
    "WorkQueue",
    "open_queue",
    "parse_age",
    "status_summary",
    "utcnow",
]


def open_queue(path: Path | str, *, clock: Clock = utcnow) -> WorkQueue:
    """Open (creating it 0600, its folder 0700) the SQLite queue at ``path``."""
    from bot.workqueue.sqlite import SQLiteQueue

    return SQLiteQueue(Path(path), clock=clock)


def status_summary(queue: WorkQueue) -> dict[str, Any]:
    """Counts per state and the oldest waiting item — reference and age, never identity.

    Stable keys (``icope-bot status --json``): ``counts`` {state: int}, ``oldest_waiting``
    {reference, state, created_at, age_seconds} or None, ``total``.
    """
    counts = queue.counts()
    oldest = queue.oldest_waiting()
    waiting = None
    if oldest is not None:
        waiting = {
            "reference": oldest.reference,
            "state": oldest.state.value,
            "created_at": oldest.created_at.isoformat(),
            "age_seconds": max(int((queue.now() - oldest.created_at).total_seconds()), 0),
        }
    return {
        "counts": {s.value: n for s, n in counts.items()},
        "oldest_waiting": waiting,
        "total": sum(counts.values()),
    }
