"""Exceptions for a person: the review file out (XLSX + CSV), the reviewer's decisions back in.

::

    queue (needs_review, failed, invalid) ──export──► reviews/exceptions-<date>.xlsx / .csv
                                                        │  the reviewer fills « Décision »
    queue ◄──import (one transaction, reviewer:<name>)──┘  approve | retry | reject | fix

The file holds health data: its folder is 0700, the files 0600, and nothing of its content goes to
the logs (references and counts only). Cells are written as text, never as formulas, and a CSV
cell that Excel could run (``= + - @``, tab, CR first) is prefixed with ``'``.

An import is all or nothing: every row is checked first (known decision, unchanged reference,
item not changed since the export, state that allows the decision, corrected data valid), and
only a clean file is applied, in one queue transaction.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from bot.errors import BusinessException
from bot.evidence import private_dir
from bot.icope import alerts_for
from bot.logs import logger
from bot.models import DOMAIN_LABELS, DOMAINS, ItemState, SelfAssessment
from bot.workqueue import STATE_LABELS, IllegalTransition, ItemView, WorkQueue

__all__ = [
    "REVIEW_STATES",
    "Decision",
    "ExportResult",
    "ImportReport",
    "Refusal",
    "ReviewFileError",
    "export_exceptions",
    "import_decisions",
]

S = ItemState

#: The states a person has to look at, in the order the file lists them.
REVIEW_STATES: tuple[ItemState, ...] = (S.NEEDS_REVIEW, S.FAILED, S.INVALID)


class Decision(StrEnum):
    APPROVE = "approve"  # the difference is accepted as is → approved
    RETRY = "retry"  # run it again → pending, attempts reset
    REJECT = "reject"  # drop it → rejected
    FIX = "fix"  # the corrected columns become the payload → pending


_DECISION_SYNONYMS: dict[str, Decision] = {
    **{d.value: d for d in Decision},
    "approuver": Decision.APPROVE,
    "valider": Decision.APPROVE,
    "relancer": Decision.RETRY,
    "rejeter": Decision.REJECT,
    "corriger": Decision.FIX,
}
_ALLOWED_FROM: dict[Decision, frozenset[ItemState]] = {
    Decision.APPROVE: frozenset({S.NEEDS_REVIEW, S.FAILED}),
    Decision.RETRY: frozenset({S.NEEDS_REVIEW, S.FAILED}),
    Decision.REJECT: frozenset(REVIEW_STATES),
    Decision.FIX: frozenset(REVIEW_STATES),
}
_TARGET: dict[Decision, ItemState] = {
    Decision.APPROVE: S.APPROVED,
    Decision.RETRY: S.PENDING,
    Decision.REJECT: S.REJECTED,
    Decision.FIX: S.PENDING,
}
_REASONS: dict[Decision, str] = {
    Decision.APPROVE: "Validé par le relecteur : la différence est acceptée telle quelle",
    Decision.RETRY: "Relancé par le relecteur",
    Decision.REJECT: "Rejeté par le relecteur",
    Decision.FIX: "Corrigé par le relecteur et remis en file",
}

# --- the file's columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    key: str  # the model field path for the correctable columns ("identity.birth_name")
    header: str  # what the reviewer reads; import finds columns by this text
    width: float = 14
    kind: str = "text"  # text wrap link stamp decision | bool date int number code names


# Shown with the information and also read back for ``fix``.
_ASSESSED_ON = _Col("assessed_on", "Date d'évaluation", 13, "date")
_INFO_COLUMNS: tuple[_Col, ...] = (
    _Col("reference", "Référence", 22),
    _Col("usager", "Usager", 30),
    _ASSESSED_ON,
    _Col("state", "État", 16),
    _Col("reason", "Motif", 40, "wrap"),
    _Col("details", "Détails", 60, "wrap"),
    *(_Col(f"alerts.{d}", f"Alertes comparées — {DOMAIN_LABELS[d]}", 24, "wrap") for d in DOMAINS),
    _Col("evidence", "Capture", 20, "link"),
    _Col("evidence_more", "Autres captures", 30, "wrap"),
    _Col("decision", "Décision", 12, "decision"),
    _Col("comment", "Commentaire", 40, "wrap"),
    _Col("origin", "Origine", 24),
    _Col("updated_at", "Dernière modification (ne pas modifier)", 34, "stamp"),
)

# The correctable payload, for ``fix``. Headers are the export format's own
# (mappings/icope_et_moi.yaml), so a reviewer recognises the app's columns.
_IDENTITY_COLUMNS: tuple[_Col, ...] = (
    _Col("identity.birth_name", "Nom de naissance", 20),
    _Col("identity.first_names", "Prénoms de naissance", 22, "names"),
    _Col("identity.used_name", "Nom utilisé", 18),
    _Col("identity.used_first_name", "Prénom utilisé", 16),
    _Col("identity.birth_date", "Date de naissance", 13, "date"),
    _Col("identity.sex", "Sexe", 8),
    _Col("identity.birth_insee", "Code INSEE lieu de naissance", 14, "code"),
    _Col("identity.ins", "INS", 18, "code"),
    _Col("identity.phone", "Téléphone", 15, "code"),
    _Col("identity.email", "E-mail", 24),
    _Col("identity.address", "Adresse", 30),
)
_PAYLOAD_COLUMNS: tuple[_Col, ...] = (
    _Col("consent_sharing", "Consentement au partage", 14, "bool"),
    *(_Col(f"app_alerts.{d}", f"Alerte {DOMAIN_LABELS[d].lower()}", 12, "bool") for d in DOMAINS),
    _Col("answers.memory_complaint", "Plainte mémoire aggravée (6 mois)", 14, "bool"),
    _Col("answers.orientation_year_ok", "Orientation : année correcte", 14, "bool"),
    _Col("answers.orientation_month_ok", "Orientation : mois correct", 14, "bool"),
    _Col("answers.orientation_weekday_ok", "Orientation : jour de la semaine correct", 14, "bool"),
    _Col("answers.orientation_day_ok", "Orientation : date du jour correcte", 14, "bool"),
    _Col("answers.orientation_place_ok", "Orientation : lieu correct", 14, "bool"),
    _Col("answers.words_recalled", "Mots rappelés (sur 3)", 12, "int"),
    _Col("answers.chair_rise_seconds", "Lever de chaise (secondes)", 14, "number"),
    _Col("answers.weight_loss_kg", "Perte de poids 3 mois (kg)", 14, "number"),
    _Col("answers.appetite_loss", "Perte d'appétit", 12, "bool"),
    _Col("answers.vision_problem", "Problème de vision", 12, "bool"),
    _Col("answers.hearing_test", "Test d'audition", 16),
    _Col("answers.hearing_whisper_passed", "Chuchotement réussi", 14, "bool"),
    _Col("answers.hearing_score", "Score hearWHO (sur 100)", 14, "int"),
    _Col("answers.hearing_audiometry_db", "Audiométrie (dB)", 12, "int"),
    _Col("answers.hearing_problem_reported", "Problème d'audition déclaré", 14, "bool"),
    _Col("answers.mood_down", "Triste ou déprimé (2 semaines)", 14, "bool"),
    _Col("answers.mood_little_interest", "Peu d'intérêt ou de plaisir (2 semaines)", 14, "bool"),
)


def _columns(with_identity: bool) -> tuple[_Col, ...]:
    fix = (*_IDENTITY_COLUMNS, *_PAYLOAD_COLUMNS) if with_identity else _PAYLOAD_COLUMNS
    return (*_INFO_COLUMNS, *fix)


_ALL_COLUMNS = _columns(with_identity=True)
_BY_HEADER: dict[str, _Col] = {" ".join(c.header.casefold().split()): c for c in _ALL_COLUMNS}
_REQUIRED = ("reference", "decision", "updated_at")

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


# --- export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    xlsx: Path
    csv: Path
    count: int  # items listed
    by_state: dict[ItemState, int]


def export_exceptions(
    queue: WorkQueue,
    out_dir: Path,
    *,
    with_identity: bool = True,
    today: date | None = None,
) -> ExportResult:
    """Write every item a person must decide on to ``exceptions-<date>.xlsx`` and ``.csv``.

    ``with_identity=False`` masks the usager (initials) and leaves out the identity columns; a
    ``fix`` from such a file corrects the answers only.
    """
    order = {s: i for i, s in enumerate(REVIEW_STATES)}
    views = sorted(
        queue.items(REVIEW_STATES), key=lambda v: (order[v.state], v.created_at, v.reference)
    )
    columns = _columns(with_identity)
    rows = [_row(v, with_identity) for v in views]
    private_dir(out_dir)
    stem = _free_stem(out_dir, f"exceptions-{(today or date.today()).isoformat()}")
    xlsx, csv_path = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.csv"
    _write_private(xlsx, lambda tmp: _write_xlsx(tmp, columns, rows))
    _write_private(csv_path, lambda tmp: _write_csv(tmp, columns, rows))
    by_state = {s: sum(v.state == s for v in views) for s in REVIEW_STATES}
    logger.info(
        "Fichier des exceptions {} : {} élément(s) ({})",
        stem,
        len(views),
        ", ".join(f"{s.value} {n}" for s, n in by_state.items()),
    )
    return ExportResult(xlsx=xlsx, csv=csv_path, count=len(views), by_state=by_state)


def _free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… : never overwrite a file a reviewer may be filling."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.xlsx").exists() or (folder / f"{candidate}.csv").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _write_private(path: Path, write: Callable[[Path], None]) -> None:
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


def _row(v: ItemView, with_identity: bool) -> dict[str, Any]:
    """One item as typed cell values keyed by column key (formatting happens per file type)."""
    fix = _payload_values(v)
    row: dict[str, Any] = {
        "reference": v.reference,
        "usager": _usager(fix, with_identity),
        "assessed_on": fix.get("assessed_on"),
        "state": STATE_LABELS[v.state],
        "reason": v.reason,
        "details": v.details,
        "evidence": v.evidence[0] if v.evidence else None,
        "evidence_more": "\n".join(_uri(p) for p in v.evidence[1:]),
        "decision": None,
        "comment": None,
        "origin": f"{Path(v.source).name}, ligne {v.row}" if v.source else None,
        "updated_at": v.updated_at.isoformat(timespec="microseconds"),
    }
    alerts = _alert_cells(v)
    for d, (text, _) in alerts.items():
        row[f"alerts.{d}"] = text
    row["_discordant"] = {d for d, (_, differ) in alerts.items() if differ}
    row.update({k: val for k, val in fix.items() if k != "assessed_on"})
    return row


def _usager(fix: dict[str, Any], with_identity: bool) -> str:
    name = str(fix.get("identity.birth_name") or "").strip()
    first = str(fix.get("identity.first_names") or "").split(",")[0].strip()
    if not name and not first:
        return "?"
    if not with_identity:
        return " ".join(f"{p[0].upper()}." for p in (name, first) if p)
    born = fix.get("identity.birth_date")
    sex = str(fix.get("identity.sex") or "")
    word = {"F": "née", "M": "né"}.get(sex, "né(e)")
    when = f", {word} le {born:%d/%m/%Y}" if isinstance(born, date) else ""
    return f"{name.upper()} {first}{when}".strip()


def _payload_values(v: ItemView) -> dict[str, Any]:
    """The correctable values, pre-filled from the payload, else from the raw export row."""
    if v.assessment is not None:
        data = v.assessment.model_dump(mode="python")
        values: dict[str, Any] = {"assessed_on": data["assessed_on"]}
        for col in (*_IDENTITY_COLUMNS, *_PAYLOAD_COLUMNS):
            value: Any = data
            for part in col.key.split("."):
                value = value[part]
            values[col.key] = _plain(value)
        return values
    return _from_raw(v.raw or {})


def _plain(value: Any) -> Any:
    """Model value → what a reviewer reads: Oui/Non, names joined, enums as their text."""
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def _norm(text: str) -> str:
    return " ".join(str(text).casefold().split())


def _from_raw(raw: dict[str, str]) -> dict[str, Any]:
    """An invalid row's cells, as exported, under the column whose header they match."""
    by_header = {
        _norm(c.header): c.key for c in (_ASSESSED_ON, *_IDENTITY_COLUMNS, *_PAYLOAD_COLUMNS)
    }
    values: dict[str, Any] = {}
    for header, cell in raw.items():
        key = by_header.get(_norm(header))
        if key is not None and key not in values:
            values[key] = cell
    return values


