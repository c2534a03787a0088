"""The sandbox's SQLite storage: accounts, sessions, login codes, usagers, evaluations, tasks.

One file per run. Every query lives here so the routes read as what a professional does.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Store"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    pw_hash BLOB NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    username TEXT,
    pending_user TEXT,
    attempt_id TEXT,
    otp_failures INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    request_count INTEGER NOT NULL DEFAULT 0,
    flash TEXT
);
CREATE TABLE IF NOT EXISTS login_codes (
    attempt_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0,
    superseded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usagers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    birth_name TEXT NOT NULL,
    used_name TEXT,
    first_names TEXT NOT NULL,
    used_first_name TEXT,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    birth_insee TEXT NOT NULL,
    ins TEXT,
    address TEXT,
    phone TEXT,
    email TEXT,
    consent INTEGER NOT NULL,
    identity_status TEXT NOT NULL,
    strict_key TEXT NOT NULL,
    names_norm TEXT NOT NULL,
    first_names_norm TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usagers_birth_date ON usagers (birth_date);
CREATE INDEX IF NOT EXISTS usagers_strict_key ON usagers (strict_key);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    usager_id INTEGER NOT NULL REFERENCES usagers (id),
    kind TEXT NOT NULL,
    eval_date TEXT NOT NULL,
    mode TEXT NOT NULL,
    effecteur_rpps TEXT NOT NULL,
    effecteur_name TEXT NOT NULL,
    status TEXT NOT NULL,
    answers TEXT NOT NULL,
    alerts TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    usager_id INTEGER NOT NULL REFERENCES usagers (id),
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id),
    domain TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'a_realiser'
);
"""

_DATA_TABLES = ("tasks", "evaluations", "usagers", "login_codes", "sessions")

_USAGER_COLUMNS = (
    "birth_name",
    "used_name",
    "first_names",
    "used_first_name",
    "sex",
    "birth_date",
    "birth_insee",
    "ins",
    "address",
    "phone",
    "email",
    "consent",
    "identity_status",
    "strict_key",
    "names_norm",
    "first_names_norm",
    "created_by",
)


