"""The durable work queue: one row per self-assessment, leases, transitions, history.

::

    ingest ──enqueue──► pending ──lease──► in_progress ──► done
                 │          ▲                  │  └──────► needs_review ──► approved | rejected | pending
           quarantine       │                  ├─────────► retry_wait ──(not_before)──► in_progress
                 ▼          │                  └─────────► failed ──► pending | approved | rejected
              invalid ──────┘ (fixed)  or ──► rejected

Every transition is one transaction that updates the item and appends a row to its history
(time, actor, from, to, reason, evidence paths). The history is the anonymous, long-lived part:
``purge`` drops the payloads (the assessment, the raw export row, the flow's result, the details)
of *finished* items — ``done``, ``approved``, ``rejected``, the terminal states — and keeps the
history rows and the counts. History reasons pass through the log PII mask before they are stored.

The interface (:class:`WorkQueue`) hides the storage. :func:`open_queue` picks the backend:
SQLite (``bot/workqueue/sqlite.py``: one file, WAL, ``BEGIN IMMEDIATE`` for each write, several
worker *processes* on one machine) or PostgreSQL (``bot/workqueue/postgres.py``: ``lease`` is one
transaction running ``SELECT … LIMIT n FOR UPDATE SKIP LOCKED`` then the ``UPDATE`` and the history
``INSERT``, so workers on several machines skip each other's rows instead of queueing on one
lock). Both keep the same tables; times come from the injected clock. Callers do not change: they
only see :class:`WorkQueue`, :class:`WorkItem` and :class:`ItemView`.

Besides the items, the queue provides what several workers must agree on: :meth:`WorkQueue.lock`
(one login per bot account, one item of a person at a time: file locks on one machine, advisory
locks of the database when machines share it) and :meth:`WorkQueue.renew` (the lease heartbeat).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from bot.errors import IllegalTransition
from bot.locks import QueueLock
from bot.models import ItemState, SelfAssessment

if TYPE_CHECKING:
    from bot.workqueue.item import WorkItem

__all__ = [
    "DEFAULT_POLICY",
    "FINISHED_STATES",
    "LEDGER_COLUMNS",
    "LEDGER_SQL",
    "STATE_LABELS",
    "TRANSITIONS",
    "WAITING_STATES",
    "Clock",
    "Conflict",
    "EnqueueStatus",
    "Enqueued",
    "HistoryEntry",
    "IllegalTransition",
    "ItemView",
    "RetryPolicy",
    "TransitionChanges",
    "WorkQueue",
    "parse_age",
    "utcnow",
]

S = ItemState

#: Every legal transition. ``in_progress → in_progress`` is the recovery of an expired lease.
TRANSITIONS: dict[ItemState, frozenset[ItemState]] = {
    S.INVALID: frozenset({S.PENDING, S.REJECTED}),
    # pending/retry_wait → needs_review: a person must decide before the entry (a conflicting
    # later import, an assessment out of the programme, an id clash inside one export).
    S.PENDING: frozenset({S.IN_PROGRESS, S.REJECTED, S.NEEDS_REVIEW}),
    S.IN_PROGRESS: frozenset(
        {S.DONE, S.NEEDS_REVIEW, S.RETRY_WAIT, S.FAILED, S.PENDING, S.IN_PROGRESS}
    ),
    S.RETRY_WAIT: frozenset({S.IN_PROGRESS, S.PENDING, S.REJECTED, S.NEEDS_REVIEW}),
    S.NEEDS_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.PENDING}),
    S.FAILED: frozenset({S.PENDING, S.REJECTED, S.APPROVED}),
    S.DONE: frozenset(),
    S.APPROVED: frozenset(),
    S.REJECTED: frozenset(),
}

#: Terminal states: nothing more will happen; ``purge`` may drop their payloads.
FINISHED_STATES: frozenset[ItemState] = frozenset(s for s, to in TRANSITIONS.items() if not to)
#: Everything not finished: waiting for the bot (pending, retry, in progress) or for a person.
WAITING_STATES: frozenset[ItemState] = frozenset(S) - FINISHED_STATES

#: State names as a person reads them (status table, review files).
STATE_LABELS: dict[ItemState, str] = {
    S.INVALID: "invalide (quarantaine)",
    S.PENDING: "en attente",
    S.IN_PROGRESS: "en cours",
    S.RETRY_WAIT: "nouvel essai prévu",
    S.DONE: "terminé",
    S.NEEDS_REVIEW: "à vérifier",
    S.FAILED: "en échec",
    S.APPROVED: "validé",
    S.REJECTED: "rejeté",
}

Clock = Callable[[], datetime]

#: What :meth:`WorkQueue.ledger_rows` returns for each item, in this order.
LEDGER_COLUMNS = (
    "reference",
    "state",
    "error_code",
    "reason",
    "created_at",
    "purged_at",
    "assessment_json",
    "result_json",
    "entered_at",  # the last run that ended in done / needs_review
    "review_at",  # the first move to needs_review
    "decided_at",  # the last reviewer's decision, and the state it led to
    "decided_to",
)
#: The evaluation's read of the whole queue, the same text on SQLite and PostgreSQL (no ``%``:
#: psycopg would read it as a placeholder). Each history moment is an indexed lookup
#: (history_by_item), so the read is one pass over the items.
LEDGER_SQL = """
SELECT i.reference, i.state, i.error_code, i.reason, i.created_at, i.purged_at,
       i.assessment_json, i.result_json,
       (SELECT h.at FROM history h
         WHERE h.item_id = i.id AND h.event = 'transition' AND h.from_state = 'in_progress'
           AND h.to_state IN ('done', 'needs_review')
         ORDER BY h.id DESC LIMIT 1) AS entered_at,
       (SELECT h.at FROM history h
         WHERE h.item_id = i.id AND h.event = 'transition' AND h.to_state = 'needs_review'
         ORDER BY h.id LIMIT 1) AS review_at,
       (SELECT h.at FROM history h
         WHERE h.item_id = i.id AND h.event = 'transition'
           AND substr(h.actor, 1, 9) = 'reviewer:'
           AND h.to_state IN ('approved', 'rejected', 'pending')
         ORDER BY h.id DESC LIMIT 1) AS decided_at,
       (SELECT h.to_state FROM history h
         WHERE h.item_id = i.id AND h.event = 'transition'
           AND substr(h.actor, 1, 9) = 'reviewer:'
           AND h.to_state IN ('approved', 'rejected', 'pending')
         ORDER BY h.id DESC LIMIT 1) AS decided_to