_ALERT_WORDS: dict[bool | None, str] = {True: "alerte", False: "pas d'alerte", None: "non lu"}


def _alert_cells(v: ItemView) -> dict[str, tuple[str, bool]]:
    """Per domain: "app : alerte / e-parcours : pas d'alerte / règle : alerte", and whether they differ."""
    sources: dict[str, dict[str, bool] | None] = {"app": None, "target": None, "reference": None}
    result = v.result or {}
    for name in sources:
        if isinstance(result.get(name), dict):
            sources[name] = result[name]
    a = v.assessment
    if a is not None:
        # The flow may have stopped before comparing: the app's alerts and the rules are known.
        if sources["app"] is None:
            sources["app"] = a.app_alerts.as_dict()
        if sources["reference"] is None:
            sources["reference"] = alerts_for(a.answers, age=a.age_on_assessment()).as_dict()
    if all(s is None for s in sources.values()):
        return {}
    labels = {"app": "app", "target": "e-parcours", "reference": "règle"}
    cells: dict[str, tuple[str, bool]] = {}
    for d in DOMAINS:
        seen = {n: (s or {}).get(d) for n, s in sources.items()}
        parts = [f"{labels[n]} : {_ALERT_WORDS[x]}" for n, x in seen.items()]
        known = {x for x in seen.values() if x is not None}
        differ = len(known) > 1
        cells[d] = (("⚠ " if differ else "") + " / ".join(parts), differ)
    return cells


