"""Writing the review file for Excel (XLSX with its dropdown, CSV safe to open) and reading it back."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from bot.ingest import normalize_header
from bot.review.layout import (
    BY_HEADER,
    DISCORDANT,
    GUIDE,
    IDENTITY_COLUMNS,
    PAYLOAD_COLUMNS,
    Column,
    Decision,
    ReviewFileError,
)

__all__ = ["read_table", "uri", "write_csv", "write_xlsx"]

# Cells Excel (and LibreOffice) would run as a formula, or that hide one after a control char.
_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def uri(path: str) -> str:
    return Path(path).resolve().as_uri()


def _csv_text(value: Any, col: Column) -> str:
    if value is None:
        return ""
    if isinstance(value, date) and col.kind == "date":
        return f"{value:%d/%m/%Y}"
    if col.kind == "link":
        return uri(str(value))
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return _neutralise(str(value))


def _neutralise(text: str) -> str:
    """Prefix with ``'`` what a spreadsheet would run as a formula (CSV injection)."""
    return "'" + text if text.startswith(_DANGEROUS_START) else text


def write_csv(path: Path, columns: Iterable[Column], rows: list[dict[str, Any]]) -> None:
    cols = list(columns)
    # UTF-8 with BOM and ";": what French Excel opens correctly with a double click.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
        writer.writerow([c.header for c in cols])
        for row in rows:
            writer.writerow([_csv_text(row.get(c.key), c) for c in cols])


_HEADER_FILLS = {"info": "1F4E79", "decision": "C55A11", "fix": "375623"}
_DISCORDANT_FILL = PatternFill("solid", start_color="FCE4D6")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")


def _set(cell: Cell, value: Any, col: Column) -> None:
    """Write a cell; strings are always text, never formulas."""
    if value is None or value == "":
        return
    if col.kind == "link":
        cell.value = Path(str(value)).name
        cell.hyperlink = uri(str(value))
        cell.style = "Hyperlink"
        return
    if isinstance(value, date) and not isinstance(value, datetime):
        cell.value = value
        cell.number_format = "DD/MM/YYYY"
        return
    if isinstance(value, int | float):
        cell.value = value
        return
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell.value = text
    cell.data_type = "s"  # openpyxl would store "=…" as a formula otherwise
    if text.startswith(_DANGEROUS_START):
        cell.quotePrefix = True  # Excel keeps it text even after the reviewer edits the cell
    if col.kind == "code":
        cell.number_format = "@"  # keeps leading zeros of INSEE codes and phone numbers


#: The Informations sheet: identity details that differ, to know, nothing to decide.
INFORMATION_SHEET = (
    Column("reference", "Référence", 16),
    Column("usager", "Usager", 30),
    Column("state", "État", 14),
    Column("dossier", "Dossier e-parcours", 12, kind="code"),
    Column("label", "Diffère par", 16),
    Column("kind", "Nature de l'écart", 28, kind="wrap"),
    Column("export", "Dans l'export", 30, kind="wrap"),
    Column("in_dossier", "Dans le dossier", 30, kind="wrap"),
)


def _write_informations(wb: Workbook, rows: list[dict[str, Any]]) -> None:
    """The Informations sheet (no decision column: the import never reads it)."""
    ws = wb.create_sheet("Informations")
    for j, col in enumerate(INFORMATION_SHEET, start=1):
        cell = ws.cell(row=1, column=j, value=col.header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", start_color=_HEADER_FILLS["info"])
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(j)].width = col.width
    for i, row in enumerate(rows, start=2):
        for j, col in enumerate(INFORMATION_SHEET, start=1):
            cell = ws.cell(row=i, column=j)
            _set(cell, row.get(col.key), col)
            cell.alignment = _WRAP if col.kind == "wrap" else _TOP
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(INFORMATION_SHEET))}{max(len(rows) + 1, 2)}"


