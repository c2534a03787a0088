"""Opening an export: encoding, separator, sheet and header row detected; chunks of text cells."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from bot.errors import FileRefused as FileRefused  # its old home: re-exported
from bot.ingest._guard import GuardRefused, ReadLimits, guard_xlsx
from bot.ingest._mapping import ExportMapping, normalize_header

EXTENSIONS = (".xlsx", ".xlsm", ".csv", ".tsv", ".txt")
_MB = 1024 * 1024


@dataclass
class Detected:
    """What was found out about a file before reading its rows."""

    kind: str = ""  # "XLSX" or "CSV"
    encoding: str | None = None  # label for a person
    separator: str | None = None
    sheet: str | None = None
    header_row: int = 1  # spreadsheet row of the headers

    def describe(self) -> str:
        parts = [self.kind]
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        if self.encoding:
            parts.append(self.encoding)
        if self.separator:
            parts.append(f"séparateur « {_SEPARATOR_NAMES.get(self.separator, self.separator)} »")
        if self.header_row != 1:
            parts.append(f"en-têtes ligne {self.header_row}")
        return ", ".join(p for p in parts if p)


_SEPARATOR_NAMES = {";": ";", ",": ",", "\t": "tabulation", "|": "|"}


@dataclass
class _Source:
    detected: Detected
    headers: list[str]
    chunks: Iterator[tuple[int, list[list[str]]]]  # (row number of the first row, columns)
    close: Callable[[], None] = lambda: None
    title: str = ""  # XLSX: the sheet read, even when it is the only one
    first_column: int = 1  # XLSX: spreadsheet column number of headers[0]
    #: XLSX: formula cells without a cached value, spreadsheet row → column indexes (of headers)
    formulas: dict[int, set[int]] = field(default_factory=dict)
    # Rows expected, for a progress bar only: an estimate (a CSV cell may hold a line break).
    expected_rows: Callable[[], int | None] = lambda: None
    #: Why the reader process failed (XLSX), asked when the chunks stop early in a process
    #: that is not the reader's parent (a forked parser cannot wait for its sibling).
    failure: Callable[[], str | None] = lambda: None


def _best_header_row(rows: Sequence[Sequence[str]], matchers: dict[str, str]) -> tuple[int, int]:
    """(index, known headers) of the row that looks most like the header row."""
    best = (0, -1)
    for i, row in enumerate(rows):
        known = len({matchers[n] for c in row if (n := normalize_header(c)) in matchers})
        if known > best[1]:
            best = (i, known)
    return best


_BAD_BYTE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, kept by surrogateescape
_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")


def _detect_encoding(path: Path) -> tuple[str, str]:
    """(codec, label): BOM first, then UTF-8 unless the bytes as a whole say otherwise.

    A file of valid UTF-8 except a few bytes (one row pasted from another program) stays UTF-8:
    the rows holding the bad bytes are quarantined, naming line and column. Windows-1252 or
    latin-1 is chosen only when bytes invalid in UTF-8 outnumber the valid accented letters.
    """
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", "UTF-8 avec BOM"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "UTF-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        bad = accented = 0
        while block := f.read(1 << 20):
            text = decoder.decode(block)
            bad += len(_BAD_BYTE.findall(text))
            accented += len(_NON_ASCII.findall(text))
        bad += len(_BAD_BYTE.findall(decoder.decode(b"", final=True)))
        if bad == 0:
            return "utf-8", "UTF-8"
        if accented >= bad:
            return "utf-8", "UTF-8 (octets invalides sur certaines lignes)"
        f.seek(0)
        c1 = False
        while block := f.read(1 << 20):
            if any(b in block for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")):
                return "latin-1", "ISO-8859-1 (latin-1)"
            c1 = c1 or re.search(rb"[\x80-\x9f]", block) is not None
    # cp1252 and latin-1 agree outside 0x80–0x9F; name the one the bytes show
    return "cp1252", "Windows-1252" if c1 else "ISO-8859-1 (latin-1)"


def _sample_rows(sample: str, sep: str, limit: int) -> list[list[str]]:
    """The first rows of a sample, every line-ending style read (CR, LF, CRLF, mixed).

    A row the csv module cannot parse (a cell longer than its field limit, a quote left open
    at the end of the sample) ends the sample: the header row is above it, the data rows are
    read by pandas, and a bad row is quarantined there, not the whole file refused.
    """
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(sample, newline=None), delimiter=sep)
    while len(rows) < limit:
        try:
            rows.append(next(reader))
        except StopIteration:
            break
        except csv.Error:
            if not rows:
                raise
            break
    return rows


def _read_csv(path: Path, mapping: ExportMapping, chunk_rows: int) -> _Source:
    codec, label = _detect_encoding(path)
    errors = "surrogateescape" if codec.startswith("utf-8") else "replace"
    with path.open("r", encoding=codec, errors=errors, newline="") as f:
        sample = f.read(256 * 1024)
    if not sample.strip():
        raise FileRefused("le fichier est vide")
    skip = 0
    first_line = sample.splitlines()[0] if sample else ""
    hinted = re.fullmatch(r'"?sep=(.)"?', first_line.strip())  # Excel's "sep=;" first line
    if hinted:
        skip = 1
        sample = sample[len(first_line) :].lstrip("\r\n")
    matchers = mapping.matchers()
    best: tuple[int, int, int, str] | None = None  # (known, columns, -row, separator)
    found: dict[str, list[list[str]]] = {}
    for sep in [hinted.group(1)] if hinted else [";", ",", "\t", "|"]:
        try:
            rows = _sample_rows(sample, sep, mapping.header_search_rows)
        except csv.Error:
            continue
        if not rows:
            continue
        found[sep] = rows
        i, known = _best_header_row(rows, matchers)
        candidate = (known, len(rows[i]), -i, sep)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        raise FileRefused("le fichier n'est pas un CSV lisible")
    _, ncols, neg_row, sep = best
    header_idx = -neg_row
    headers = found[sep][header_idx]
    detected = Detected("CSV", label, sep, header_row=header_idx + 1)
    frames = pd.read_csv(
        path,
        sep=sep,
        encoding=codec,
        encoding_errors=errors,
        header=None,
        names=list(range(ncols)),
        index_col=False,
        skiprows=skip + header_idx + 1,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        quotechar='"',
        chunksize=chunk_rows,
        engine="c",
    )

    sep_name = _SEPARATOR_NAMES.get(sep, sep)  # a tab is not shown as one

    def chunks() -> Iterator[tuple[int, list[list[str]]]]:
        row = header_idx + 2
        it = iter(frames)
        try:
            while True:
                # More cells on the first data line than headers: pandas only warns, and drops
                # the cells beyond (a later line with too many cells is an error, below).
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    try:
                        df = next(it)
                    except StopIteration:
                        return
                    except pd.errors.ParserWarning:
                        first = found[sep][header_idx + 1 : header_idx + 2]
                        seen = f"{len(first[0])} cellules" if first else "plus de cellules"
                        raise FileRefused(
                            f"la ligne {header_idx + 2} a {seen} au lieu de {ncols} (séparateur "
                            f"« {sep_name} » ou guillemets mal fermés ?)"
                        ) from None
                yield row, [df[c].to_numpy(dtype=object).tolist() for c in df.columns]
                row += len(df)
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:
                raise FileRefused(
                    f"la ligne {int(m.group(2)) - skip} a {m.group(3)} cellules au lieu de "
                    f"{m.group(1)} (séparateur « {sep_name} » ou guillemets mal fermés ?)"
                ) from e
            raise FileRefused("le fichier CSV est mal formé (guillemets mal fermés ?)") from e

    def expected_rows() -> int:
        lines = 0
        with path.open("rb") as f:
            last = b""
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        if last not in (b"", b"\n"):
            lines += 1  # a last line without its line break
        return max(lines - skip - header_idx - 1, 0)

    return _Source(detected, headers, chunks(), frames.close, expected_rows=expected_rows)


def _cell_text(v: object) -> str:
    """An XLSX cell as the text a person sees (dates French, whole numbers without '.0')."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "Vrai" if v else "Faux"
    if isinstance(v, datetime):
        return f"{v:%d/%m/%Y}" if v.time() == datetime.min.time() else f"{v:%d/%m/%Y %H:%M:%S}"
    if isinstance(v, date):
        return f"{v:%d/%m/%Y}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Workbook:
    """The sheets of an XLSX file as rows of cell values, whatever library reads them.

    python-calamine (Rust) reads a 100,000-row sheet about 15 times faster than openpyxl's
    read-only mode; openpyxl stays as the fallback where calamine is not installed.
    """

    def __init__(self, path: Path, engine: str | None = None) -> None:
        self.engine = engine or ("calamine" if _has_calamine() else "openpyxl")
        self._sheets: dict[str, Any] = {}
        #: spreadsheet column number of the first value of each row yielded, per sheet
        self.first_column: dict[str, int] = {}
        try:
            if self.engine == "calamine":
                from python_calamine import CalamineWorkbook

                self._wb: Any = CalamineWorkbook.from_path(str(path))
                self.names: list[str] = list(self._wb.sheet_names)
            else:
                import openpyxl

                self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                self.names = list(self._wb.sheetnames)
        except Exception as e:  # zip, XML, format errors of every kind: not a workbook
            raise FileRefused("ce n'est pas un classeur Excel (.xlsx) lisible") from e

    def rows(self, name: str, limit: int | None = None) -> Iterator[Sequence[object]]:
        """Rows from the sheet's first row (row 1 is the first yielded, empty or not)."""
        if self.engine == "calamine":
            if name not in self._sheets:  # calamine reads a whole sheet at once: only once
                try:
                    self._sheets[name] = self._wb.get_sheet_by_name(name)
                except Exception as e:  # a damaged sheet inside a readable zip directory
                    raise FileRefused("ce n'est pas un classeur Excel (.xlsx) lisible") from e
            sheet = self._sheets[name]
            if sheet.start is None:  # an empty sheet
                return iter(())
            # calamine yields from row 1 but from the first used column: columns are relative
            self.first_column[name] = sheet.start[1] + 1
            it: Iterator[Sequence[object]] = iter(sheet.iter_rows())
        else:
            it = self._wb[name].iter_rows(values_only=True)
        return it if limit is None else (r for _, r in zip(range(limit), it, strict=False))

    def height(self, name: str) -> int:
        """Rows of the sheet (its used range), read from what is already loaded."""
        if self.engine == "calamine":
            return int(self._sheets[name].height) if name in self._sheets else 0
        return int(self._wb[name].max_row or 0)

    def close(self) -> None:
        if self.engine == "openpyxl":
            self._wb.close()