def _uri(path: str) -> str:
    return Path(path).resolve().as_uri()


def _csv_text(value: Any, col: _Col) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime) and col.kind in ("date",):
        return f"{value:%d/%m/%Y}"
    if col.kind == "link":
        return _uri(str(value))
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return _neutralise(str(value))


def _neutralise(text: str) -> str:
    """Prefix with ``'`` what a spreadsheet would run as a formula (CSV injection)."""
    return "'" + text if text.startswith(_DANGEROUS_START) else text


def _write_csv(path: Path, columns: Iterable[_Col], rows: list[dict[str, Any]]) -> None:
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


def _set(cell: Cell, value: Any, col: _Col) -> None:
    """Write a cell; strings are always text, never formulas."""
    if value is None or value == "":
        return
    if col.kind == "link":
        cell.value = Path(str(value)).name
        cell.hyperlink = _uri(str(value))
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


def _write_xlsx(path: Path, columns: Iterable[_Col], rows: list[dict[str, Any]]) -> None:
    cols = list(columns)
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    ws.title = "Exceptions"
    fix_keys = {c.key for c in (*_IDENTITY_COLUMNS, *_PAYLOAD_COLUMNS)}
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
            if col.key.startswith("alerts.") and col.key[7:] in row["_discordant"]:
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


