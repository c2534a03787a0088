"""The PostgreSQL backend of the work queue: several bot machines on one shared queue.

Same tables and same rules as the SQLite backend (:mod:`bot.workqueue._rules` decides, this
module stores). What changes is how writers meet:

- ``lease`` is one transaction: ``SELECT … ORDER BY created_at, id LIMIT n FOR UPDATE SKIP
  LOCKED`` then, per row, the ``UPDATE`` and its history ``INSERT``. Workers on every machine skip
  the rows another worker is taking instead of waiting for it, and never get the same item;
- ``transition`` locks the item's row (``SELECT … FOR UPDATE``) and writes the item and its
  history row in one transaction; ``transaction()`` is one database transaction (nested calls
  are savepoints), so the review import is all-or-nothing;
- ``enqueue_many`` writes a chunk of rows in three statements (``unnest`` arrays), not one round
  trip per row;
- ``lock`` is a PostgreSQL advisory lock, held on a connection of the calling thread: it holds
  across machines, and the server releases it by itself when the machine holding it dies.

The schema is created and migrated by the bot with plain versioned SQL (:data:`MIGRATIONS`, the
``schema_version`` table), under an advisory lock so two machines starting together do not both
migrate. Alembic would bring SQLAlchemy and a migration folder for a handful of tables; the
versioned list is enough until the schema needs branching histories.

Times come from the queue's injected clock (tests move it), stored as ``timestamptz``. JSON
payloads are text, as in SQLite, so both backends store the same bytes. One connection per queue
object; threads of one process share it under a lock.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Unpack

import psycopg
from psycopg.rows import dict_row, tuple_row

from bot.errors import ConfigurationError
from bot.locks import LockTimeout, QueueLock
from bot.logs import logger, mask
from bot.models import ItemState, SelfAssessment
from bot.workqueue._rules import (
    CONFLICT_CODE,
    GIVE_UP_REASON,
    PURGE_REASON,
    RowQueue,
    StoredConflict,
    check_transition,
    conflict_history_reason,
    conflict_reason,
    conflict_review_texts,
    conflict_to_review_now,
    delete_evidence,
    entry_parts,
    finish_or_review,
    history_entry_of,
    lease_reason,
    masked_enqueue_reasons,
    stored_json,
)
from bot.workqueue.contract import (
    DEFAULT_POLICY,
    FINISHED_STATES,
    LEDGER_SQL,
    WAITING_STATES,
    Clock,
    Enqueued,
    EnqueueStatus,
    HistoryEntry,
    ItemView,
    RetryPolicy,
    TransitionChanges,
    utcnow,
)
from bot.workqueue.item import WorkItem

__all__ = ["MIGRATIONS", "PostgresQueue"]

S = ItemState
Row = dict[str, Any]
#: Lease given by a direct ``transition(..., IN_PROGRESS)`` (``lease()`` takes its own).
DEFAULT_LEASE_SECONDS = 600.0
#: Advisory lock key taken while migrating (any constant no other lock hashes to in practice).
_MIGRATION_LOCK = 0x1C0BE_0001
#: How often a waiting :meth:`PostgresQueue.lock` tries again.
_LOCK_POLL_S = 0.05

_V1 = """
CREATE TABLE items (
    id              bigserial PRIMARY KEY,
    reference       text NOT NULL UNIQUE,
    state           text NOT NULL,
    content_hash    text NOT NULL,
    assessment_json text,           -- health data: purged once finished and old
    raw_json        text,           -- health data: purged once finished and old
    source          text,
    "row"           integer,
    attempts        integer NOT NULL DEFAULT 0,
    reason          text NOT NULL DEFAULT '',
    details         text NOT NULL DEFAULT '',  -- may name candidates: purged
    error_code      text,
    result_json     text,           -- alerts by source: purged
    evidence_json   text NOT NULL DEFAULT '[]',
    not_before      timestamptz,
    lease_owner     text,
    lease_expires   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    purged_at       timestamptz
);
CREATE INDEX items_by_state ON items (state, created_at, id);
-- What lease() scans, in its order: only the rows a worker may take, so a million done items
-- do not slow it down.
CREATE INDEX items_leasable ON items (created_at, id)
    WHERE assessment_json IS NOT NULL AND state IN ('pending', 'retry_wait', 'in_progress');
