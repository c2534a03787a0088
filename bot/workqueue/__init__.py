"""The durable work queue: the contract, the leased item, and the backends that store it.

- :mod:`bot.workqueue.contract`: :class:`WorkQueue` (the interface every backend implements), the
  transition table, :class:`ItemView`, :class:`HistoryEntry`, :class:`RetryPolicy`;
- :mod:`bot.workqueue.item`: :class:`WorkItem`, a leased item used as a context manager;
- :mod:`bot.workqueue.sqlite`: the embedded SQLite backend (one machine, the default);
- :mod:`bot.workqueue.postgres`: the PostgreSQL backend (several machines on one queue).

:func:`open_queue` picks the backend from its target (a file path, or a ``postgresql://`` URL:
``ICOPE_BOT_QUEUE_URL``); callers only see the contract.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bot.workqueue import contract
from bot.workqueue.contract import *  # noqa: F403 - the contract's names, listed once in its __all__
from bot.workqueue.contract import Clock, WorkQueue, utcnow
from bot.workqueue.item import WorkItem

__all__ = ["WorkItem", "is_queue_url", "open_queue", "status_summary", "work_by_machine"]
__all__ += contract.__all__


def is_queue_url(target: Path | str) -> bool:
    """True when ``target`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_queue(target: Path | str, *, clock: Clock = utcnow) -> WorkQueue:
    """Open the queue at ``target``: a ``postgresql://`` URL, or a SQLite file path.

    A SQLite file is created 0600 in a 0700 folder; a PostgreSQL database gets its tables created
    or migrated on first use. psycopg is only imported for a URL.
    """
    if is_queue_url(target):
        from bot.workqueue.postgres import PostgresQueue

        return PostgresQueue(str(target), clock=clock)
    from bot.workqueue.sqlite import SQLiteQueue

    return SQLiteQueue(Path(target), clock=clock)


def work_by_machine(queue: WorkQueue, since: datetime) -> dict[str, dict[str, int]]:
    """Items each machine released since ``since``: machine → {state: count}, whole queue.

    Worker names are ``machine:pid:n`` (bot.runner.recovery.worker_name); with several machines
    on one PostgreSQL queue this is what the morning report shows per machine.
    """
    out: dict[str, dict[str, int]] = {}
    for actor, states in queue.outcomes_by_actor(since).items():
        parts = actor.removeprefix("bot:").rsplit(":", 2)
        machine = parts[0] if len(parts) == 3 else actor.removeprefix("bot:")
        mine = out.setdefault(machine, {})
        for state, n in states.items():
            mine[state.value] = mine.get(state.value, 0) + n
    return dict(sorted(out.items()))


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
