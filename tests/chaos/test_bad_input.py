"""Damaged exports: ingestion never crashes, never loses a good row, always says why in French.

Hypothesis takes a clean sample export (CSV as French Excel writes it, or XLSX) and damages it the
ways real files get damaged: a column dropped, renamed, duplicated or moved, cells of the wrong
type, formulas, huge cells, control characters, rows in another encoding, a file cut short, junk
bytes inserted or instead of the whole file; and the hostile ways of issue 12: dimension bombs and
zip bombs, stray non-UTF-8 bytes in a row, every line-ending style, one app id on two rows,
invisible characters (stripped: the row must come out unchanged; meaning-changing: refused), and
symbolic links or pipes in the inbox. For every damaged file:

- :func:`bot.ingest.ingest_file` returns a summary (it never raises);
- a refused file is refused whole, with a French sentence, and nothing is queued;
- otherwise every row read is in the queue (new, duplicate, conflict or quarantined), every
  quarantined row has its reasons in French (no Python or pydantic English), and **each row the
  damage did not touch is queued exactly as from the clean file**.

Reduced in ``make test`` (60 examples); full with ``make chaos`` (600 examples).
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.ingest import ReadLimits, ingest_file, ingest_inbox
from bot.models import ItemState, SelfAssessment
from bot.sample import SampleExport, generate, write_export
from bot.workqueue import open_queue
from tests.fixtures.chaos import ChaosScale, Figures

S = ItemState
ROWS = 6

#: Words that betray a raw exception or a library message instead of an explanation.
NOT_FOR_A_PERSON = re.compile(
    r"Traceback|Input should|Field required|validation error|object has no attribute|"
    r"invalid literal|KeyError|IndexError|ValueError|TypeError|NoneType|\bnan\b",
)

#: What a spreadsheet user may type in any cell.
ODD_VALUES = [
    "",
    "   ",
    "abc",
    "N/A",
    "#N/A",
    "#VALEUR!",
    "NaN",
    "None",
    "null",
    "-1",
    "1e309",
    "99999999999999999999",
    "0x1F",
    "3,5,6",
    "31/02/1950",
    "13/13/2020",
    "2099-01-01",
    "１２",
    "∞",
    "Oui/Non",
    "vrai",
    "\u00a0Oui\u00a0",
    "=1+1",
    '=HYPERLINK("http://example.org","cliquer")',
    "+SUM(A1:A3)",
    "-2+3",
    "@SUM(1)",
    "=cmd|' /C calc'!A0",
]
FORMULAS = [v for v in ODD_VALUES if v[:1] in "=+-@" and len(v) > 2]

#: Small limits, so that bombs are cheap to build: the clean file is far below them.
LIMITS = ReadLimits(max_part_mb=1, max_total_mb=4, max_rows=5_000, max_columns=100)
#: Invisible and harmless: stripped, the row must be ingested exactly as the clean one.
HARMLESS = ["\x00", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
#: Changing what a person reads: the row is refused.
MEANINGFUL = ["\u202e", "\u202d", "\u2066", "\x07", "\x1b", "\x7f"]

_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class Damage:
    """What was done to the clean export, and so which rows must come out unchanged."""

    touched_rows: set[int] = field(default_factory=set)  # data row indexes (0-based)
    columns_changed: bool = False  # a column dropped or renamed: values may legitimately change
    rows_from: int | None = None  # rows from this index on may be damaged (cut, junk inserted)
    whole_file: bool = False  # the file as such is damaged: any outcome but a crash is fine
    refusal: str | None = None  # the file must be refused, with these words in the reason
    notes: list[str] = field(default_factory=list)


@dataclass
class Clean:
    export: SampleExport
    assessments: list[SelfAssessment]  # row index → what the clean file gives


@cache
def _clean() -> Clean:
    export = generate(ROWS, seed=5)
    with tempfile.TemporaryDirectory() as d:
        path = export.write(Path(d) / "clean.csv")
        with open_queue(Path(d) / "q.db") as queue:
            summary = ingest_file(path, queue)
            assert (summary.new, summary.invalid) == (ROWS, 0), summary
            by_row = {v.row: v.assessment for v in queue.items()}
    return Clean(export, [by_row[r] for r in range(2, ROWS + 2)])  # type: ignore[misc]


# --- damage ---------------------------------------------------------------------------------------


@st.composite
def cell_damage(draw: st.DrawFn) -> tuple[str, int, int, str]:
    row = draw(st.integers(0, ROWS - 1))
    col = draw(st.integers(0, len(_clean().export.headers) - 1))
    value = draw(
        st.one_of(
            st.sampled_from(ODD_VALUES),
            st.sampled_from(FORMULAS),
            st.text(max_size=30),
            st.builds(lambda c, n: c * n, st.characters(), st.integers(10_000, 120_000)),
        )
    )
    return ("cell", row, col, value)


@st.composite
def invisible_damage(draw: st.DrawFn) -> tuple[str, int, int, str]:
    """An invisible character slipped into a cell: ("invisible", row, column, character)."""
    row = draw(st.integers(0, ROWS - 1))
    col = draw(st.integers(0, len(_clean().export.headers) - 1))
    return ("invisible", row, col, draw(st.sampled_from(HARMLESS + MEANINGFUL)))


@st.composite
def id_damage(draw: st.DrawFn) -> tuple[str, int, int, str]:
    """One row takes another row's app id: ("same_id", row, from row, "")."""
    a, b = draw(st.lists(st.integers(0, ROWS - 1), min_size=2, max_size=2, unique=True))
    return ("same_id", a, b, "")


