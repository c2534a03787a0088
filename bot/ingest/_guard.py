"""Guards an .xlsx before any Excel reader touches it: zip bombs, dimension bombs, formulas.

An .xlsx is a zip of XML parts. A 7 KB file can declare a cell at ``XFD1048576`` (the Excel
reader then allocates rows × columns: ~550 GB), and an 846 KB file can inflate to 288 MB of XML.
So before reading, every part's uncompressed size and every sheet's declared dimension and real
cell extent are checked against :class:`ReadLimits`, streaming the XML through Python's zipfile
(which stops at the declared size and checks the CRC: a lying header is caught too). The same
pass notes formula cells without a cached value, which readers return as empty cells.
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = ["ReadLimits", "XlsxFacts", "guard_xlsx"]

_MB = 1024 * 1024


class GuardRefused(Exception):
    """The workbook exceeds a limit; the message says which, in French."""


@dataclass(frozen=True)
class ReadLimits:
    """How big a file ingestion accepts (Settings ``ingest_*``; docs/reliability.md)."""

    max_file_mb: int = 400  # the file on disk (a 1M-row CSV export is ≈ 230 MB)
    max_part_mb: int = 256  # one uncompressed part of an .xlsx (a sheet's XML, shared strings)
    max_total_mb: int = 512  # every part of an .xlsx, uncompressed
    max_rows: int = 300_000  # rows of one sheet (declared or used)
    max_columns: int = 256  # columns of one sheet (IV, the old Excel limit; an export has ~40)
    max_cells: int = 20_000_000  # rows × columns of one sheet's declared dimension
    max_cell_chars: int = 32_767  # Excel's own limit for one cell; longer = the row is refused
    reader_memory_mb: int = 2048  # the Excel reader's child process, beyond what it starts with
    reader_timeout_seconds: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(
            max_file_mb=settings.ingest_max_file_mb,
            max_part_mb=settings.ingest_max_part_mb,
            max_total_mb=settings.ingest_max_total_mb,
            max_rows=settings.ingest_max_rows,
            max_columns=settings.ingest_max_columns,
            max_cells=settings.ingest_max_cells,
            max_cell_chars=settings.ingest_max_cell_chars,
            reader_memory_mb=settings.ingest_reader_memory_mb,
            reader_timeout_seconds=settings.ingest_reader_timeout_seconds,
        )


@dataclass
class XlsxFacts:
    """What the guard learnt: per sheet name, the formula cells without a value (row, column)."""

    formulas: dict[str, set[tuple[int, int]]] = field(default_factory=dict)


def column_number(letters: str) -> int:
    """``A`` → 1, ``XFD`` → 16384."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letters(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _number(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


_DIMENSION = re.compile(
    rb'<(?:\w+:)?dimension\b[^>]*?\bref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"'
)
_CELL_COLUMN = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,4})\d')
# A formula cell with no <v> (or an empty one): what Excel writes for a formula never calculated.
_FORMULA_NO_VALUE = re.compile(
    rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})(\d{1,7})"[^>]*>\s*'
    rb"<(?:\w+:)?f\b[^>]*(?:/>|>[^<]*</(?:\w+:)?f>)\s*(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*"
    rb"</(?:\w+:)?c>"
)
_BLOCK = 4 * _MB
_CARRY = 64 * 1024


def guard_xlsx(path: Path, limits: ReadLimits) -> XlsxFacts:
    """Check an .xlsx against the limits; GuardRefused (French) when it exceeds one."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise GuardRefused("ce n'est pas un classeur Excel (.xlsx) lisible") from e
    with zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size > limits.max_part_mb * _MB:
                raise GuardRefused(
                    f"une partie du classeur ({info.filename}) fait "
                    f"{_number(info.file_size // _MB)} Mo une fois décompressée, au-delà de la "
                    f"limite de {_number(limits.max_part_mb)} Mo (fichier piégé ou anormalement "
                    "gros)"
                )
        if total > limits.max_total_mb * _MB:
            raise GuardRefused(
                f"le classeur fait {_number(total // _MB)} Mo une fois décompressé, au-delà de la "
                f"limite de {_number(limits.max_total_mb)} Mo (fichier piégé ou anormalement gros)"
            )
        names = _sheet_names(zf)
        facts = XlsxFacts()
        try:
            for info in infos:
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    sheet = names.get(info.filename, info.filename)
                    formulas = _scan_sheet(zf, info, sheet, limits)
                    if formulas:
                        facts.formulas[sheet] = formulas
                elif info.filename.endswith(".xml") or info.filename.endswith(".rels"):
                    _drain(zf, info)  # the CRC check catches a part larger than it declares
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
            raise GuardRefused("le classeur est endommagé (archive .xlsx incohérente)") from e
        except NotImplementedError as e:  # an exotic compression method
            raise GuardRefused("le classeur utilise une compression non prise en charge") from e
    return facts


def _drain(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    with zf.open(info) as f:
        while f.read(_BLOCK):
            pass


_TAG = re.compile(rb"<(?:\w+:)?(sheet|Relationship)\b([^>]*)>")
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet part path → the sheet's name, from workbook.xml and its relationships.

    Read with a regular expression, not an XML parser: these parts come from the file too, and
    only a few attributes are needed (no entity expansion, no DTD).
    """
    try:
        workbook = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    targets = {}
    for tag, attrs in _TAG.findall(rels):
        if tag == b"Relationship":
            a = dict(_ATTR.findall(attrs))
            target = html.unescape(a.get(b"Target", b"").decode(errors="replace"))
            targets[a.get(b"Id", b"")] = (
                target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            )
    out = {}
    for tag, attrs in _TAG.findall(workbook):
        if tag == b"sheet":
            a = dict(_ATTR.findall(attrs))
            rid = next((v for k, v in a.items() if k.endswith(b":id")), None)
            if rid in targets:
                out[targets[rid]] = html.unescape(a.get(b"name", b"").decode(errors="replace"))
    return out