FROM items i
ORDER BY i.created_at, i.id
"""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default queue clock)."""
    return datetime.now(UTC)


_AGE_RE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``"90d"``, ``"12h"``, ``"30m"`` → a timedelta. ValueError (in French) otherwise."""
    m = _AGE_RE.match(text)
    if not m:
        raise ValueError(
            f"durée « {text} » non comprise : écrire un nombre suivi de d (jours), "
            "h (heures) ou m (minutes), par exemple 90d"
        )
    return timedelta(**{_AGE_UNITS[m.group(2).lower()]: int(m.group(1))})


class EnqueueStatus(StrEnum):
    NEW = "new"  # inserted
    DUPLICATE = "duplicate"  # same reference, same content: nothing changed
    # Same reference, other content: both versions kept, the item goes to a person (code
    # "conflict") and is not entered until decided; a finished item only gets a history row.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Enqueued:
    """One valid export row for :meth:`WorkQueue.enqueue_many`."""

    assessment: SelfAssessment = field(repr=False)
    row: int | None = None
    raw: dict[str, str] | None = field(default=None, repr=False)


class TransitionChanges(TypedDict, total=False):
    """What a transition may change besides the state: the one list of its keywords.

    Absent keys mean: no reason or details (""), no ``expect_from`` check, the payload, result and
    not-before left as they are, no evidence added, attempts kept, no lease owner checked.
    """

    reason: str
    details: str
    expect_from: Iterable[ItemState] | None
    assessment: SelfAssessment | None
    error_code: str | None
    evidence: Sequence[str]
    result: dict[str, Any] | None
    not_before: datetime | None
    reset_attempts: bool
    owner: str | None


@dataclass(frozen=True)
class RetryPolicy:
    """How often a system exception is retried, and how long to wait in between."""

    max_attempts: int = 3  # Settings.max_attempts
    backoff_seconds: float = 60.0  # first retry delay; doubled each further attempt

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff_seconds * 2.0 ** max(attempt - 1, 0)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class ItemView:
    """A read-only snapshot of one item. Health data fields stay out of ``repr``."""

    reference: str
    state: ItemState
    assessment: SelfAssessment | None = field(repr=False)  # None: invalid row, or purged
    raw: dict[str, str] | None = field(repr=False)  # the original export row, None once purged
    source: str | None
    row: int | None
    attempts: int
    reason: str  # last reason, French, for a person
    details: str = field(repr=False)  # longer explanation (differences, candidates...)
    error_code: str | None
    result: dict[str, Any] | None = field(repr=False)  # what the flow recorded
    evidence: list[str]  # screenshots/traces, latest first
    not_before: datetime | None
    lease_owner: str | None
    lease_expires: datetime | None
    created_at: datetime
    updated_at: datetime
    purged_at: datetime | None = None
    #: A later import of the same reference with other content, until a person decides.
    conflict: Conflict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Conflict:
    """The new version of a conflicting item: shown to the reviewer beside the queued one."""

    assessment: SelfAssessment = field(repr=False)
    source: str
    row: int | None
    entered: bool  # the queued version may already be in the target (keep = approve it)


@dataclass(frozen=True)
class HistoryEntry:
    """One row of an item's history. ``event``: transition, enqueue, conflict, expire, purge."""

    at: datetime
    actor: str  # "bot:<worker>", "reviewer:<name>", "scheduler", "ingest", "purge"
    from_state: ItemState | None  # None for the row that created the item
    to_state: ItemState
    reason: str
    evidence: list[str]
    error_code: str | None = None
    event: str = "transition"