def write_xlsx(
    path: Path,
    columns: Iterable[Column],
    rows: list[dict[str, Any]],
    *,
    informations: list[dict[str, Any]] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> None:
    """The review workbook: Exceptions (to decide), Informations (to know), Mode d'emploi."""
    cols = list(columns)
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    ws.title = "Exceptions"
    fix_keys = {c.key for c in (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS)}
    for j, col in enumerate(cols, start=1):
        head = ws.cell(row=1, column=j, value=col.header)
        group = "decision" if col.kind == "decision" else "fix" if col.key in fix_keys else "info"
        head.font = Font(bold=True, color="FFFFFF")
        head.fill = PatternFill("solid", start_color=_HEADER_FILLS[group])
        head.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(j)].width = col.width
    for i, row in enumerate(rows, start=2):
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=i, column=j)
            assert isinstance(cell, Cell)  # not a MergedCell: this sheet merges no cell
            _set(cell, row.get(col.key), col)
            cell.alignment = _WRAP if col.kind == "wrap" else _TOP
            if col.key.startswith("alerts.") and str(cell.value or "").startswith(DISCORDANT):
                cell.fill = _DISCORDANT_FILL
        if progress is not None and ((i - 1) % 1_000 == 0 or i - 1 == len(rows)):
            progress("Écriture du classeur", i - 1, len(rows))
    last_row = max(len(rows) + 1, 2)
    ws.row_dimensions[1].height = 45
    ws.freeze_panes = "B2"  # header row and reference column stay visible
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last_row}"
    decision_col = get_column_letter(next(j for j, c in enumerate(cols, 1) if c.kind == "decision"))
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(d.value for d in Decision) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Décision inconnue",
        error="Choisissez valider, relancer, rejeter ou corriger (voir l'onglet « Mode "
        "d'emploi »).",
        showInputMessage=True,
        promptTitle="Décision",
        prompt="valider, relancer, rejeter ou corriger",
    )
    dv.add(f"{decision_col}2:{decision_col}{last_row}")
    ws.add_data_validation(dv)
    if informations:
        _write_informations(wb, informations)
    guide = wb.create_sheet("Mode d'emploi")
    guide.column_dimensions["A"].width = 110
    for i, line in enumerate(GUIDE.splitlines(), start=1):
        guide.cell(row=i, column=1, value=line).alignment = Alignment(wrap_text=True)
    guide["A1"].font = Font(bold=True, size=14)
    wb.save(path)


# --- reading the file -----------------------------------------------------------------------


def read_table(path: Path) -> tuple[set[str], list[tuple[int, dict[str, Any]]]]:
    """Column keys found, and each data row (spreadsheet row number, cells by column key)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        grid = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        grid = _csv_rows(path)
    else:
        raise ReviewFileError(
            f"Format de fichier non reconnu ({path.name}) : attendu .xlsx ou .csv."
        )
    header = next(grid, None)
    if header is None:
        raise ReviewFileError(f"Le fichier {path.name} est vide.")
    keys = [BY_HEADER.get(normalize_header(str(h))) if h is not None else None for h in header]
    rows: list[tuple[int, dict[str, Any]]] = []
    for row_no, values in enumerate(grid, start=2):
        cells = {
            col.key: _unquote(v) for col, v in zip(keys, values, strict=False) if col is not None
        }
        if any(v not in (None, "") for v in cells.values()):
            rows.append((row_no, cells))
    return {c.key for c in keys if c is not None}, rows


def _xlsx_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # zipfile/openpyxl errors: the file is not a readable workbook
        raise ReviewFileError(f"Le fichier {path.name} n'est pas un classeur Excel lisible.") from e
    try:
        ws = wb["Exceptions"] if "Exceptions" in wb.sheetnames else wb.worksheets[0]
        yield from ws.iter_rows(values_only=True)
    finally:
        wb.close()


def _csv_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # saved again by an older Excel "CSV (séparateur: ;)"
        except UnicodeDecodeError as e:
            raise ReviewFileError(
                f"Le fichier {path.name} n'est ni en UTF-8 ni en Windows-1252 : "
                "enregistrez-le depuis Excel au format « CSV UTF-8 »."
            ) from e
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    # newline="": a quoted cell may hold line breaks (details, comments); keep them.
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        yield tuple(row)


def _unquote(value: Any) -> Any:
    """Undo the CSV-injection prefix on read."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] and value[1] in "=+-@\t\r":
        return value[1:]
    return value
