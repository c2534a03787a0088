"""After the whole suite: no usager's name, birth date, INS, phone or e-mail in any log file, and
every file holding health data private to its owner.

This module runs last (its name sorts last; tests/fixtures/chaos.py also moves it to the end).
The personal data looked for are those the suite itself used: every identity found in the work
queues and sandbox databases the tests left behind (sample exports, fixtures, chaos batches).
The logs read are every ``*.jsonl`` / ``*.log`` file (rotated ``.gz`` included) under the suite
data folder (``suite_data``: the bot's own logs, ``icope-bot`` subprocesses, the in-process log
kept by tests/fixtures/chaos.py) and under pytest's temporary folder (runs with their own
``logs_dir``). Run alone, it has nothing to read and FAILS: a scan that read nothing proves
nothing, and a mis-pointed data folder must not go green. Run it after the suite (``make test``,
or ``ICOPE_BOT_TEST_DATA=<the suite's folder> pytest tests/test_zz_pii_scan.py``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig

#: Professionals and accounts of the sandbox appear in logs by design (effecteur, login): they
#: are not usagers. Their names are blanked before the scan so that a usager sharing a surname
#: with one of them ("Moreau") is still looked for everywhere else.
_STAFF = sorted(
    {p.name for p in SandboxConfig.model_fields["professionals"].default_factory()}  # type: ignore[misc]
    | {a.display_name for a in SandboxConfig.model_fields["accounts"].default_factory()},  # type: ignore[misc]
    key=len,
    reverse=True,
)


@dataclass
class Personal:
    """The personal data the suite used, as regular expressions over log text."""

    names: set[str] = field(default_factory=set)
    birth_dates: set[date] = field(default_factory=set)
    ins: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # the 9 digits after the leading 0 / +33
    emails: set[str] = field(default_factory=set)

    def add_identity(self, identity: dict[str, object]) -> None:
        for key in ("birth_name", "used_name", "used_first_name"):
            self._name(identity.get(key))
        first = identity.get("first_names") or ()
        for name in first if isinstance(first, list | tuple) else str(first).split():
            self._name(name)
        born = identity.get("birth_date")
        if born:
            with contextlib.suppress(ValueError):  # a deliberately broken test date
                self.birth_dates.add(date.fromisoformat(str(born)[:10]))
        ins = re.sub(r"\s", "", str(identity.get("ins") or ""))
        if len(ins) == 15:
            self.ins.add(ins)
        digits = re.sub(r"\D", "", str(identity.get("phone") or ""))
        if len(digits) >= 9:
            self.phones.add(digits[-9:])
        email = str(identity.get("email") or "").strip()
        if "@" in email:
            self.emails.add(email.lower())

    def _name(self, value: object) -> None:
        text = str(value or "").strip()
        # The fuzz test feeds cells such as "null": as names they identify nobody, and JSON logs
        # are full of the literal.
        if text.casefold() in {"null", "true", "false", "none", "nan"}:
            return
        if len(text) >= 3:  # the log mask's own threshold (bot.logs.register_pii)
            self.names.add(text)

    def patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        sep = r"[\s.\-]?"
        out: list[tuple[str, re.Pattern[str]]] = []
        names = sorted({n for v in self.names for n in (v, v.upper())}, key=len, reverse=True)
        for chunk in _chunks(names, 500):
            alternatives = "|".join(re.escape(n) for n in chunk)
            out.append(("nom", re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")))
        dates = [f"{d:%d/%m/%Y}" for d in self.birth_dates] + [
            d.isoformat() for d in self.birth_dates
        ]
        for chunk in _chunks(sorted(dates), 500):
            out.append(("date de naissance", re.compile("|".join(re.escape(d) for d in chunk))))
        for ins in sorted(self.ins):
            spaced = sep.join(re.escape(c) for c in ins)
            out.append(("INS", re.compile(rf"(?<![\dA-Z]){spaced}(?!\d)")))
        for digits in sorted(self.phones):
            spaced = sep.join(re.escape(c) for c in digits)
            out.append(("téléphone", re.compile(rf"(?:\+33{sep}|(?<!\d)0){spaced}(?!\d)")))
        for email in sorted(self.emails):
            out.append(("e-mail", re.compile(re.escape(email), re.IGNORECASE)))
        return out


def _chunks(values: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


def _roots(suite_data: Path, basetemp: Path) -> list[Path]:
    return [p for p in (suite_data, basetemp) if p.is_dir()]


def _files(roots: Iterable[Path], patterns: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for root in roots:
        for pattern in patterns:
            found.update(p for p in root.rglob(pattern) if p.is_file() and not p.is_symlink())
    return sorted(found)


def _tables(db: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error:
        return set()


def _queue_dbs(roots: Iterable[Path]) -> list[Path]:
    return [db for db in _files(roots, ("*.db",)) if {"items", "history"} <= _tables(db)]


def _collect(roots: list[Path]) -> Personal:
    personal = Personal()
    for db in _files(roots, ("*.db",)):
        tables = _tables(db)
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            if {"items", "history"} <= tables:
                for (payload,) in con.execute(
                    "SELECT assessment_json FROM items WHERE assessment_json IS NOT NULL"
                ):
                    personal.add_identity(json.loads(payload).get("identity") or {})
            if "usagers" in tables:
                con.row_factory = sqlite3.Row
                for row in con.execute("SELECT * FROM usagers"):
                    personal.add_identity(dict(row))
        except sqlite3.Error:
            continue
        finally:
            con.close()
    return personal


def _log_text(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    for name in _STAFF:
        text = text.replace(name, "<professionnel>")
    return text


@pytest.fixture(scope="module")
def roots(suite_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _roots(suite_data, tmp_path_factory.getbasetemp())


def test_no_personal_data_in_any_log_file_of_the_suite(roots: list[Path]) -> None:
    personal = _collect(roots)
    logs = _files(roots, ("*.jsonl", "*.log", "*.jsonl.*.gz", "*.jsonl.gz", "*.log.gz"))
    if not personal.names or not logs:
        pytest.fail(
            f"rien à lire sous {', '.join(map(str, roots)) or '(aucun dossier)'} : "
            f"{len(logs)} journal(aux), {len(personal.names)} nom(s). Ce test lit ce que toute la "
            "suite a écrit (lancer `make test`) : un dossier de données mal indiqué ne doit pas "
            "passer pour propre."
        )
    hits: list[str] = []
    patterns = personal.patterns()
    for path in logs:
        text = _log_text(path)
        for kind, pattern in patterns:
            for m in pattern.finditer(text):
                line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end())]
                hits.append(f"{path}: {kind} « {m.group(0)} » dans : {line[:300]}")
                break
    print(
        f"{len(logs)} fichiers de journal lus, {len(personal.names)} noms, "
        f"{len(personal.birth_dates)} dates de naissance, {len(personal.ins)} INS, "
        f"{len(personal.phones)} téléphones, {len(personal.emails)} e-mails cherchés"
    )
    assert hits == [], "\n".join(hits[:50])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_evidence_queue_log_and_report_files_are_private(roots: list[Path]) -> None:
    wrong: list[str] = []
    checked = 0
    for root in roots:
        for shots in (p for p in root.rglob("screenshots") if p.is_dir()):
            for p in [shots, *shots.rglob("*")]:
                want = 0o700 if p.is_dir() else 0o600
                checked += 1
                if _mode(p) != want:
                    wrong.append(f"{p} : {_mode(p):o} au lieu de {want:o}")
    for db in _queue_dbs(roots):
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if p.exists():
                checked += 1
                if _mode(p) & 0o077:
                    wrong.append(f"{p} : {_mode(p):o} (file d'attente lisible par d'autres)")
    for p in _files(roots, ("icope-bot*.jsonl", "run-*.html", "exceptions-*.*")):
        checked += 1
        if _mode(p) & 0o077:
            wrong.append(f"{p} : {_mode(p):o} (données de santé lisibles par d'autres)")
    if not checked:
        pytest.fail(
            f"rien à vérifier sous {', '.join(map(str, roots)) or '(aucun dossier)'} : ce test "
            "lit ce que toute la suite a écrit (lancer `make test`)."
        )
    assert wrong == [], "\n".join(wrong[:50])