def _scan_sheet(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: str, limits: ReadLimits
) -> set[tuple[int, int]]:
    """Declared dimension, real extent and formula cells of one sheet's XML, streamed."""
    max_row = max_col = 0
    formulas: set[tuple[int, int]] = set()
    carry = b""
    first = True
    # Only references that can pass a limit are looked at in Python: a column beyond the limit
    # (a regular expression built from it), a row number with as many digits as the limit.
    # An ordinary sheet matches neither, and each block costs a few scans at C speed.
    # Patterns start with the literal r=" (re's fast path); the attribute's boundary is checked
    # on the rare matches.
    over_columns = re.compile(rb'r="(?:%s)\d' % _letters_over(limits.max_columns).encode())
    long_rows = re.compile(rb'r="[A-Z]{0,4}(\d{%d,})"' % len(str(limits.max_rows)))
    with zf.open(info) as f:
        while block := f.read(_BLOCK):
            data = carry + block
            if first:
                _check_dimension(data, sheet, limits)
                first = False
            if any(_attribute(data, m) for m in over_columns.finditer(data)):
                for letters in set(_CELL_COLUMN.findall(data)):
                    max_col = max(max_col, column_number(letters.decode()))
            for m in long_rows.finditer(data):
                if _attribute(data, m):
                    max_row = max(max_row, int(m.group(1)))
            if b"<f" in data or b":f" in data:
                for letters, digits in _FORMULA_NO_VALUE.findall(data):
                    formulas.add((int(digits), column_number(letters.decode())))
            _check_extent(sheet, max_row, max_col, limits, "utilise")
            # Keep the unfinished cell at the end of the block for the next one.
            cut = max(data.rfind(b"<c "), data.rfind(b":c "), data.rfind(b"<row"))
            carry = data[cut:] if cut >= 0 and len(data) - cut <= _CARRY else data[-256:]
    return formulas


def _attribute(data: bytes, m: re.Match[bytes]) -> bool:
    """Whether a match of ``r="…`` is the attribute ``r`` (not the end of another name)."""
    return data[m.start() - 1 : m.start()] in (b" ", b"\t", b"\n", b"\r")


def _letters_over(limit: int) -> str:
    """A regular expression matching the column letters of every column after ``limit``."""
    top = column_letters(limit)
    options = [f"[A-Z]{{{len(top) + 1},}}"]  # more letters: further right
    for i, ch in enumerate(top):
        if ch != "Z":
            rest = len(top) - i - 1
            options.append(
                f"{top[:i]}[{chr(ord(ch) + 1)}-Z]" + (f"[A-Z]{{{rest}}}" if rest else "")
            )
    return "|".join(options)


def _check_dimension(head: bytes, sheet: str, limits: ReadLimits) -> None:
    m = _DIMENSION.search(head[: 64 * 1024])
    if not m or not m.group(3):
        return
    c1 = column_number(m.group(1).decode()) if m.group(1) else 1
    r1 = int(m.group(2)) if m.group(2) else 1
    c2, r2 = column_number(m.group(3).decode()), int(m.group(4))
    rows, cols = abs(r2 - r1) + 1, abs(c2 - c1) + 1
    _check_extent(sheet, max(r1, r2), max(c1, c2), limits, "déclare")
    if rows * cols > limits.max_cells:
        raise GuardRefused(
            f"la feuille « {sheet} » déclare {_number(rows)} lignes × {_number(cols)} colonnes "
            f"({_number(rows * cols)} cellules), au-delà de la limite de "
            f"{_number(limits.max_cells)} cellules : {_resave}"
        )


_resave = (
    "supprimez les lignes et colonnes vides au-delà des données (ou copiez les données dans un "
    "nouveau classeur) et enregistrez à nouveau"
)


def _check_extent(sheet: str, row: int, col: int, limits: ReadLimits, verb: str) -> None:
    if col > limits.max_columns:
        raise GuardRefused(
            f"la feuille « {sheet} » {verb} la colonne {column_letters(col)} "
            f"(n° {_number(col)}), au-delà de la limite de {_number(limits.max_columns)} colonnes "
            f"(fichier piégé ou anormalement gros) : {_resave}"
        )
    if row > limits.max_rows:
        raise GuardRefused(
            f"la feuille « {sheet} » {verb} la ligne {_number(row)}, au-delà de la limite de "
            f"{_number(limits.max_rows)} lignes (fichier piégé ou anormalement gros) : {_resave}"
        )