# --- import ------------------------------------------------------------------------------------


class ReviewFileError(BusinessException):
    """The decisions file as a whole cannot be read (format, missing columns)."""

    default_code = "review_file"


@dataclass(frozen=True)
class Refusal:
    row: int  # spreadsheet row number, header = 1
    reference: str
    message: str

    def __str__(self) -> str:
        ref = f" ({self.reference})" if self.reference else ""
        return f"ligne {self.row}{ref} : {self.message}"


@dataclass
class ImportReport:
    reviewer: str
    applied: dict[Decision, list[str]] = field(default_factory=lambda: {d: [] for d in Decision})
    refused: list[Refusal] = field(default_factory=list)
    without_decision: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused

    def summary(self) -> str:
        """The result in French, one line per refused row."""
        if self.refused:
            lines = [
                f"Aucune décision appliquée : {len(self.refused)} ligne(s) refusée(s). "
                "Corrigez le fichier (ou réexportez-le) puis réimportez-le."
            ]
            lines += [f"  - {r}" for r in self.refused]
            return "\n".join(lines)
        n = {d: len(refs) for d, refs in self.applied.items()}
        return (
            f"Décisions appliquées (reviewer:{self.reviewer}) : "
            f"{n[Decision.APPROVE]} validée(s), {n[Decision.RETRY]} relancée(s), "
            f"{n[Decision.REJECT]} rejetée(s), {n[Decision.FIX]} corrigée(s) ; "
            f"{self.without_decision} ligne(s) sans décision."
        )


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Plan:
    row: int
    view: ItemView
    decision: Decision
    comment: str
    assessment: SelfAssessment | None = None


