"""The SQLite backend of the work queue: one file, WAL, several worker processes on one machine.

Every write runs in ``BEGIN IMMEDIATE``: the writer takes SQLite's single write lock before it
reads what it is going to change, so two processes can never lease the same item, and a waiting
writer queues on ``busy_timeout`` instead of failing. Readers never block (WAL). The file is
created 0600 before SQLite opens it (SQLite then gives the ``-wal``/``-shm`` files the same mode),
in a 0700 folder. One connection per process; threads of one process share it under a lock.
Times are stored as fixed-width ISO-8601 UTC text, so SQL compares them as strings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Unpack

from bot.evidence import private_dir, private_file
from bot.locks import QueueLock, lock_folder, machine_lock
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

__all__ = ["CONFLICT_CODE", "SQLiteQueue"]

S = ItemState
SCHEMA_VERSION = 2  # 2: items.conflict_json
BUSY_TIMEOUT_S = 30.0
#: Lease given by a direct ``transition(..., IN_PROGRESS)`` (``lease()`` takes its own).
DEFAULT_LEASE_SECONDS = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id              INTEGER PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    assessment_json TEXT,           -- health data: purged once finished and old
    raw_json        TEXT,           -- health data: purged once finished and old
    source          TEXT,
    row             INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    details         TEXT NOT NULL DEFAULT '',  -- may name candidates: purged
    error_code      TEXT,
    result_json     TEXT,           -- alerts by source: purged
    conflict_json   TEXT,           -- a later, different version waiting for a person: purged
    evidence_json   TEXT NOT NULL DEFAULT '[]',
    not_before      TEXT,
    lease_owner     TEXT,
    lease_expires   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    purged_at       TEXT
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (state, created_at, id);
CREATE TABLE IF NOT EXISTS history (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES items (id),
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    event         TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    error_code    TEXT,
    evidence_json TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS history_by_item ON history (item_id, id);
"""

#: Items a worker may take, oldest first: pending, retry_wait due, in_progress with lease expired.
#: An item with an undecided conflict is never taken: a person picks the version first.
_LEASABLE = """
SELECT * FROM items
WHERE assessment_json IS NOT NULL AND conflict_json IS NULL
  AND (state = 'pending'
       OR (state = 'retry_wait' AND (not_before IS NULL OR not_before <= :now))
       OR (state = 'in_progress' AND lease_expires <= :now))
  AND (:any_ref OR reference IN (SELECT value FROM json_each(:refs)))
ORDER BY created_at, id
LIMIT :n
"""


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