@cache
def _has_calamine() -> bool:
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return False
    return True


def _read_xlsx(
    path: Path, mapping: ExportMapping, chunk_rows: int, engine: str | None = None
) -> _Source:
    wb = _Workbook(path, engine)
    matchers = mapping.matchers()
    best: tuple[int, int, int, str] | None = None  # (known, -sheet order, -row, sheet)
    for order, name in enumerate(wb.names):
        top = [[_cell_text(c) for c in r] for r in wb.rows(name, mapping.header_search_rows)]
        if not any(any(c.strip() for c in r) for r in top):
            continue
        i, known = _best_header_row(top, matchers)
        candidate = (known, -order, -i, name)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        wb.close()
        raise FileRefused("le classeur est vide")
    _, _, neg_row, title = best
    header_idx = -neg_row
    rows = wb.rows(title)
    for _ in range(header_idx):
        next(rows)
    headers = [_cell_text(c).strip() for c in next(rows, ())]
    while headers and not headers[-1]:
        headers.pop()
    ncols = len(headers)
    sheet = title if len(wb.names) > 1 else None
    detected = Detected("XLSX", None, None, sheet=sheet, header_row=header_idx + 1)

    def chunks() -> Iterator[tuple[int, list[list[str]]]]:
        start = header_idx + 2
        batch: list[Sequence[object]] = []
        for r in rows:
            batch.append(r)
            if len(batch) == chunk_rows:
                yield start, _columns(batch, ncols)
                start += len(batch)
                batch = []
        if batch:
            yield start, _columns(batch, ncols)

    src = _Source(detected, headers, chunks(), wb.close, title=title)
    src.first_column = wb.first_column.get(title, 1)
    src.expected_rows = lambda: wb.height(title) - header_idx - 1
    return src