def import_decisions(queue: WorkQueue, path: Path, *, reviewer: str) -> ImportReport:
    """Apply the decisions of a review file (XLSX or CSV), all of them or none."""
    reviewer = reviewer.strip()
    if not reviewer:
        raise ReviewFileError("Le nom du relecteur (--reviewer) est obligatoire.")
    report = ImportReport(reviewer=reviewer)
    headers, rows = _read_table(path)
    missing = [c.header for c in _ALL_COLUMNS if c.key in _REQUIRED and c.key not in headers]
    if missing:
        raise ReviewFileError(
            f"Le fichier {path.name} n'est pas un fichier d'exceptions icope-bot : "
            f"colonne(s) absente(s) : {', '.join(missing)}."
        )
    identity_in_file = any(c.key in headers for c in _IDENTITY_COLUMNS)
    plans: list[_Plan] = []
    seen: dict[str, int] = {}
    for row_no, cells in rows:
        reference = _text(cells.get("reference"))
        try:
            plan = _check_row(queue, row_no, cells, seen, identity_in_file)
        except _Refused as r:
            report.refused.append(Refusal(row_no, reference, r.message))
            continue
        if plan is None:
            report.without_decision += 1
        else:
            plans.append(plan)
    if not report.refused:
        _apply(queue, plans, f"reviewer:{reviewer}", report)
    logger.info(
        "Import des décisions ({}) : {} appliquée(s), {} ligne(s) refusée(s)",
        f"reviewer:{reviewer}",
        0 if report.refused else len(plans),
        len(report.refused),
    )
    return report


def _apply(queue: WorkQueue, plans: list[_Plan], actor: str, report: ImportReport) -> None:
    failed: list[Refusal] = []

    def op(plan: _Plan) -> Callable[[WorkQueue], None]:
        def run(q: WorkQueue) -> None:
            comment = f"Commentaire du relecteur : {plan.comment}" if plan.comment else ""
            keep = plan.decision in (Decision.APPROVE, Decision.REJECT)
            details = "\n\n".join(x for x in (plan.view.details if keep else "", comment) if x)
            try:
                q.transition(
                    plan.view.reference,
                    _TARGET[plan.decision],
                    actor=actor,
                    reason=_REASONS[plan.decision],
                    details=details,
                    expect_from=[plan.view.state],
                    assessment=plan.assessment,
                    reset_attempts=plan.decision in (Decision.RETRY, Decision.FIX),
                )
            except (IllegalTransition, KeyError) as e:
                failed.append(
                    Refusal(plan.row, plan.view.reference, "l'élément a changé pendant l'import")
                )
                raise _Refused(str(e)) from e

        return run

    try:
        queue.apply_many([op(p) for p in plans])
    except _Refused:
        report.refused.extend(failed)  # the transaction rolled back: nothing applied
        return
    for p in plans:
        report.applied[p.decision].append(p.view.reference)