class SQLiteQueue(RowQueue):
    """The :class:`~bot.workqueue.WorkQueue` on one SQLite file."""

    def __init__(self, path: Path, *, clock: Clock = utcnow) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        private_dir(path.parent)
        private_file(path, create=True)  # 0600 before SQLite opens it
        self._conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed transition survives a power cut, not only a process crash.
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        # Erased health data must be gone from the file's bytes, not only from its rows: freed
        # space is zeroed (purge, a payload replaced by a correction).
        self._conn.execute("PRAGMA secure_delete = ON")
        with self._write():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                # executescript() would COMMIT first: run the statements one by one.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
            elif version == 1:
                self._conn.execute("ALTER TABLE items ADD COLUMN conflict_json TEXT")
            if version < SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.chmod(0o600)

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested calls become savepoints of the outer one."""
        with self._lock:
            depth = self._depth
            self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._depth += 1
            try:
                yield self._conn
                self._conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            except BaseException:
                # Also when COMMIT itself failed (disk full): never leave a transaction open.
                if depth == 0:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO sp{depth}")
                    self._conn.execute(f"RELEASE sp{depth}")
                raise
            finally:
                self._depth -= 1

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._write():
            yield

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # --- rows ----------------------------------------------------------------------------

    def _row(self, reference: str) -> sqlite3.Row:
        rows = self._read("SELECT * FROM items WHERE reference = ?", (reference,))
        if not rows:
            raise KeyError(reference)
        return rows[0]

    @staticmethod
    def _view(r: sqlite3.Row) -> ItemView:
        return RowQueue.view_of(r, _dt)

    def _history_row(
        self,
        item_id: int,
        *,
        at: str,
        actor: str,
        event: str,
        from_state: ItemState | None,
        to_state: ItemState,
        reason: str,
        error_code: str | None = None,
        evidence: Sequence[str] = (),
    ) -> None:
        # History outlives the payload: the PII mask is the safety net for what a reason quotes.
        self._conn.execute(
            "INSERT INTO history (item_id, at, actor, event, from_state, to_state, reason,"
            " error_code, evidence_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                at,
                actor,
                event,
                from_state,
                to_state,
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
        with self._write() as db:
            found = db.execute(
                "SELECT id, state, content_hash FROM items WHERE reference = ?", (reference,)
            ).fetchone()
            now = _ts(self.now())
            if found is not None:
                if found["content_hash"] == content_hash:
                    return EnqueueStatus.DUPLICATE
                if assessment is not None and ItemState(found["state"]) != S.INVALID:
                    return self._conflict(found["id"], assessment, source, row, actor)
                self._history_row(
                    found["id"],
                    at=now,
                    actor=actor,
                    event="conflict",
                    from_state=ItemState(found["state"]),
                    to_state=ItemState(found["state"]),
                    reason=conflict_reason(source, row),
                    error_code="reference_conflict",
                )
                return EnqueueStatus.CONFLICT
            cur = db.execute(
                "INSERT INTO items (reference, state, content_hash, assessment_json, raw_json,"
                " source, row, reason, details, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reference,
                    state,
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
            )
            assert cur.lastrowid is not None
            self._history_row(
                cur.lastrowid,
                at=now,
                actor=actor,
                event="enqueue",
                from_state=None,
                to_state=state,
                reason=history_reason,
            )
            return EnqueueStatus.NEW

    def _conflict(
        self, item_id: int, new: SelfAssessment, source: str, row: int | None, actor: str
    ) -> EnqueueStatus:
        """A known reference came back with other content: a person chooses, nothing is entered.

        The new version is kept beside the old one (``conflict_json``); where the item goes is
        decided by :func:`bot.workqueue._rules.conflict_to_review_now`. A finished item already
        holds what was entered: the conflict is recorded in its history for the record only.
        The caller holds the write transaction.
        """
        r = self._conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        state = ItemState(r["state"])
        stored = r["conflict_json"]
        if stored is not None and StoredConflict.model_validate_json(stored).content_hash == (
            new.content_hash()
        ):
            return EnqueueStatus.DUPLICATE  # the same new version, ingested again
        finished = state in FINISHED_STATES
        self._history_row(
            item_id,
            at=_ts(self.now()),
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
        self._conn.execute(
            "UPDATE items SET conflict_json = ? WHERE id = ?",
            (conflict.model_dump_json(), item_id),
        )
        if conflict_to_review_now(state):
            self._to_review(
                self._conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone(),
                actor,
                conflict.where,
            )
        return EnqueueStatus.CONFLICT

    def _to_review(self, r: sqlite3.Row, actor: str, where: str) -> None:
        """Send an item with a stored conflict to a person (its state allowing it)."""
        reason, details = conflict_review_texts(where, r["reason"], r["details"])
        state = ItemState(r["state"])
        if state in (S.NEEDS_REVIEW, S.FAILED):
            # Already with a person: the conflict becomes the reason, the rest stays.
            now = _ts(self.now())
            self._conn.execute(
                "UPDATE items SET reason = ?, details = ?, error_code = ?, updated_at = ?"
                " WHERE id = ?",
                (reason, details, CONFLICT_CODE, now, r["id"]),
            )
            return
        self._apply(
            r, S.NEEDS_REVIEW, actor=actor, reason=reason, details=details, error_code=CONFLICT_CODE
        )

    def _conflicts_to_review(self, actor: str) -> None:
        """Items given back while a conflict was ingested (they were being entered): to review."""
        rows = self._conn.execute(
            "SELECT * FROM items WHERE conflict_json IS NOT NULL"
            " AND state IN ('pending', 'retry_wait')"
        ).fetchall()
        for r in rows:
            where = StoredConflict.model_validate_json(r["conflict_json"]).where
            self._to_review(r, actor, where)

    def enqueue_many(
        self, entries: Sequence[Enqueued], *, source: str, actor: str = "ingest"
    ) -> list[EnqueueStatus]:
        """One ``executemany`` for the chunk's new items and one for their history rows.

        A changed known reference (rare) goes through :meth:`enqueue` one by one, in the same
        transaction, so a conflict is handled exactly as a single import handles it.
        """
        statuses: list[EnqueueStatus] = []
        with self._write() as db:
            # 64 MB of page cache instead of 2: the reference index of a million items stays
            # in memory between chunks (writing 1M rows: 53 → 45 s CPU, half the system time).
            db.execute("PRAGMA cache_size = -65536")
            parts = [entry_parts(e) for e in entries]
            refs = [ref for ref, _, _ in parts]
            known: dict[str, str] = {
                r["reference"]: r["content_hash"]
                for r in db.execute(
                    "SELECT reference, content_hash FROM items"
                    " WHERE reference IN (SELECT value FROM json_each(?))",
                    (stored_json(refs),),
                )
            }
            now = _ts(self.now())
            new: list[tuple[Any, ...]] = []
            events: list[tuple[str, int | None]] = []  # reference, row
            conflicts: list[tuple[int, Enqueued]] = []  # position, entry
            for i, (e, (ref, digest, payload)) in enumerate(zip(entries, parts, strict=True)):
                if ref in known:
                    if known[ref] == digest:
                        statuses.append(EnqueueStatus.DUPLICATE)
                    else:
                        statuses.append(EnqueueStatus.CONFLICT)  # decided below
                        conflicts.append((i, e))
                    continue
                known[ref] = digest
                statuses.append(EnqueueStatus.NEW)
                raw = None if e.raw is None else stored_json(e.raw)
                new.append((ref, S.PENDING, digest, payload, raw, source, e.row, now))
                events.append((ref, e.row))
            if new:
                db.executemany(
                    "INSERT INTO items (reference, state, content_hash, assessment_json, raw_json,"
                    " source, row, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?8)",
                    new,
                )
                ids = {
                    r["reference"]: r["id"]
                    for r in db.execute(
                        "SELECT id, reference FROM items"
                        " WHERE reference IN (SELECT value FROM json_each(?))",
                        (stored_json([ref for ref, _ in events]),),
                    )
                }
                db.executemany(
                    "INSERT INTO history (item_id, at, actor, event, from_state, to_state, reason,"
                    " error_code, evidence_json)"
                    " VALUES (?, ?, ?, 'enqueue', NULL, ?, ?, NULL, '[]')",
                    [
                        (ids[ref], now, actor, S.PENDING, why)
                        for (ref, _), why in zip(
                            events,
                            masked_enqueue_reasons(source, (row for _, row in events)),
                            strict=True,
                        )
                    ],
                )
            # After the new items: a conflict within the chunk finds its item created.
            for i, e in conflicts:
                statuses[i] = self.enqueue(
                    e.assessment, source=source, row=e.row, raw=e.raw, actor=actor
                )
        return statuses

    # --- transitions -------------------------------------------------------------------------

    def _apply(
        self,
        r: sqlite3.Row,
        to: ItemState,
        *,
        actor: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        attempts_delta: int | None = None,
        **changes: Unpack[TransitionChanges],
    ) -> None:
        """Check and write one transition; the caller holds the write transaction."""
        reason, details = changes.get("reason", ""), changes.get("details", "")
        expect_from, owner = changes.get("expect_from"), changes.get("owner")
        assessment, error_code = changes.get("assessment"), changes.get("error_code")
        result, not_before = changes.get("result"), changes.get("not_before")
        evidence = changes.get("evidence", ())
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
        attempts = 0 if changes.get("reset_attempts") else max(r["attempts"] + attempts_delta, 0)
        if to == S.IN_PROGRESS:
            lease_owner: str | None = owner or actor
            lease_expires: str | None = _ts(now + timedelta(seconds=lease_seconds))
        else:
            lease_owner = lease_expires = None
        wait_until = (not_before or now) if to == S.RETRY_WAIT else None
        fresh = [str(p) for p in evidence]
        all_evidence = list(reversed(fresh)) + json.loads(r["evidence_json"])
        # Leaving review (a person's decision) settles a conflict: the version kept is the
        # payload written here (the old one, or the new one given by ``assessment``).
        conflict = None if current in (S.NEEDS_REVIEW, S.FAILED) else r["conflict_json"]
        self._conn.execute(
            "UPDATE items SET state = ?, assessment_json = ?, content_hash = ?, attempts = ?,"
            " reason = ?, details = ?, error_code = ?, result_json = ?, evidence_json = ?,"
            " not_before = ?, lease_owner = ?, lease_expires = ?, updated_at = ?,"
            " conflict_json = ? WHERE id = ?",
            (
                to,
                payload,
                content_hash,
                attempts,
                reason,
                details,
                error_code,
                r["result_json"] if result is None else stored_json(result),
                stored_json(all_evidence),
                None if wait_until is None else _ts(wait_until),
                lease_owner,
                lease_expires,
                _ts(now),
                conflict,
                r["id"],
            ),
        )
        self._history_row(
            r["id"],
            at=_ts(now),
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
        with self._write():
            r = self._row(reference)
            to, changes = finish_or_review(ItemState(r["state"]), to, r["conflict_json"], changes)
            self._apply(r, to, actor=actor, **changes)
        return to

    def release_unstarted(self, item: WorkItem, actor: str) -> None:
        with self._write():
            self._apply(
                self._row(item.reference),
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
        with self._write() as db:
            self._conflicts_to_review(actor)
            now = self.now()
            while len(leased) < n:
                rows = db.execute(
                    _LEASABLE,
                    {
                        "now": _ts(now),
                        "n": n - len(leased),
                        "any_ref": references is None,
                        "refs": stored_json(list(references or [])),
                    },
                ).fetchall()
                if not rows:
                    break
                for r in rows:
                    recovered = r["state"] == S.IN_PROGRESS
                    if recovered and r["attempts"] >= policy.max_attempts:
                        # A worker died on every attempt: stop feeding it to workers.
                        self._apply(
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

    def lock(self, kind: str, *key: str, timeout: float) -> QueueLock:
        # File locks beside the queue file: every worker of this queue is on this machine.
        return machine_lock(kind, *key, folder=lock_folder(self.path), timeout=timeout)

    def renew(self, reference: str, worker: str, *, lease_seconds: float) -> datetime | None:
        with self._write() as db:
            until = self.now() + timedelta(seconds=lease_seconds)
            cur = db.execute(
                "UPDATE items SET lease_expires = ? WHERE reference = ?"
                " AND state = 'in_progress' AND lease_owner = ?",
                (_ts(until), reference, worker),
            )
        return until if cur.rowcount else None

    def expire_leases(self, owners: Iterable[str], *, actor: str, reason: str) -> list[str]:
        wanted = stored_json(sorted(set(owners)))
        with self._write() as db:
            now = _ts(self.now())
            rows = db.execute(
                "SELECT id, reference FROM items WHERE state = 'in_progress'"
                " AND lease_owner IN (SELECT value FROM json_each(?)) AND lease_expires > ?"
                " ORDER BY created_at, id",
                (wanted, now),
            ).fetchall()
            for r in rows:
                db.execute(
                    "UPDATE items SET lease_expires = ?, updated_at = ? WHERE id = ?",
                    (now, now, r["id"]),
                )
                self._history_row(
                    r["id"],
                    at=now,
                    actor=actor,
                    event="expire",
                    from_state=S.IN_PROGRESS,
                    to_state=S.IN_PROGRESS,
                    reason=reason,
                )
        return [r["reference"] for r in rows]

    # --- reading ------------------------------------------------------------------------------

    def get(self, reference: str) -> ItemView:
        return self._view(self._row(reference))

    def items(self, states: Iterable[ItemState] | None = None) -> list[ItemView]:
        if states is None:
            rows = self._read("SELECT * FROM items ORDER BY created_at, id")
        else:
            wanted = stored_json([ItemState(s).value for s in states])
            rows = self._read(
                "SELECT * FROM items WHERE state IN (SELECT value FROM json_each(?))"
                " ORDER BY created_at, id",
                (wanted,),
            )
        return [self._view(r) for r in rows]

    def history(self, reference: str) -> list[HistoryEntry]:
        item_id = self._row(reference)["id"]
        rows = self._read("SELECT * FROM history WHERE item_id = ? ORDER BY id", (item_id,))
        return [history_entry_of(h, _dt) for h in rows]

    def histories(self) -> dict[str, list[HistoryEntry]]:
        rows = self._read(
            "SELECT i.reference, h.* FROM history h JOIN items i ON i.id = h.item_id"
            " ORDER BY h.item_id, h.id"
        )
        out: dict[str, list[HistoryEntry]] = {}
        for h in rows:
            out.setdefault(h["reference"], []).append(history_entry_of(h, _dt))
        return out

    def ledger_rows(self) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = None  # plain tuples: no sqlite3.Row per item
            return cursor.execute(LEDGER_SQL).fetchall()

    def counts(self) -> dict[ItemState, int]:
        rows = self._read("SELECT state, COUNT(*) FROM items GROUP BY state")
        found: dict[str, int] = {state: n for state, n in rows}
        return {s: found.get(s.value, 0) for s in ItemState}

    def outcomes_by_actor(self, since: datetime) -> dict[str, dict[ItemState, int]]:
        rows = self._read(
            "SELECT actor, to_state, COUNT(*) FROM history WHERE event = 'transition'"
            " AND from_state = 'in_progress' AND to_state != 'in_progress'"
            " AND actor LIKE 'bot:%' AND at >= ? GROUP BY actor, to_state",
            (_ts(since),),
        )
        out: dict[str, dict[ItemState, int]] = {}
        for actor, state, n in rows:
            out.setdefault(actor, {})[ItemState(state)] = n
        return out

    def oldest_waiting(self) -> ItemView | None:
        waiting = stored_json(sorted(s.value for s in WAITING_STATES))
        rows = self._read(
            "SELECT * FROM items WHERE state IN (SELECT value FROM json_each(?))"
            " ORDER BY created_at, id LIMIT 1",
            (waiting,),
        )
        return self._view(rows[0]) if rows else None

    # --- retention ------------------------------------------------------------------------------

    def purge(self, older_than: timedelta, *, actor: str = "purge") -> int:
        finished = stored_json(sorted(s.value for s in FINISHED_STATES))
        evidence: list[str] = []
        with self._write() as db:
            now = self.now()
            rows = db.execute(
                "SELECT id, state, evidence_json FROM items WHERE purged_at IS NULL"
                " AND state IN (SELECT value FROM json_each(?)) AND updated_at <= ?",
                (finished, _ts(now - older_than)),
            ).fetchall()
            for r in rows:
                db.execute(
                    "UPDATE items SET assessment_json = NULL, raw_json = NULL, result_json = NULL,"
                    " conflict_json = NULL, details = '', purged_at = ? WHERE id = ?",
                    (_ts(now), r["id"]),
                )
                self._history_row(
                    r["id"],
                    at=_ts(now),
                    actor=actor,
                    event="purge",
                    from_state=ItemState(r["state"]),
                    to_state=ItemState(r["state"]),
                    reason=PURGE_REASON,
                )
                evidence.extend(json.loads(r["evidence_json"]))
        if rows:
            # The old pages live on in the write-ahead log until a checkpoint: copy them back
            # (zeroed, see secure_delete) and empty the log.
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # Screenshots show the filled form: they go with the payload, after the commit.
        delete_evidence(evidence)
        if rows:
            logger.info("Purge : {} élément(s) terminés effacés", len(rows))
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
