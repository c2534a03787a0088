"""The review file itself: its columns, writing it for Excel (XLSX and CSV), reading it back.

Layout (one row per item, sheet « Exceptions », then a « Mode d'emploi » sheet)::

    Référence | Usager | Date d'évaluation | État | Motif | Détails
    | Alertes comparées — <domaine> ×6  ("app : alerte / e-parcours : pas d'alerte / règle : alerte")
    | Capture (lien) | Autres captures | Décision | Commentaire | Origine
    | Dernière modification (ne pas modifier)
    | the correctable payload, for ``fix``: Consentement au partage, [identity ×11],
      Alerte <domaine> ×6, the 18 STEP 1 answers (headers of mappings/icope_et_moi.yaml)

Every string is written as text, never as a formula; in the CSV a cell that a spreadsheet would
run (``= + - @``, tab, CR first) gets a ``'`` in front, removed again on reading.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from bot.errors import BusinessException
from bot.ingest import normalize_header
from bot.models import DOMAIN_LABELS, DOMAINS

__all__ = [
    "ALL_COLUMNS",
    "ASSESSED_ON",
    "DISCORDANT",
    "GUIDE",
    "IDENTITY_COLUMNS",
    "INFO_COLUMNS",
    "PAYLOAD_COLUMNS",
    "REQUIRED_KEYS",
    "Column",
    "Decision",
    "ReviewFileError",
    "free_stem",
    "layout",
    "read_table",
    "uri",
    "write_csv",
    "write_private",
    "write_xlsx",
]

#: Marks an alerts cell whose sources disagree (also highlighted in the XLSX).
DISCORDANT = "⚠ "


class Decision(StrEnum):
    APPROVE = "approve"  # the difference is accepted as is → approved
    RETRY = "retry"  # run it again → pending, attempts reset
    REJECT = "reject"  # drop it → rejected
    FIX = "fix"  # the corrected columns become the payload → pending


class ReviewFileError(BusinessException):
    """The decisions file as a whole cannot be read (format, missing columns)."""

    default_code = "review_file"


# --- the file's columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the model field path for the correctable columns ("identity.birth_name")
    header: str  # what the reviewer reads; import finds columns by this text
    width: float = 14
    # How it is written: text, wrap (long text), link (file URI), date (a date cell),
    # code (kept as text: leading zeros), decision (the dropdown). Reading the correctable
    # columns back follows bot.ingest.FIELD_KINDS, as for an export.
    kind: str = "text"


# Shown with the information and also read back for ``fix``.
ASSESSED_ON = Column("assessed_on", "Date d'évaluation", 13, "date")
INFO_COLUMNS: tuple[Column, ...] = (
    Column("reference", "Référence", 22),
    Column("usager", "Usager", 30),
    ASSESSED_ON,
    Column("state", "État", 16),
    Column("reason", "Motif", 40, "wrap"),
    Column("details", "Détails", 60, "wrap"),
    *(
        Column(f"alerts.{d}", f"Alertes comparées — {DOMAIN_LABELS[d]}", 24, "wrap")
        for d in DOMAINS
    ),
    Column("evidence", "Capture", 20, "link"),
    Column("evidence_more", "Autres captures", 30, "wrap"),
    Column("decision", "Décision", 12, "decision"),
    Column("comment", "Commentaire", 40, "wrap"),
    Column("origin", "Origine", 24),
    Column("updated_at", "Dernière modification (ne pas modifier)", 34),
)

# The correctable payload, for ``fix``. Headers are the export format's own
# (mappings/icope_et_moi.yaml), so a reviewer recognises the app's columns.
IDENTITY_COLUMNS: tuple[Column, ...] = (
    Column("identity.birth_name", "Nom de naissance", 20),
    Column("identity.first_names", "Prénoms de naissance", 22),
    Column("identity.used_name", "Nom utilisé", 18),
    Column("identity.used_first_name", "Prénom utilisé", 16),
    Column("identity.birth_date", "Date de naissance", 13, "date"),
    Column("identity.sex", "Sexe", 8),
    Column("identity.birth_insee", "Code INSEE lieu de naissance", 14, "code"),
    Column("identity.ins", "INS", 18, "code"),
    Column("identity.phone", "Téléphone", 15, "code"),
    Column("identity.email", "E-mail", 24),
    Column("identity.address", "Adresse", 30),
)
PAYLOAD_COLUMNS: tuple[Column, ...] = (
    Column("consent_sharing", "Consentement au partage", 14),
    *(Column(f"app_alerts.{d}", f"Alerte {DOMAIN_LABELS[d].lower()}", 12) for d in DOMAINS),
    Column("answers.memory_complaint", "Plainte mémoire aggravée (6 mois)", 14),
    Column("answers.orientation_year_ok", "Orientation : année correcte", 14),
    Column("answers.orientation_month_ok", "Orientation : mois correct", 14),
    Column("answers.orientation_weekday_ok", "Orientation : jour de la semaine correct", 14),
    Column("answers.orientation_day_ok", "Orientation : date du jour correcte", 14),
    Column("answers.orientation_place_ok", "Orientation : lieu correct", 14),
    Column("answers.words_recalled", "Mots rappelés (sur 3)", 12),
    Column("answers.chair_rise_seconds", "Lever de chaise (secondes)", 14),
    Column("answers.weight_loss_kg", "Perte de poids 3 mois (kg)", 14),
    Column("answers.appetite_loss", "Perte d'appétit", 12),
    Column("answers.vision_problem", "Problème de vision", 12),
    Column("answers.hearing_test", "Test d'audition", 16),
    Column("answers.hearing_whisper_passed", "Chuchotement réussi", 14),
    Column("answers.hearing_score", "Score hearWHO (sur 100)", 14),
    Column("answers.hearing_audiometry_db", "Audiométrie (dB)", 12),
    Column("answers.hearing_problem_reported", "Problème d'audition déclaré", 14),
    Column("answers.mood_down", "Triste ou déprimé (2 semaines)", 14),
    Column("answers.mood_little_interest", "Peu d'intérêt ou de plaisir (2 semaines)", 14),
)


def layout(with_identity: bool) -> tuple[Column, ...]:
    fix = (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS) if with_identity else PAYLOAD_COLUMNS
    return (*INFO_COLUMNS, *fix)


ALL_COLUMNS = layout(with_identity=True)


# Headers are compared as ingest compares an export's: no case, accents, spaces or punctuation.
_BY_HEADER: dict[str, Column] = {normalize_header(c.header): c for c in ALL_COLUMNS}
REQUIRED_KEYS = ("reference", "decision", "updated_at")

# Cells Excel (and LibreOffice) would run as a formula, or that hide one after a control char.
_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")

GUIDE = """\
Mode d'emploi du fichier des exceptions icope-bot