class WorkQueue(ABC):
    """The queue, whatever stores it. Every write is one transaction; see the module docstring."""

    clock: Clock

    def now(self) -> datetime:
        """The queue's clock, normalised to aware UTC."""
        t = self.clock()
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)

    @abstractmethod
    def enqueue(
        self,
        assessment: SelfAssessment,
        *,
        source: str,
        row: int | None = None,
        raw: dict[str, str] | None = None,
        actor: str = "ingest",
    ) -> EnqueueStatus:
        """Insert a validated self-assessment as ``pending``; never overwrite an existing one."""

    def enqueue_many(
        self, entries: Sequence[Enqueued], *, source: str, actor: str = "ingest"
    ) -> list[EnqueueStatus]:
        """:meth:`enqueue` for a chunk of rows, in one transaction; one status per entry.

        Same result as calling :meth:`enqueue` for each entry in order (a reference repeated in
        the chunk is a duplicate or a conflict of its first occurrence). Backends override it to
        write a chunk in a few statements instead of one round trip per row.
        """
        with self.transaction():
            return [
                self.enqueue(e.assessment, source=source, row=e.row, raw=e.raw, actor=actor)
                for e in entries
            ]

    @abstractmethod
    def quarantine(
        self,
        reference: str,
        *,
        source: str,
        row: int | None,
        reasons: list[str],
        raw: dict[str, str],
        actor: str = "ingest",
    ) -> EnqueueStatus:
        """Keep an invalid export row as ``invalid``, with the reasons, so nothing is lost."""

    @abstractmethod
    def lease(
        self,
        worker: str,
        n: int = 1,
        *,
        lease_seconds: float = 600,
        policy: RetryPolicy = DEFAULT_POLICY,
        references: Sequence[str] | None = None,
    ) -> list[WorkItem]:
        """Hand out up to ``n`` items, oldest first, to ``worker`` alone.

        Candidates: ``pending``; ``retry_wait`` whose ``not_before`` has passed; ``in_progress``
        whose lease expired (``recovered=True``: check the target before acting again). Each
        lease increments ``attempts``. A recovered item that already used all its attempts is
        not handed out again: it goes to ``failed`` (a worker kept dying on it).
        """

    @abstractmethod
    def get(self, reference: str) -> ItemView:
        """The item with this reference; KeyError if unknown."""

    @abstractmethod
    def items(self, states: Iterable[ItemState] | None = None) -> list[ItemView]:
        """Items (in the given states), oldest first."""

    @abstractmethod
    def history(self, reference: str) -> list[HistoryEntry]:
        """The item's history, oldest first; KeyError if unknown."""

    def histories(self) -> dict[str, list[HistoryEntry]]:
        """Every item's history by reference (the evaluation reads them all at once).

        Backends override this with one query; this default asks item by item.
        """
        return {v.reference: self.history(v.reference) for v in self.items()}

    @abstractmethod
    def ledger_rows(self) -> list[tuple[Any, ...]]:
        """Every item as the evaluation reads it: :data:`LEDGER_COLUMNS`, one query (LEDGER_SQL).

        Plain tuples, JSON left as text: a 100,000-item evaluation parses only what it needs
        instead of validating each assessment (``items()`` + ``histories()`` took ~20 s).
        """

    @abstractmethod
    def transition(
        self, reference: str, to: ItemState, *, actor: str, **changes: Unpack[TransitionChanges]
    ) -> ItemState:
        """Move one item to ``to`` in one transaction, with a history row; the state reached.

        The state reached is ``to``, except for a bot's ``in_progress → done`` while a
        conflicting version waits (it came in during the entry): the item goes to
        ``needs_review`` with code ``conflict`` so a person picks the version (issue 11).

        Raises IllegalTransition when the move is not in :data:`TRANSITIONS`, when the current
        state is not in ``expect_from``, or when ``owner`` is given and the item is in progress
        under another worker's lease. ``reason``, ``details`` and ``error_code`` describe the
        latest transition and replace the previous ones; ``result`` replaces the stored result
        when given; ``evidence`` is added in front of the item's evidence. ``assessment``
        replaces the payload (the fix of an invalid row); an item can only become ``pending``
        when it holds an assessment. Moving to ``in_progress`` here gives a 600 s lease to
        ``owner`` (or ``actor``) and counts an attempt, as :meth:`lease` does.
        """

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """``with queue.transaction():`` — the transitions inside commit together or not at all."""

    def apply_many(self, ops: Sequence[Callable[[WorkQueue], None]]) -> None:
        """All-or-nothing batch of operations (the review import is one transaction)."""
        with self.transaction():
            for op in ops:
                op(self)

    @abstractmethod
    def counts(self) -> dict[ItemState, int]:
        """Number of items per state, every state present (0 included)."""

    @abstractmethod
    def oldest_waiting(self) -> ItemView | None:
        """The oldest item in :data:`WAITING_STATES` (by enqueue time), or None."""

    @abstractmethod
    def outcomes_by_actor(self, since: datetime) -> dict[str, dict[ItemState, int]]:
        """Releases by the bot's workers since ``since``: actor → {state released to: count}.

        Counts the transitions out of ``in_progress`` (done, needs_review, retry_wait, failed)
        whose actor is a worker (``bot:<machine>:<pid>:<n>``): what each machine did, queue-wide.
        """

    @abstractmethod
    def release_unstarted(self, item: WorkItem, actor: str) -> None:
        """Give back a leased item that was never started: ``pending`` again, attempt not counted."""

    @abstractmethod
    def expire_leases(self, owners: Iterable[str], *, actor: str, reason: str) -> list[str]:
        """End now the leases of in-progress items held by ``owners`` (workers known dead).

        The items stay ``in_progress``; the next :meth:`lease` hands them out as recovered
        instead of waiting for the lease to run out. A history row (event ``expire``) says why.
        Returns the references whose lease was ended.
        """

    @abstractmethod
    def renew(self, reference: str, worker: str, *, lease_seconds: float) -> datetime | None:
        """Heartbeat: extend ``worker``'s lease on an in-progress item to ``now + lease_seconds``.

        Returns the new expiry, or None when the item is no longer ``worker``'s (released, or
        its lease ran out and another worker took it). Writes no history row: a renewal is not
        a transition, and a long item would otherwise fill its history with them.
        """

    @abstractmethod
    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock:
        """A lock every worker sharing this queue respects (``kind`` and ``key`` name it).

        A file-based queue hands out file locks (they hold for the processes of one machine,
        which is every worker of such a queue); a queue shared by several machines, the
        database's own locks. ``acquire`` raises :class:`bot.locks.LockTimeout` after
        ``timeout`` seconds.
        """

    @abstractmethod
    def purge(self, older_than: timedelta, *, actor: str = "purge") -> int:
        """Drop payloads of finished items last changed before ``now - older_than``.

        Drops the assessment, raw row, result and details, and deletes the evidence files;
        keeps the item row (reference, state, reason, counts) and every history row. Returns the
        number of items purged.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the storage (idempotent)."""

    def __enter__(self) -> WorkQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
