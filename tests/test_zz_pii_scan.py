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

    def finder(self) -> Finder:
        return Finder(self)


#: Where each kind of personal data could start, found in one pass over a log's text; the value
#: found there (separators removed) is then looked up among the suite's values. One pass per
#: kind instead of one regular expression per INS or phone (thousands of them, each over every
#: log) gives the same hits: the candidates overlap (a look-ahead), so none hides another.
_SEP = r"[\s.\-]"
_INS_AT = re.compile(rf"(?<![\dA-Z])(?=([\dAB](?:{_SEP}?[\dAB]){{14}})(?!\d))")
_PHONE_AT = re.compile(rf"(?:\+33{_SEP}?|(?<!\d)0)(?=(\d(?:{_SEP}?\d){{8}})(?!\d))")
_DATE_AT = re.compile(r"(?=(\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}))")
_WORD = re.compile(r"(?<!\w)\w+")
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>()\[\],;:]+@[^\s@\"'<>()\[\],;:]+")


class Finder:
    """Finds, in a log's text, any name, birth date, INS, phone or e-mail of :class:`Personal`.

    Names match as whole words (not inside a longer word), as the text holds them or in capitals:
    each word start of the text is looked up by its first word, then the whole name compared.
    E-mails match anywhere inside an address, whatever the case.
    """

    def __init__(self, personal: Personal) -> None:
        self.by_first_word: dict[str, set[str]] = {}
        self.odd_names: list[str] = []  # names not starting with a letter or digit
        for name in {n for v in personal.names for n in (v, v.upper())}:
            first = _WORD.match(name)
            if first is None or first.start():
                self.odd_names.append(name)
            else:
                self.by_first_word.setdefault(first.group(0), set()).add(name)
        self.dates = {f"{d:%d/%m/%Y}" for d in personal.birth_dates} | {
            d.isoformat() for d in personal.birth_dates
        }
        self.ins = personal.ins
        self.phones = personal.phones
        self.emails: dict[str, set[str]] = {}  # domain → local parts
        for email in personal.emails:
            local, _, domain = email.rpartition("@")
            self.emails.setdefault(domain, set()).add(local)

    def hits(self, text: str) -> Iterator[tuple[str, int, int]]:
        """(kind, start, end) of each personal datum in ``text``; the first of each kind only."""
        for kind, find in (
            ("nom", self._names),
            ("date de naissance", self._dates),
            ("INS", self._ins),
            ("téléphone", self._phones),
            ("e-mail", self._emails),
        ):
            hit = next(find(text), None)
            if hit is not None:
                yield kind, *hit

    def _names(self, text: str) -> Iterator[tuple[int, int]]:
        for word in _WORD.finditer(text):
            for name in self.by_first_word.get(word.group(0), ()):
                yield from self._whole(text, name, word.start())
        for name in self.odd_names:
            found = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text)
            if found:
                yield found.span()

    @staticmethod
    def _whole(text: str, name: str, at: int) -> Iterator[tuple[int, int]]:
        end = at + len(name)
        if text.startswith(name, at) and not (end < len(text) and _is_word(text[end])):
            yield at, end

    def _dates(self, text: str) -> Iterator[tuple[int, int]]:
        for m in _DATE_AT.finditer(text):
            if m.group(1) in self.dates:
                yield m.start(1), m.end(1)

    def _ins(self, text: str) -> Iterator[tuple[int, int]]:
        for m in _INS_AT.finditer(text):
            if re.sub(_SEP, "", m.group(1)) in self.ins:
                yield m.start(1), m.end(1)

    def _phones(self, text: str) -> Iterator[tuple[int, int]]:
        for m in _PHONE_AT.finditer(text):
            if re.sub(_SEP, "", m.group(1)) in self.phones:
                yield m.start(), m.end(1)

    def _emails(self, text: str) -> Iterator[tuple[int, int]]:
        # A known address inside a longer one ("xjean@…", "…@x.fra") counts too: its local part
        # ends the found one's, its domain starts the found one's.
        for m in _EMAIL_LIKE.finditer(text):
            local, _, domain = m.group(0).lower().rpartition("@")
            for cut in range(len(domain), 0, -1):
                locals_ = self.emails.get(domain[:cut])
                if locals_ and any(local[i:] in locals_ for i in range(len(local))):
                    yield m.span()
                    break


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


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
    finder = personal.finder()
    for path in logs:
        text = _log_text(path)
        for kind, start, end in finder.hits(text):
            line = text[text.rfind("\n", 0, start) + 1 : text.find("\n", end)]
            hits.append(f"{path}: {kind} « {text[start:end]} » dans : {line[:300]}")
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


def test_the_scan_finds_each_kind_it_looks_for_and_no_lookalike() -> None:
    # The scan's own check: a finder that finds nothing would let every log pass.
    personal = Personal()
    personal.add_identity(
        {
            "birth_name": "Le Goff",
            "first_names": ["Marie-Anne"],
            "birth_date": "1948-03-07",
            "ins": "2480375056123 45",
            "phone": "06 12 34 56 78",
            "email": "M.Le-Goff@Exemple.fr",
        }
    )
    finder = personal.finder()

    def kinds(text: str) -> dict[str, str]:
        return {kind: text[start:end] for kind, start, end in finder.hits(text)}

    assert kinds('{"msg": "dossier de LE GOFF ouvert"}') == {"nom": "LE GOFF"}
    assert kinds("Marie-Anne, née le 07/03/1948") == {
        "nom": "Marie-Anne",
        "date de naissance": "07/03/1948",
    }
    assert kinds("INS 2 48 03 75 056 123 45 ; tél. +33 6.12.34.56.78") == {
        "INS": "2 48 03 75 056 123 45",
        "téléphone": "+33 6.12.34.56.78",
    }
    assert kinds("écrire à xm.le-goff@exemple.fr.") == {"e-mail": "xm.le-goff@exemple.fr."}
    # Lookalikes: a longer word, other digits, a masked value.
    assert kinds("Le Goffic, 1948-03-08, 2480375056123456, 06 12 34 56 79, L*** G***") == {}