Chaque ligne de la feuille « Exceptions » est une auto-évaluation ICOPE et Moi que le robot n'a pas pu
terminer seul : alertes discordantes, identité à vérifier, erreur technique répétée ou données
invalides dans l'export. Lisez le motif, les détails, les alertes comparées et la capture d'écran,
puis choisissez une décision dans la colonne « Décision » (liste déroulante) :

approve — valider : la différence est acceptée telle quelle, le dossier est clos.
retry — relancer : le robot refait la saisie (après une panne, une identité créée à la main...).
reject — rejeter : l'auto-évaluation ne sera pas saisie (doublon, refus de l'usager...).
fix — corriger : corrigez les colonnes de droite (identité, consentement, réponses, alertes de
      l'application) ; elles remplacent les données de l'export et le robot refait la saisie.
      Valeurs : Oui/Non, dates jj/mm/aaaa, nombres avec virgule, lever de chaise vide si non réalisé.

Laissez la décision vide pour ne rien changer. La colonne « Commentaire » est gardée dans l'historique.
Une ligne invalide (données de l'export illisibles) ne peut être que corrigée (fix) ou rejetée (reject).

Ne modifiez ni la « Référence » ni la « Dernière modification » : elles servent à vérifier que
l'élément n'a pas changé depuis l'export. Si le robot ou un autre relecteur l'a modifié entre-temps,
l'import refuse le fichier : réexportez-le.

Importez ensuite le fichier :  icope-bot review import <fichier> --reviewer <votre nom>
L'import est « tout ou rien » : si une seule ligne est refusée, rien n'est appliqué ; le message
indique la ligne et la raison. Corrigez-la puis réimportez le même fichier.

Ce fichier contient des données de santé : ne l'envoyez pas par e-mail, supprimez-le une fois importé.
"""


def free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… : never overwrite a file a reviewer may be filling."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.xlsx").exists() or (folder / f"{candidate}.csv").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def write_private(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a 0600 temporary file in the same folder, then rename: never readable by others."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o600)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


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


def write_xlsx(path: Path, columns: Iterable[Column], rows: list[dict[str, Any]]) -> None:
    cols = list(columns)
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    ws.title = "Exceptions"
    fix_keys = {c.key for c in (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS)}
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j, value=col.header)
        group = "decision" if col.kind == "decision" else "fix" if col.key in fix_keys else "info"
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", start_color=_HEADER_FILLS[group])
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(j)].width = col.width
    for i, row in enumerate(rows, start=2):
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=i, column=j)
            _set(cell, row.get(col.key), col)
            cell.alignment = _WRAP if col.kind == "wrap" else _TOP
            if col.key.startswith("alerts.") and str(cell.value or "").startswith(DISCORDANT):
                cell.fill = _DISCORDANT_FILL
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
        error="Choisissez approve, retry, reject ou fix (voir l'onglet « Mode d'emploi »).",
        showInputMessage=True,
        promptTitle="Décision",
        prompt="approve = valider, retry = relancer, reject = rejeter, fix = corriger",
    )
    dv.add(f"{decision_col}2:{decision_col}{last_row}")
    ws.add_data_validation(dv)
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
    keys = [_BY_HEADER.get(normalize_header(str(h))) if h is not None else None for h in header]
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