class Store:
    """One SQLite file, one connection shared by the app (calls are serialised by a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        # Fictitious health data, but private like the real thing: SQLite creates the -wal and
        # -shm files with the database file's own mode, so creating it 0600 covers all three.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._in_bulk = False
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._in_bulk:  # inside bulk(): its transaction holds this write too
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return dict(row) if row else None

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._tx() as c:
            return c.execute(sql, params).lastrowid or 0

    def reset(self) -> None:
        """Forget every usager, evaluation, session and login code; unlock every account."""
        with self._tx() as c:
            for table in _DATA_TABLES:
                c.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            c.execute("DELETE FROM sqlite_sequence")
            c.execute("UPDATE accounts SET failures = 0, locked_until = NULL")

    #: What a snapshot holds: the records, not who is logged in (sessions, codes, lock-outs).
    _SNAPSHOT_TABLES = ("usagers", "evaluations", "tasks")

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every usager, evaluation and task as rows (test endpoints: set up once, restore often)."""
        with self._lock:
            return {
                table: [dict(r) for r in self._conn.execute(f"SELECT * FROM {table}")]  # noqa: S608
                for table in self._SNAPSHOT_TABLES
            }

    def restore(self, snapshot: dict[str, list[dict[str, Any]]]) -> None:
        """Empty the data (as :meth:`reset`), then put back the rows of a :meth:`snapshot`."""
        self.reset()
        with self._tx() as c:
            for table in self._SNAPSHOT_TABLES:  # parents first: evaluations refer to usagers
                for row in snapshot.get(table, []):
                    columns = ", ".join(row)
                    marks = ", ".join("?" * len(row))
                    c.execute(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
                        tuple(row.values()),
                    )

    # accounts ------------------------------------------------------------------------------
    def put_account(self, username: str, salt: bytes, pw_hash: bytes) -> None:
        self._run(
            "INSERT INTO accounts (username, salt, pw_hash) VALUES (?, ?, ?) "
            "ON CONFLICT (username) DO UPDATE SET salt = excluded.salt, pw_hash = excluded.pw_hash",
            (username, salt, pw_hash),
        )

    def account(self, username: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM accounts WHERE username = ?", (username,))

    def set_failures(self, username: str, failures: int, locked_until: float | None) -> None:
        self._run(
            "UPDATE accounts SET failures = ?, locked_until = ? WHERE username = ?",
            (failures, locked_until, username),
        )

    # sessions ------------------------------------------------------------------------------
    def create_session(self, session_id: str, csrf: str, now: float) -> dict[str, Any]:
        self._run(
            "INSERT INTO sessions (id, csrf, created_at, last_seen) VALUES (?, ?, ?, ?)",
            (session_id, csrf, now, now),
        )
        return self.session(session_id) or {}

    def session(self, session_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))

    def touch_session(self, session_id: str, now: float) -> None:
        self._run(
            "UPDATE sessions SET last_seen = ?, request_count = request_count + 1 WHERE id = ?",
            (now, session_id),
        )

    def update_session(self, session_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._run(f"UPDATE sessions SET {sets} WHERE id = ?", (*fields.values(), session_id))  # noqa: S608

    def delete_session(self, session_id: str) -> None:
        self._run("DELETE FROM sessions WHERE id = ?", (session_id,))

    # login codes ---------------------------------------------------------------------------
    def new_login_code(self, attempt_id: str, username: str, code_hash: str, now: float) -> None:
        """Store a fresh code; every earlier code of this account stops working."""
        with self._tx() as c:
            c.execute("UPDATE login_codes SET superseded = 1 WHERE username = ?", (username,))
            c.execute(
                "INSERT INTO login_codes (attempt_id, username, code_hash, created_at) "
                "VALUES (?, ?, ?, ?)",
                (attempt_id, username, code_hash, now),
            )

    def login_code(self, attempt_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM login_codes WHERE attempt_id = ?", (attempt_id,))

    def update_login_code(self, attempt_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._run(
            f"UPDATE login_codes SET {sets} WHERE attempt_id = ?",  # noqa: S608
            (*fields.values(), attempt_id),
        )

    # usagers -------------------------------------------------------------------------------
    def insert_usager(self, record: dict[str, Any]) -> int:
        values = tuple(record.get(c) for c in _USAGER_COLUMNS)
        marks = ", ".join("?" for _ in _USAGER_COLUMNS)
        return self._run(
            f"INSERT INTO usagers ({', '.join(_USAGER_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            values,
        )

    def usager(self, usager_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM usagers WHERE id = ?", (usager_id,))

    def usagers(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM usagers ORDER BY id")

    def usagers_with_strict_key(self, key: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM usagers WHERE strict_key = ? ORDER BY id", (key,))

    def search_usagers(
        self,
        *,
        name_prefix: str | None,
        first_name_prefix: str | None,
        birth_date: str | None,
        ins: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Usagers matching every given criterion (name prefixes on normalised names)."""
        where, params = [], []
        if name_prefix:
            # names_norm is " BIRTH NAME | USED NAME ": a prefix of either matches
            where.append("names_norm LIKE ? ESCAPE '\\'")
            params.append(f"%|{_like(name_prefix)}%")
        if first_name_prefix:
            where.append("first_names_norm LIKE ? ESCAPE '\\'")
            params.append(f"%|{_like(first_name_prefix)}%")
        if birth_date:
            where.append("birth_date = ?")
            params.append(birth_date)
        if ins:
            where.append("ins = ?")
            params.append(ins)
        clause = " AND ".join(where) or "1 = 1"
        total = self._one(f"SELECT COUNT(*) AS n FROM usagers WHERE {clause}", tuple(params))  # noqa: S608
        rows = self._all(
            f"SELECT * FROM usagers WHERE {clause} "  # noqa: S608
            "ORDER BY birth_name, first_names, birth_date, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return rows, (total or {}).get("n", 0)

    # evaluations and tasks -----------------------------------------------------------------
    def insert_evaluation(
        self,
        *,
        usager_id: int,
        kind: str,
        eval_date: str,
        mode: str,
        effecteur_rpps: str,
        effecteur_name: str,
        answers: dict[str, Any],
        alerts: dict[str, bool],
        created_by: str,
    ) -> int:
        """Store a validated evaluation and one STEP 2 task per alerted domain, atomically."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO evaluations (usager_id, kind, eval_date, mode, effecteur_rpps, "
                "effecteur_name, status, answers, alerts, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, 'validee', ?, ?, ?)",
                (
                    usager_id,
                    kind,
                    eval_date,
                    mode,
                    effecteur_rpps,
                    effecteur_name,
                    json.dumps(answers),
                    json.dumps(alerts),
                    created_by,
                ),
            )
            evaluation_id = cur.lastrowid or 0
            c.executemany(
                "INSERT INTO tasks (usager_id, evaluation_id, domain) VALUES (?, ?, ?)",
                [(usager_id, evaluation_id, d) for d, on in alerts.items() if on],
            )
        return evaluation_id

    def evaluation(self, evaluation_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM evaluations WHERE id = ?", (evaluation_id,))
        return _decoded(row) if row else None

    def evaluations_of(self, usager_id: int) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT * FROM evaluations WHERE usager_id = ? ORDER BY eval_date DESC, id DESC",
            (usager_id,),
        )
        return [_decoded(r) for r in rows]

    def step1s(
        self, *, usager_id: int | None = None, eval_date: str | None = None, mode: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["kind = 'step1'"], []
        for column, value in (("usager_id", usager_id), ("eval_date", eval_date), ("mode", mode)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self._all(
            f"SELECT * FROM evaluations WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608
            tuple(params),
        )
        return [_decoded(r) for r in rows]

    def tasks_of(self, usager_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT t.*, e.eval_date FROM tasks t JOIN evaluations e ON e.id = t.evaluation_id "
            "WHERE t.usager_id = ? ORDER BY t.id",
            (usager_id,),
        )

    # exports and counts --------------------------------------------------------------------
    def billing_summary(self) -> list[dict[str, Any]]:
        """Evaluations per month, effecteur and type (what billing uses)."""
        return self._all(
            "SELECT substr(eval_date, 1, 7) AS month, effecteur_name, effecteur_rpps, kind, "
            "COUNT(*) AS n FROM evaluations GROUP BY month, effecteur_rpps, kind "
            "ORDER BY month, effecteur_name, kind"
        )

    def billing_detail(self) -> list[dict[str, Any]]:
        return self._all(
            "SELECT id, usager_id, substr(eval_date, 1, 7) AS month, eval_date, effecteur_name, "
            "effecteur_rpps, kind, mode FROM evaluations ORDER BY eval_date, id"
        )

    def evaluations_export(self) -> list[dict[str, Any]]:
        """Every evaluation with its dossier's address (the commune), oldest first."""
        rows = self._all(
            "SELECT e.*, u.address FROM evaluations e JOIN usagers u ON u.id = e.usager_id "
            "ORDER BY e.eval_date, e.id"
        )
        return [_decoded(r) for r in rows]

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Many inserts in one transaction (seeding a year): the calls inside join it."""
        with self._tx():
            self._in_bulk = True
            try:
                yield
            finally:
                self._in_bulk = False

    def counts(self) -> dict[str, int]:
        def n(sql: str) -> int:
            return int((self._one(sql) or {"n": 0})["n"])

        return {
            "usagers": n("SELECT COUNT(*) AS n FROM usagers"),
            "step1": n("SELECT COUNT(*) AS n FROM evaluations WHERE kind = 'step1'"),
            "duplicate_usagers": n(
                "SELECT COALESCE(SUM(c - 1), 0) AS n FROM "
                "(SELECT COUNT(*) AS c FROM usagers GROUP BY strict_key HAVING c > 1)"
            ),
            "duplicate_step1": n(
                "SELECT COALESCE(SUM(c - 1), 0) AS n FROM (SELECT COUNT(*) AS c FROM evaluations "
                "WHERE kind = 'step1' GROUP BY usager_id, eval_date, mode HAVING c > 1)"
            ),
        }


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "answers": json.loads(row["answers"]), "alerts": json.loads(row["alerts"])}