def _check_row(
    queue: WorkQueue,
    row_no: int,
    cells: dict[str, Any],
    seen: dict[str, int],
    identity_in_file: bool,
) -> _Plan | None:
    """The planned decision of one row, None when it has none; _Refused with the reason."""
    raw_decision = _text(cells.get("decision"))
    if not raw_decision:
        return None
    decision = _DECISION_SYNONYMS.get(raw_decision.casefold())
    if decision is None:
        raise _Refused(
            f"décision « {raw_decision} » inconnue (valeurs possibles : "
            f"{', '.join(d.value for d in Decision)})"
        )
    reference = _text(cells.get("reference"))
    if not reference:
        raise _Refused("la référence est vide")
    if reference in seen:
        raise _Refused(f"la référence apparaît déjà ligne {seen[reference]}")
    seen[reference] = row_no
    try:
        view = queue.get(reference)
    except KeyError:
        raise _Refused(
            f"référence « {reference} » inconnue : a-t-elle été modifiée ? "
            "Ne changez pas la colonne « Référence »."
        ) from None
    _check_fresh(view, cells.get("updated_at"))
    if view.state not in _ALLOWED_FROM[decision]:
        raise _Refused(_state_refusal(decision, view.state))
    assessment = None
    if decision is Decision.FIX:
        assessment = _fixed_assessment(view, cells, identity_in_file)
    return _Plan(row_no, view, decision, _text(cells.get("comment")), assessment)


def _check_fresh(view: ItemView, stamp: Any) -> None:
    """Refuse a row whose item changed after the file was exported."""
    try:
        exported = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(_text(stamp))
    except ValueError:
        raise _Refused(
            "la colonne « Dernière modification » est vide ou modifiée : réexportez le fichier"
        ) from None
    if exported.tzinfo is None:
        exported = exported.replace(tzinfo=UTC)
    if exported < view.updated_at:
        changed = view.updated_at.astimezone().strftime("%d/%m/%Y à %H:%M")
        raise _Refused(
            f"le fichier est plus ancien que la dernière modification de l'élément "
            f"(le {changed}, maintenant « {STATE_LABELS[view.state]} ») : réexportez le fichier"
        )
    if exported > view.updated_at:
        raise _Refused(
            "la colonne « Dernière modification » ne correspond pas à l'élément : "
            "elle a été modifiée ; réexportez le fichier"
        )


def _state_refusal(decision: Decision, state: ItemState) -> str:
    if state is S.INVALID:
        return (
            f"décision « {decision.value} » impossible sur une ligne invalide : "
            "corrigez-la (fix) ou rejetez-la (reject)"
        )
    return (
        f"décision « {decision.value} » impossible : l'élément est maintenant "
        f"« {STATE_LABELS[state]} »"
    )


# --- reading the file -----------------------------------------------------------------------


def _read_table(path: Path) -> tuple[set[str], list[tuple[int, dict[str, Any]]]]:
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
    keys = [_BY_HEADER.get(_norm(h)) if h is not None else None for h in header]
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
        text = data.decode("cp1252")  # saved again by an older Excel "CSV (séparateur: ;)"
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    for row in csv.reader(text.splitlines(), delimiter=delimiter):
        yield tuple(row)