CREATE TABLE history (
    id            bigserial PRIMARY KEY,
    item_id       bigint NOT NULL REFERENCES items (id),
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    event         text NOT NULL,
    from_state    text,
    to_state      text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    error_code    text,
    evidence_json text NOT NULL DEFAULT '[]'
);
CREATE INDEX history_by_item ON history (item_id, id);
"""

#: A later, different version of an item waiting for a person (issue 11): health data, purged.
#: The partial index keeps "which items carry a conflict" (every lease asks) off the big table.
_V2 = """
ALTER TABLE items ADD COLUMN conflict_json text;
CREATE INDEX items_conflicting ON items (id) WHERE conflict_json IS NOT NULL;
"""

#: The schema's history: (version, SQL). Append only; a released migration is never edited.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1), (2, _V2))

#: An item with an undecided conflict is never taken: a person picks the version first.
_LEASABLE = """
SELECT * FROM items
WHERE assessment_json IS NOT NULL AND conflict_json IS NULL
  AND (state = 'pending'
       OR (state = 'retry_wait' AND (not_before IS NULL OR not_before <= %(now)s))
       OR (state = 'in_progress' AND lease_expires <= %(now)s))
  AND (%(any_ref)s OR reference = ANY(%(refs)s))
ORDER BY created_at, id
LIMIT %(n)s
FOR UPDATE SKIP LOCKED
"""


def _as_is(moment: datetime | None) -> datetime | None:
    return moment  # PostgreSQL gives timestamptz columns back as datetimes


def _lock_key(kind: str, key: Sequence[str]) -> int:
    """A signed 64-bit advisory lock key: a hash, so the key (a person's traits) is not shown."""
    digest = hashlib.sha256("\0".join((kind, *key)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _AdvisoryLock:
    """One advisory lock, taken on the calling thread's lock connection (see QueueLock)."""

    def __init__(self, queue: PostgresQueue, kind: str, key: int, timeout: float) -> None:
        self.queue = queue
        self.kind = kind
        self.key = key
        self.timeout = timeout
        self._held_on: list[psycopg.Connection[Row]] = []

    def acquire(self) -> _AdvisoryLock:
        conn = self.queue._lock_connection()
        deadline = time.monotonic() + self.timeout
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (self.key,)).fetchone()
            if row is not None and row["ok"]:
                self._held_on.append(conn)
                return self
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(f"verrou partagé « {self.kind} »")
            time.sleep(min(_LOCK_POLL_S, left))

    def release(self) -> None:
        if self._held_on:
            conn = self._held_on.pop()
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def __enter__(self) -> _AdvisoryLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        self.release()


class PostgresQueue(RowQueue):
    """The :class:`~bot.workqueue.WorkQueue` on a PostgreSQL database shared by several machines."""

    def __init__(self, url: str, *, clock: Clock = utcnow) -> None:
        self.url = url
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._local = threading.local()
        self._lock_conns: list[psycopg.Connection[Row]] = []
        try:
            self._conn = self._connect()
        except psycopg.OperationalError as e:
            raise ConfigurationError(
                "Base PostgreSQL de la file inaccessible : vérifiez ICOPE_BOT_QUEUE_URL "
                f"({type(e).__name__})."
            ) from e
        self._migrate()

    def _connect(self) -> psycopg.Connection[Row]:
        conn = psycopg.connect(
            self.url, autocommit=True, row_factory=dict_row, application_name="icope-bot"
        )
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _migrate(self) -> None:
        latest = MIGRATIONS[-1][0]
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute(
                "SELECT coalesce(max(version), 0) AS v FROM schema_version"
            ).fetchone()
            current = 0 if row is None else int(row["v"])
            if current > latest:
                raise ConfigurationError(
                    f"La file PostgreSQL est au schéma {current}, plus récent que ce robot "
                    f"({latest}) : mettez le robot à jour sur cette machine."
                )
            for version, sql in MIGRATIONS:
                if version > current:
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
                    logger.info("File PostgreSQL : schéma {} appliqué", version)

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Row]]:
        """One transaction; nested calls (same thread) become savepoints of the outer one."""
        with self._lock:
            if self._depth == 0 and (self._conn.broken or self._conn.closed):
                self._conn = self._connect()  # the server restarted between two operations
            self._depth += 1
            try:
                with self._conn.transaction():
                    yield self._conn
            finally:
                self._depth -= 1

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._tx():
            yield

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # --- rows ----------------------------------------------------------------------------

    def _row(self, reference: str, *, for_update: bool = False) -> Row:
        sql = "SELECT * FROM items WHERE reference = %s"
        rows = self._read(sql + " FOR UPDATE" if for_update else sql, (reference,))
        if not rows:
            raise KeyError(reference)
        return rows[0]

    @staticmethod
    def _view(r: Row) -> ItemView:
        return RowQueue.view_of(r, _as_is)

    def _history_row(
        self,
        conn: psycopg.Connection[Row],
        item_id: int,
        *,
        at: datetime,
        actor: str,
        event: str,
        from_state: ItemState | None,
        to_state: ItemState,
        reason: str,
        error_code: str | None = None,
        evidence: Sequence[str] = (),
    ) -> None:
        # History outlives the payload: the PII mask is the safety net for what a reason quotes.
        conn.execute(
            "INSERT INTO history (item_id, at, actor, event, from_state, to_state, reason,"
            " error_code, evidence_json) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                item_id,
                at,
                actor,
                event,
                None if from_state is None else from_state.value,
                to_state.value,
                mask(reason),
                error_code,
                stored_json(list(evidence)),
            ),
        )

    # --- enqueue ---------------------------------------------------------------------------

    def _insert(
        self,
        *,
        reference: str,
        state: ItemState,
        content_hash: str,
        assessment: SelfAssessment | None,
        raw: dict[str, str] | None,
        source: str,
        row: int | None,
        reason: str,
        details: str,
        history_reason: str,
        actor: str,
    ) -> EnqueueStatus:
        with self._tx() as conn:
            now = self.now()
            inserted = conn.execute(
                "INSERT INTO items (reference, state, content_hash, assessment_json, raw_json,"
                ' source, "row", reason, details, created_at, updated_at)'
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (reference) DO NOTHING RETURNING id",
                (
                    reference,
                    state.value,
                    content_hash,
                    None if assessment is None else assessment.model_dump_json(),
                    None if raw is None else stored_json(raw),
                    source,
                    row,
                    reason,
                    details,
                    now,
                    now,
                ),
            ).fetchone()
            if inserted is not None:
                self._history_row(
                    conn,
                    inserted["id"],
                    at=now,
                    actor=actor,
                    event="enqueue",
                    from_state=None,
                    to_state=state,
                    reason=history_reason,
                )
                return EnqueueStatus.NEW
            found = self._row(reference, for_update=True)
            if found["content_hash"] == content_hash:
                return EnqueueStatus.DUPLICATE
            current = ItemState(found["state"])
            if assessment is not None and current != S.INVALID:
                return self._conflict(conn, found, assessment, source, row, actor)
            self._history_row(
                conn,
                found["id"],
                at=now,
                actor=actor,
                event="conflict",
                from_state=current,
                to_state=current,
                reason=conflict_reason(source, row),
                error_code="reference_conflict",
            )
            return EnqueueStatus.CONFLICT

    def _conflict(
        self,
        conn: psycopg.Connection[Row],
        r: Row,
        new: SelfAssessment,
        source: str,
        row: int | None,
        actor: str,
    ) -> EnqueueStatus:
        """A known reference came back with other content: a person chooses, nothing is entered.

        Same behaviour as the SQLite backend (see :mod:`bot.workqueue._rules`): the new version
        is kept in ``conflict_json``; a finished item only gets a history row. The caller holds
        the transaction and the row lock.
        """
        state = ItemState(r["state"])
        stored = r["conflict_json"]
        if stored is not None and StoredConflict.model_validate_json(stored).content_hash == (
            new.content_hash()
        ):
            return EnqueueStatus.DUPLICATE  # the same new version, ingested again
        finished = state in FINISHED_STATES
        self._history_row(
            conn,
            r["id"],
            at=self.now(),
            actor=actor,
            event="conflict",
            from_state=state,
            to_state=state,
            reason=conflict_history_reason(source, row, state),
            error_code="reference_conflict" if finished else CONFLICT_CODE,
        )
        if finished:
            return EnqueueStatus.CONFLICT
        conflict = StoredConflict.of(new, source, row, state)
        stored = conflict.model_dump_json()
        conn.execute("UPDATE items SET conflict_json = %s WHERE id = %s", (stored, r["id"]))
        if conflict_to_review_now(state):
            self._to_review(conn, {**r, "conflict_json": stored}, actor, conflict.where)
        return EnqueueStatus.CONFLICT

    def _to_review(self, conn: psycopg.Connection[Row], r: Row, actor: str, where: str) -> None:
        """Send an item with a stored conflict to a person (its state allowing it)."""
        reason, details = conflict_review_texts(where, r["reason"], r["details"])
        if ItemState(r["state"]) in (S.NEEDS_REVIEW, S.FAILED):
            # Already with a person: the conflict becomes the reason, the rest stays.
            conn.execute(
                "UPDATE items SET reason = %s, details = %s, error_code = %s, updated_at = %s"
                " WHERE id = %s",
                (reason, details, CONFLICT_CODE, self.now(), r["id"]),
            )
            return
        self._apply(
            conn,
            r,
            S.NEEDS_REVIEW,
            actor=actor,
            reason=reason,
            details=details,
            error_code=CONFLICT_CODE,
        )

    def _conflicts_to_review(self, conn: psycopg.Connection[Row], actor: str) -> None:
        """Items given back while a conflict was ingested (they were being entered): to review.

        Rows another machine holds are skipped: it is sending them or leasing around them.
        """
        rows = conn.execute(
            "SELECT * FROM items WHERE conflict_json IS NOT NULL"
            " AND state IN ('pending', 'retry_wait') ORDER BY id FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for r in rows:
            where = StoredConflict.model_validate_json(r["conflict_json"]).where
            self._to_review(conn, r, actor, where)

    def enqueue_many(
        self, entries: Sequence[Enqueued], *, source: str, actor: str = "ingest"
    ) -> list[EnqueueStatus]:
        """Three statements per chunk: read the known references, insert the new items from
        ``unnest`` arrays, insert their history rows the same way. A changed known reference
        (rare) goes through :meth:`enqueue`, one by one in the same transaction."""
        statuses: list[EnqueueStatus | None] = []
        with self._tx() as conn:
            parts = [entry_parts(e) for e in entries]
            refs = [ref for ref, _, _ in parts]
            known: dict[str, str] = {
                r["reference"]: r["content_hash"]
                for r in conn.execute(
                    "SELECT reference, content_hash FROM items WHERE reference = ANY(%s)", (refs,)
                )
            }
            now = self.now()
            # reference → (position, entry, hash, payload)
            new: dict[str, tuple[int, Enqueued, str, str]] = {}
            conflicts: list[tuple[int, Enqueued]] = []
            for i, (e, (ref, digest, payload)) in enumerate(zip(entries, parts, strict=True)):
                if ref in known:
                    if known[ref] == digest:
                        statuses.append(EnqueueStatus.DUPLICATE)
                    else:
                        statuses.append(None)  # CONFLICT or DUPLICATE: decided below
                        conflicts.append((i, e))
                    continue
                known[ref] = digest
                new[ref] = (i, e, digest, payload)
                statuses.append(None)  # NEW unless another machine inserted it meanwhile
            news = [e for _, e, _, _ in new.values()]
            rows = conn.execute(
                "INSERT INTO items (reference, state, content_hash, assessment_json, raw_json,"
                ' source, "row", created_at, updated_at)'
                " SELECT t.ref, 'pending', t.hash, t.payload, t.raw, %s, t.n, %s, %s"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int[])"
                " WITH ORDINALITY AS t(ref, hash, payload, raw, n, ord) ORDER BY t.ord"
                " ON CONFLICT (reference) DO NOTHING RETURNING reference",
                (
                    source,
                    now,
                    now,
                    list(new),
                    [h for _, _, h, _ in new.values()],
                    [p for _, _, _, p in new.values()],
                    [None if e.raw is None else stored_json(e.raw) for e in news],
                    [e.row for e in news],
                ),
            ).fetchall()
            inserted = {r["reference"] for r in rows}
            events: list[tuple[str, int | None]] = []  # reference, row
            late: list[tuple[int, Enqueued]] = []
            for ref, (i, e, _, _) in new.items():
                if ref in inserted:
                    statuses[i] = EnqueueStatus.NEW
                    events.append((ref, e.row))
                else:
                    late.append((i, e))
            if events:
                conn.execute(
                    "INSERT INTO history (item_id, at, actor, event, from_state, to_state, reason)"
                    " SELECT i.id, %s, %s, 'enqueue', NULL, i.state, t.reason"
                    " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(ref, reason, ord)"
                    " JOIN items i ON i.reference = t.ref ORDER BY t.ord",
                    (
                        now,
                        actor,
                        [r for r, _ in events],
                        masked_enqueue_reasons(source, (row for _, row in events)),
                    ),
                )
            # One by one (rare), after the new items so a conflict within the chunk finds its
            # item: rows another machine inserted between our read and our insert, then changed
            # known references, which go through enqueue's conflict handling (to a person).
            for i, e in late + conflicts:
                statuses[i] = self.enqueue(
                    e.assessment, source=source, row=e.row, raw=e.raw, actor=actor
                )
        done: list[EnqueueStatus] = []
        for status in statuses:
            assert status is not None  # every position was decided above
            done.append(status)
        return done

    # --- transitions -------------------------------------------------------------------------

    def _apply(
        self,
        conn: psycopg.Connection[Row],
        r: Row,
        to: ItemState,
        *,
        actor: str,
        reason: str = "",
        details: str = "",
        expect_from: Iterable[ItemState] | None = None,
        assessment: SelfAssessment | None = None,
        error_code: str | None = None,
        evidence: Sequence[str] = (),
        result: dict[str, Any] | None = None,
        not_before: datetime | None = None,
        reset_attempts: bool = False,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        attempts_delta: int | None = None,
    ) -> None:
        """Check and write one transition; the caller holds the transaction and the row lock."""
        ref, current = r["reference"], ItemState(r["state"])
        to = ItemState(to)
        payload = r["assessment_json"] if assessment is None else assessment.model_dump_json()
        content_hash = r["content_hash"] if assessment is None else assessment.content_hash()
        check_transition(
            ref,
            current,
            to,
            expect_from=expect_from,
            owner=owner,
            lease_owner=r["lease_owner"],
            assessment=assessment,
            has_payload=payload is not None,
        )
        now = self.now()
        if attempts_delta is None:
            attempts_delta = 1 if to == S.IN_PROGRESS else 0
        attempts = 0 if reset_attempts else max(r["attempts"] + attempts_delta, 0)
        lease_owner: str | None = None
        lease_expires: datetime | None = None
        if to == S.IN_PROGRESS:
            lease_owner = owner or actor
            lease_expires = now + timedelta(seconds=lease_seconds)
        wait_until = (not_before or now) if to == S.RETRY_WAIT else None
        fresh = [str(p) for p in evidence]
        all_evidence = list(reversed(fresh)) + json.loads(r["evidence_json"])
        # Leaving review (a person's decision) settles a conflict: the version kept is the
        # payload written here (the old one, or the new one given by ``assessment``).
        conflict = None if current in (S.NEEDS_REVIEW, S.FAILED) else r["conflict_json"]
        conn.execute(
            "UPDATE items SET state = %s, assessment_json = %s, content_hash = %s, attempts = %s,"
            " reason = %s, details = %s, error_code = %s, result_json = %s, evidence_json = %s,"
            " not_before = %s, lease_owner = %s, lease_expires = %s, updated_at = %s,"
            " conflict_json = %s WHERE id = %s",
            (
                to.value,
                payload,
                content_hash,
                attempts,
                reason,
                details,
                error_code,
                r["result_json"] if result is None else stored_json(result),
                stored_json(all_evidence),
                wait_until,
                lease_owner,
                lease_expires,
                now,
                conflict,
                r["id"],
            ),
        )
        self._history_row(
            conn,
            r["id"],
            at=now,
            actor=actor,
            event="transition",
            from_state=current,
            to_state=to,
            reason=reason,
            error_code=error_code,
            evidence=fresh,
        )

    def transition(
        self, reference: str, to: ItemState, *, actor: str, **changes: Unpack[TransitionChanges]
    ) -> ItemState:
        """See :meth:`WorkQueue.transition`: same keywords, one transaction."""
        with self._tx() as conn:
            r = self._row(reference, for_update=True)
            to, changes = finish_or_review(ItemState(r["state"]), to, r["conflict_json"], changes)
            self._apply(conn, r, to, actor=actor, **changes)
        return to

    def release_unstarted(self, item: WorkItem, actor: str) -> None:
        with self._tx() as conn:
            self._apply(
                conn,
                self._row(item.reference, for_update=True),
                S.PENDING,
                actor=actor,
                reason="Rendu sans avoir été commencé",
                expect_from=[S.IN_PROGRESS],
                owner=item.worker,
                attempts_delta=-1,
            )
        item.outcome = S.PENDING

    # --- lease -----------------------------------------------------------------------------

    def lease(
        self,
        worker: str,
        n: int = 1,
        *,
        lease_seconds: float = 600,
        policy: RetryPolicy = DEFAULT_POLICY,
        references: Sequence[str] | None = None,
    ) -> list[WorkItem]:
        actor = f"bot:{worker}"
        leased: list[WorkItem] = []
        with self._tx() as conn:
            self._conflicts_to_review(conn, actor)
            now = self.now()
            while len(leased) < n:
                rows = conn.execute(
                    _LEASABLE,
                    {
                        "now": now,
                        "n": n - len(leased),
                        "any_ref": references is None,
                        "refs": list(references or []),
                    },
                ).fetchall()
                if not rows:
                    break
                for r in rows:
                    recovered = r["state"] == S.IN_PROGRESS
                    if recovered and r["attempts"] >= policy.max_attempts:
                        # A worker died on every attempt: stop feeding it to workers.
                        self._apply(
                            conn,
                            r,
                            S.FAILED,
                            actor=actor,
                            reason=GIVE_UP_REASON,
                            details=f"Abandon après {r['attempts']} tentative(s) interrompue(s).",
                            error_code="lease_expired",
                        )
                        logger.warning("Élément {} abandonné : baux expirés", r["reference"])
                        continue
                    self._apply(
                        conn,
                        r,
                        S.IN_PROGRESS,
                        actor=actor,
                        reason=lease_reason(ItemState(r["state"]), r["attempts"], r["lease_owner"]),
                        owner=worker,
                        lease_seconds=lease_seconds,
                    )
                    leased.append(
                        WorkItem(
                            self,
                            reference=r["reference"],
                            assessment=SelfAssessment.model_validate_json(r["assessment_json"]),
                            attempt=r["attempts"] + 1,
                            recovered=recovered,
                            worker=worker,
                            policy=policy,
                            lease_expires=now + timedelta(seconds=lease_seconds),
                        )
                    )
        for item in leased:
            logger.debug(
                "Élément {} réservé par {} (tentative {}{})",
                item.reference,
                worker,
                item.attempt,
                ", reprise" if item.recovered else "",
            )
        return leased

    def renew(self, reference: str, worker: str, *, lease_seconds: float) -> datetime | None:
        with self._tx() as conn:
            until = self.now() + timedelta(seconds=lease_seconds)
            row = conn.execute(
                "UPDATE items SET lease_expires = %s WHERE reference = %s"
                " AND state = 'in_progress' AND lease_owner = %s RETURNING id",
                (until, reference, worker),
            ).fetchone()
        return until if row is not None else None

    def expire_leases(self, owners: Iterable[str], *, actor: str, reason: str) -> list[str]:
        with self._tx() as conn:
            now = self.now()
            rows = conn.execute(
                "UPDATE items SET lease_expires = %(now)s, updated_at = %(now)s"
                " WHERE id IN (SELECT id FROM items WHERE state = 'in_progress'"
                " AND lease_owner = ANY(%(owners)s) AND lease_expires > %(now)s FOR UPDATE)"
                " RETURNING id, reference, created_at",
                {"now": now, "owners": sorted(set(owners))},
            ).fetchall()
            rows.sort(key=lambda r: (r["created_at"], r["id"]))
            for r in rows:
                self._history_row(
                    conn,
                    r["id"],
                    at=now,
                    actor=actor,
                    event="expire",
                    from_state=S.IN_PROGRESS,
                    to_state=S.IN_PROGRESS,
                    reason=reason,
                )
        return [r["reference"] for r in rows]

    # --- shared locks -------------------------------------------------------------------------

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock:
        """An advisory lock: held across every machine on this database (see module doc)."""
        return _AdvisoryLock(self, kind, _lock_key(kind, key), timeout)

    def _lock_connection(self) -> psycopg.Connection[Row]:
        """This thread's connection for advisory locks.

        Advisory locks belong to a session and are re-entrant within it: two threads sharing the
        queue's connection would both "hold" the lock. Each thread gets its own.
        """
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._lock_conns.append(conn)
        return conn

    # --- reading ------------------------------------------------------------------------------

    def get(self, reference: str) -> ItemView:
        return self._view(self._row(reference))

    def items(self, states: Iterable[ItemState] | None = None) -> list[ItemView]:
        if states is None:
            rows = self._read("SELECT * FROM items ORDER BY created_at, id")
        else:
            wanted = [ItemState(s).value for s in states]
            rows = self._read(
                "SELECT * FROM items WHERE state = ANY(%s) ORDER BY created_at, id", (wanted,)
            )
        return [self._view(r) for r in rows]

    def history(self, reference: str) -> list[HistoryEntry]:
        item_id = self._row(reference)["id"]
        rows = self._read("SELECT * FROM history WHERE item_id = %s ORDER BY id", (item_id,))
        return [history_entry_of(h, _as_is) for h in rows]

    def ledger_rows(self) -> list[tuple[Any, ...]]:
        with self._lock, self._conn.cursor(row_factory=tuple_row) as cursor:
            return cursor.execute(LEDGER_SQL).fetchall()

    def counts(self) -> dict[ItemState, int]:
        rows = self._read("SELECT state, count(*) AS n FROM items GROUP BY state")
        found: dict[str, int] = {r["state"]: r["n"] for r in rows}
        return {s: found.get(s.value, 0) for s in ItemState}

    def outcomes_by_actor(self, since: datetime) -> dict[str, dict[ItemState, int]]:
        rows = self._read(
            "SELECT actor, to_state, count(*) AS n FROM history WHERE event = 'transition'"
            " AND from_state = 'in_progress' AND to_state <> 'in_progress'"
            " AND actor LIKE 'bot:%%' AND at >= %s GROUP BY actor, to_state",
            (since,),
        )
        out: dict[str, dict[ItemState, int]] = {}
        for r in rows:
            out.setdefault(r["actor"], {})[ItemState(r["to_state"])] = r["n"]
        return out

    def oldest_waiting(self) -> ItemView | None:
        rows = self._read(
            "SELECT * FROM items WHERE state = ANY(%s) ORDER BY created_at, id LIMIT 1",
            (sorted(s.value for s in WAITING_STATES),),
        )
        return self._view(rows[0]) if rows else None

    # --- retention ------------------------------------------------------------------------------

    def purge(self, older_than: timedelta, *, actor: str = "purge") -> int:
        evidence: list[str] = []
        with self._tx() as conn:
            now = self.now()
            rows = conn.execute(
                "UPDATE items SET assessment_json = NULL, raw_json = NULL, result_json = NULL,"
                " conflict_json = NULL, details = '', purged_at = %(now)s"
                " WHERE purged_at IS NULL AND state = ANY(%(finished)s) AND updated_at <= %(cut)s"
                " RETURNING id, state, evidence_json",
                {
                    "now": now,
                    "finished": sorted(s.value for s in FINISHED_STATES),
                    "cut": now - older_than,
                },
            ).fetchall()
            for r in sorted(rows, key=lambda r: r["id"]):
                state = ItemState(r["state"])
                self._history_row(
                    conn,
                    r["id"],
                    at=now,
                    actor=actor,
                    event="purge",
                    from_state=state,
                    to_state=state,
                    reason=PURGE_REASON,
                )
                evidence.extend(json.loads(r["evidence_json"]))
        # Screenshots show the filled form: they go with the payload, after the commit. Each
        # machine deletes what it can reach (the shared evidence folder: docs/scaling.md).
        delete_evidence(evidence)
        if rows:
            logger.info("Purge : {} élément(s) terminés effacés", len(rows))
        return len(rows)

    def close(self) -> None:
        with self._lock:
            for conn in [self._conn, *self._lock_conns]:
                if not conn.closed:
                    conn.close()
            self._lock_conns.clear()