def _columns(batch: list[Sequence[object]], ncols: int) -> list[list[str]]:
    """Rows of XLSX values → columns of text (short rows padded, extra cells dropped)."""
    out = [
        [v if type(v) is str else _cell_text(v) for v in col]
        for col in itertools.islice(itertools.zip_longest(*batch), ncols)
    ]
    out += [[""] * len(batch) for _ in range(ncols - len(out))]
    return out


def _open(
    path: Path,
    mapping: ExportMapping,
    chunk_rows: int,
    xlsx_engine: str | None = None,
    limits: ReadLimits | None = None,
) -> _Source:
    limits = limits or ReadLimits()
    size = path.stat().st_size
    if size > limits.max_file_mb * _MB:
        raise FileRefused(
            f"le fichier fait {size // _MB} Mo, au-delà de la limite de {limits.max_file_mb} Mo"
        )
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from bot.ingest._excel_child import read_xlsx_in_child

        try:
            facts = guard_xlsx(path, limits)
        except GuardRefused as e:
            raise FileRefused(str(e)) from e
        src = read_xlsx_in_child(
            path,
            mapping,
            chunk_rows,
            xlsx_engine,
            limits.reader_memory_mb,
            limits.reader_timeout_seconds,
        )
        for row, col in facts.formulas.get(src.title, ()):
            if 0 <= col - src.first_column < len(src.headers):
                src.formulas.setdefault(row, set()).add(col - src.first_column)
        return src
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, mapping, chunk_rows)
    if suffix == ".xls":
        raise FileRefused(
            "l'ancien format Excel .xls n'est pas lu : enregistrez le fichier au format "
            ".xlsx ou .csv depuis Excel"
        )
    raise FileRefused(f"format « {suffix or 'sans extension'} » non pris en charge (.xlsx ou .csv)")