@st.composite
def column_damage(draw: st.DrawFn) -> tuple[str, int, int, str]:
    kind = draw(st.sampled_from(["drop", "rename", "duplicate", "move", "extra"]))
    col = draw(st.integers(0, len(_clean().export.headers) - 1))
    text = draw(st.text(min_size=1, max_size=20))
    return (kind, -1, col, text)


def _damage_table(
    headers: list[str], rows: list[list[str]], ops: list[tuple[str, int, int, str]], d: Damage
) -> tuple[list[str], list[list[str]]]:
    headers, rows = list(headers), [list(r) for r in rows]
    for kind, row, col, text in ops:
        col = min(col, len(headers) - 1)
        if kind == "cell":
            rows[row][col] = text
            d.touched_rows.add(row)
        elif kind == "invisible":
            at = len(rows[row][col]) // 2
            rows[row][col] = rows[row][col][:at] + text + rows[row][col][at:]
            if text not in HARMLESS:
                d.touched_rows.add(row)
        elif kind == "same_id" and _clean().export.headers[0] in headers:
            sid = headers.index(_clean().export.headers[0])  # the app's id comes first
            rows[row][sid] = rows[col][sid]
            d.touched_rows |= {row, col}  # both go to a person
        elif kind == "drop" and len(headers) > 1:
            del headers[col]
            for r in rows:
                del r[col]
            d.columns_changed = True
        elif kind == "rename":
            headers[col] = text
            d.columns_changed = True
        elif kind == "duplicate":
            # the same header twice, the copy holding other values
            headers.append(headers[col])
            for r in rows:
                r.append(text)
            d.columns_changed = True
        elif kind == "move":
            headers.append(headers.pop(col))
            for r in rows:
                r.append(r.pop(col))
        elif kind == "extra":
            headers.insert(col, f"Colonne libre {text}")
            for r in rows:
                r.insert(col, text)
    return headers, rows


def _write_csv(headers: list[str], rows: list[list[str]], sep: str) -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    w.writerow(headers)
    w.writerows(rows)
    return out.getvalue()