def _unquote(value: Any) -> Any:
    """Undo the CSV-injection prefix on read."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


# --- fix: the corrected columns become the payload ---------------------------------------------

_TRUE = {"oui", "o", "1", "vrai", "v", "yes", "y", "true", "x"}
_FALSE = {"non", "n", "0", "faux", "f", "no", "false"}


def _parse(value: Any, col: _Col) -> Any:
    """One corrected cell → the model's value; ValueError with a French message."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    match col.kind:
        case "bool":
            if isinstance(value, bool):
                return value
            t = _text(value).casefold()
            if t in _TRUE or t in _FALSE:
                return t in _TRUE
            raise ValueError(f"« {value} » : Oui ou Non attendu")
        case "date":
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
                try:
                    return datetime.strptime(str(value), fmt).date()
                except ValueError:
                    pass
            raise ValueError(f"« {value} » : date jj/mm/aaaa attendue")
        case "int" | "number":
            if isinstance(value, int | float):
                number = float(value)
            else:
                try:
                    number = float(str(value).replace(",", ".").replace(" ", ""))
                except ValueError:
                    raise ValueError(f"« {value} » : nombre attendu") from None
            if col.kind == "int":
                if not number.is_integer():
                    raise ValueError(f"« {value} » : nombre entier attendu")
                return int(number)
            return number
        case "names":
            return tuple(p for p in re.split(r"\s*[,;]\s*|\s+", str(value)) if p)
        case "code":
            text = _text(value)
            if col.key == "identity.birth_insee" and text.isdigit() and len(text) == 4:
                text = text.zfill(5)  # Excel drops the leading 0 of 01053 when typed as a number
            return text
        case _:
            if col.key == "identity.sex":
                return str(value).upper()
            if col.key == "answers.hearing_test":
                return str(value).casefold().replace("é", "e")
            return _text(value)


def _fixed_assessment(
    view: ItemView, cells: dict[str, Any], identity_in_file: bool
) -> SelfAssessment:
    """The corrected payload of a ``fix`` row, validated; same reference."""
    if not identity_in_file and view.assessment is None:
        raise _Refused(
            "fix impossible : le fichier a été exporté sans identité (--masked) et la ligne "
            "invalide n'en a pas d'autre ; réexportez avec l'identité"
        )
    errors: list[str] = []
    data: dict[str, Any] = {
        "reference": view.reference,
        "source_id": view.assessment.source_id if view.assessment else None,
        "identity": {},
        "answers": {},
        "app_alerts": {},
    }
    if not identity_in_file:
        assert view.assessment is not None  # checked above
        data["identity"] = view.assessment.identity.model_dump()
    fix_cols = (_ASSESSED_ON, *(_IDENTITY_COLUMNS if identity_in_file else ()), *_PAYLOAD_COLUMNS)
    for col in fix_cols:
        try:
            value = _parse(cells.get(col.key), col)
        except ValueError as e:
            errors.append(f"« {col.header} » {e}")
            continue
        if value is None:
            continue  # empty: the field's default, or « valeur manquante » below
        *parents, name = col.key.split(".")
        target = data
        for p in parents:
            target = target[p]
        target[name] = value
    if not errors:
        try:
            return SelfAssessment.model_validate(data)
        except ValidationError as e:
            errors = [_french_error(err) for err in e.errors()]
    raise _Refused("correction (fix) invalide : " + " ; ".join(errors))


_HEADER_OF = {c.key: c.header for c in _ALL_COLUMNS}
_GROUP_LABELS = {
    "identity": "Identité",
    "answers": "Réponses",
    "app_alerts": "Alertes de l'application",
}


def _french_error(err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"])
    where = _HEADER_OF.get(key) or _GROUP_LABELS.get(key) or key
    ctx = err.get("ctx") or {}
    messages = {
        "missing": "valeur manquante",
        "greater_than_equal": f"doit valoir au moins {ctx.get('ge')}",
        "less_than_equal": f"doit valoir au plus {ctx.get('le')}",
        "too_short": "valeur manquante",
        "string_too_short": "valeur vide",
        "string_too_long": "texte trop long",
        "enum": f"valeur non reconnue (attendu : {ctx.get('expected')})",
    }
    if err["type"] == "value_error":
        message = str(ctx.get("error") or err["msg"])
    else:
        message = messages.get(err["type"], err["msg"])
    return f"« {where} » : {message}"