@st.composite
def damaged_file(draw: st.DrawFn) -> tuple[str, bytes, Damage]:
    """(suffix, content, what was damaged)."""
    d = Damage()
    ops = draw(
        st.lists(
            st.one_of(cell_damage(), column_damage(), invisible_damage(), id_damage()),
            min_size=0,
            max_size=3,
        )
    )
    e = _clean().export
    headers, rows = _damage_table(e.headers, [[r[h] for h in e.headers] for r in e.rows], ops, d)
    d.notes.append(repr(ops)[:500])
    fmt = draw(st.sampled_from(["csv", "csv", "xlsx"]))
    if fmt == "xlsx":
        content = _xlsx(headers, rows)
        bomb = draw(st.sampled_from(["none", "none", "dimension", "cells", "zip"]))
        if bomb != "none":
            content = _bomb(
                content,
                bomb,
                col=draw(st.sampled_from(["CW", "XFD", "AAA", "ZZ"])),
                row=draw(st.sampled_from([1, 2, 1_048_576, 5_001])),
                size_mb=draw(st.integers(LIMITS.max_part_mb + 1, LIMITS.max_total_mb + 2)),
            )
            d.whole_file = True
            d.refusal = "limite"
            d.notes.append(f"bombe : {bomb}")
    else:
        sep = draw(st.sampled_from([";", ",", "\t"]))
        encoding = draw(st.sampled_from(["utf-8-sig", "utf-8", "cp1252"]))
        ending = draw(st.sampled_from(["\r\n", "\n", "\r", "mixed"]))
        text = _write_csv(headers, rows, sep)
        if ending != "\r\n":
            # Unquoted line breaks only: a quoted cell keeps the line break it holds.
            parts = re.split(r"(\r\n)(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text)
            out = []
            for i, part in enumerate(parts):
                if part == "\r\n":
                    part = ["\r\n", "\n", "\r"][i % 3] if ending == "mixed" else ending
                out.append(part)
            text = "".join(out)
            d.notes.append(f"fins de ligne {ending!r}")
        try:
            content = text.encode(encoding)
        except UnicodeEncodeError:  # a drawn character cp1252 lacks: as the app would, UTF-8
            content = text.encode("utf-8-sig")
        if draw(st.booleans()) and encoding != "cp1252" and ending == "\r\n":
            # Some rows saved in Windows-1252 (a file edited in two programs).
            lines = content.split(b"\r\n")
            chosen = draw(st.sets(st.integers(1, len(rows)), max_size=2))
            for i in chosen:
                lines[i] = lines[i].decode("utf-8").encode("cp1252", errors="replace")
                d.touched_rows.add(i - 1)
            content = b"\r\n".join(lines)
            d.notes.append(f"lignes en cp1252 : {sorted(chosen)}")
            # Read as UTF-8 all the same: only those rows are quarantined (or unchanged when
            # they hold no accented letter).
    file_damage = draw(st.sampled_from(["none", "none", "cut", "insert", "junk"]))
    if file_damage != "none":
        d.refusal = None  # a damaged bomb may be refused for its damage first
    # a position as a share of the file: an XLSX's length changes with its time stamps
    at = int(draw(st.floats(0, 1)) * len(content))
    if file_damage == "cut":
        content = content[:at]
        d.rows_from = _row_at(content, at, fmt)
        d.notes.append(f"coupé à {at}")
    elif file_damage == "insert":
        junk = draw(st.binary(min_size=1, max_size=64))
        content = content[:at] + junk + content[at:]
        d.rows_from = _row_at(content, at, fmt)
        d.whole_file = d.whole_file or fmt == "xlsx" or not _is_text(junk)
        d.notes.append(f"octets insérés à {at}")
    elif file_damage == "junk":
        content = draw(st.binary(max_size=2048))
        d.whole_file = True
        d.notes.append("fichier remplacé par des octets quelconques")
    return fmt, content, d


def _bomb(
    content: bytes, kind: str, col: str = "XFD", row: int = 1_048_576, size_mb: int = 0
) -> bytes:
    """An .xlsx made hostile: a far cell with or without its declared dimension, or a part that
    inflates past the limits."""
    src = zipfile.ZipFile(io.BytesIO(content))
    parts = {i.filename: src.read(i) for i in src.infolist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
    if kind == "zip":
        parts["xl/media/bourrage.bin"] = bytes(size_mb * 1024 * 1024)
    else:
        cell = f'<row r="{row}"><c r="{col}{row}" t="inlineStr"><is><t>x</t></is></c></row>'
        xml = parts[sheet].decode()
        xml = re.sub(
            r'<dimension ref="[^"]*"/>',
            "" if kind == "cells" else f'<dimension ref="A1:{col}{row}"/>',
            xml,
        )
        if row <= 2:  # a far column on an existing row: inside that row
            xml = xml.replace(
                "</row>", f'<c r="{col}{row}" t="inlineStr"><is><t>x</t></is></c></row>', 1
            )
        else:
            xml = xml.replace("</sheetData>", cell + "</sheetData>")
        parts[sheet] = xml.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    return out.getvalue()


def _is_text(junk: bytes) -> bool:
    """Inserted bytes that keep the file valid UTF-8 and its rows where they were."""
    try:
        text = junk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(c in text for c in "\r\n\"';,\t\x00")


def _row_at(content: bytes, at: int, fmt: str) -> int:
    """Data row index of the byte offset ``at`` (CSV); 0 for XLSX (any row may suffer)."""
    if fmt == "xlsx":
        return 0
    return max(content[:at].count(b"\n") - 1, 0)


def _xlsx(headers: list[str], rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Auto-évaluations")
    for line in [headers, *rows]:
        ws.append([_XML_ILLEGAL.sub("", v) for v in line])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- the property ----------------------------------------------------------------------------------


def _check(suffix: str, content: bytes, damage: Damage, folder: Path) -> None:
    path = folder / f"export.{suffix}"
    path.write_bytes(content)
    with open_queue(folder / "queue.db") as queue:
        summary = ingest_file(path, queue, limits=LIMITS)  # must not raise, whatever it holds
        views = queue.items()
    context = f"{damage.notes} → {summary}"
    if damage.refusal and not damage.rows_from:
        assert summary.refused, context
        assert damage.refusal in summary.refused, context
    if summary.refused:
        assert summary.refused.startswith("Fichier"), context
        assert not NOT_FOR_A_PERSON.search(summary.refused), context
        # Refused at once: nothing queued. Refused at a malformed line further down: the rows
        # before it were queued, and the message says so.
        assert len(views) == summary.read, context
        assert not summary.read or "lues avant" in summary.refused, context
        return
    accounted = (
        summary.new + summary.duplicates + summary.conflicts + summary.invalid + summary.fixed
    )
    assert accounted == summary.read, context
    for v in views:
        assert v.state in (S.PENDING, S.INVALID, S.NEEDS_REVIEW), context
        if v.state in (S.INVALID, S.NEEDS_REVIEW):
            assert v.reason.strip(), context
            assert not NOT_FOR_A_PERSON.search(v.reason + v.details), (v.reason, context)
    if damage.whole_file or damage.columns_changed:
        return
    by_row = {v.row: v for v in views}
    limit = damage.rows_from if damage.rows_from is not None else ROWS
    for i, expected in enumerate(_clean().assessments[:limit]):
        if i in damage.touched_rows:
            continue
        got = by_row.get(i + 2)
        assert got is not None, (f"ligne {i + 2} perdue", context)
        assert got.state == S.PENDING, (got.reason, context)
        assert got.assessment == expected, (f"ligne {i + 2} modifiée", context)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_damaged_exports_never_crash_lose_a_good_row_or_go_unexplained(
    chaos_scale: ChaosScale, chaos_figures: Figures
) -> None:
    seen: list[str] = []

    @settings(
        max_examples=chaos_scale.fuzz_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(damaged_file())
    def damaged_exports_are_handled(case: tuple[str, bytes, Damage]) -> None:
        suffix, content, damage = case
        seen.append(suffix)
        # A folder deleted after each file: junk "names" of damaged rows are no one's, and must
        # not become names the PII scan looks for in the suite's logs.
        with tempfile.TemporaryDirectory(prefix="icope-fuzz-") as folder:
            _check(suffix, content, damage, Path(folder))

    damaged_exports_are_handled()
    chaos_figures.append(f"entrées abîmées : {len(seen)} fichiers essayés")


def test_formula_cells_are_quarantined_or_kept_as_text_never_evaluated(tmp_path: Path) -> None:
    export = generate(2, seed=5)
    name = next(h for h, k in export.keys.items() if k == "identity.birth_name")
    export.rows[0][name] = '=HYPERLINK("http://example.org","x")'
    path = write_export(export, tmp_path / "formules.csv")
    with open_queue(tmp_path / "q.db") as queue:
        summary = ingest_file(path, queue)
        views = {v.row: v for v in queue.items()}
    assert summary.read == 2
    first = views[2]
    # Either refused with a reason, or kept verbatim: never a computed value.
    if first.state == S.INVALID:
        assert first.reason
    else:
        assert first.assessment is not None
        assert first.assessment.identity.birth_name.startswith("=HYPERLINK")
    assert views[3].state == S.PENDING


# --- the inbox: links, pipes and folders beside real exports ------------------------------------

ENTRY_KINDS = ["export", "symlink", "dangling", "dir_link", "fifo", "folder", "bomb"]


@pytest.mark.timeout(600)
def test_inbox_entries_of_every_kind_never_stop_ingestion(chaos_scale: ChaosScale) -> None:
    @settings(
        max_examples=max(chaos_scale.fuzz_examples // 6, 8),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(st.sampled_from(ENTRY_KINDS), min_size=1, max_size=5))
    def inbox_is_handled(kinds: list[str]) -> None:
        with tempfile.TemporaryDirectory(prefix="icope-inbox-") as folder:
            _check_inbox(Path(folder), kinds)

    inbox_is_handled()


def _check_inbox(root: Path, kinds: list[str]) -> None:
    s = Settings(
        queue_path=root / "queue.db",
        inbox_dir=root / "inbox",
        archive_dir=root / "archive",
        logs_dir=root / "logs",
        ingest_max_part_mb=LIMITS.max_part_mb,
        ingest_max_columns=LIMITS.max_columns,
    )
    s.inbox_dir.mkdir()
    outside = _clean().export.write(root / "dehors" / "export.csv")
    outside.chmod(0o644)
    bomb = _bomb(_xlsx(_clean().export.headers, [[]]), "dimension")
    expected: dict[str, str] = {}  # entry name → "ok" or words of its refusal
    for i, kind in enumerate(kinds):
        entry = s.inbox_dir / f"{i}-{kind}.csv"
        if kind == "export":
            # another file each time: the same content would be archived as already ingested
            export = _clean().export
            rows = [
                dict(r, **{export.headers[0]: f"E{i}-{r[export.headers[0]]}"}) for r in export.rows
            ]
            SampleExport(export.headers, rows, export.keys).write(entry)
            expected[entry.name] = "ok"
        elif kind == "symlink":
            entry.symlink_to(outside)
            expected[entry.name] = "lien symbolique"
        elif kind == "dangling":
            entry.symlink_to(root / "absent.csv")
            expected[entry.name] = "lien symbolique"
        elif kind == "dir_link":
            entry.symlink_to(root / "dehors", target_is_directory=True)
            expected[entry.name] = "lien symbolique"
        elif kind == "fifo":
            os.mkfifo(entry)
            expected[entry.name] = "pas un fichier ordinaire"
        elif kind == "folder":
            entry.mkdir()  # left alone: a folder a person made
        elif kind == "bomb":
            entry = entry.with_suffix(".xlsx")
            entry.write_bytes(bomb)
            expected[entry.name] = "limite"
    with open_queue(s.queue_path) as queue:
        summaries = {x.file: x for x in ingest_inbox(s, queue)}  # never raises
    assert set(summaries) == set(expected), (kinds, summaries)
    for name, outcome in expected.items():
        got = summaries[name]
        if outcome == "ok":
            assert got.ok, (kinds, got.refused)
            assert got.new == ROWS
        else:
            assert got.refused, (kinds, name)
            assert outcome in got.refused, (kinds, name, got.refused)
            assert got.refused_as, (kinds, name)
            reason = root / "refused" / f"{got.refused_as}.raison.txt"
            assert outcome in reason.read_text(encoding="utf-8")
    # what the links pointed to is untouched, and nothing is left in the inbox but folders
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert outside.read_bytes() == _clean().export.write(root / "encore.csv").read_bytes()
    assert all(p.is_dir() and not p.is_symlink() for p in s.inbox_dir.iterdir())
