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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot._review_file import (
    ALL_COLUMNS,
    ASSESSED_ON,
    DISCORDANT,
    IDENTITY_COLUMNS,
    PAYLOAD_COLUMNS,
    REQUIRED_KEYS,
    Decision,
    ReviewFileError,
    free_stem,
    layout,
    read_table,
    uri,
    write_csv,
    write_private,
    write_xlsx,
)
from bot.evidence import private_dir
from bot.icope import alerts_for

# Reused from ingest: cells are read with the export's own rules and synonyms.
from bot.ingest import (
    FIELD_KINDS,
    SKIP,
    _cell_text,
    _CellReader,
    _why,
    load_mapping,
    normalize_header,
)
from bot.logs import logger
from bot.models import DOMAINS, ItemState, SelfAssessment
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
    columns = layout(with_identity)
    rows = [_row(v, with_identity) for v in views]
    private_dir(out_dir)
    stem = free_stem(out_dir, f"exceptions-{(today or date.today()).isoformat()}")
    xlsx, csv_path = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.csv"
    write_private(xlsx, lambda tmp: write_xlsx(tmp, columns, rows))
    write_private(csv_path, lambda tmp: write_csv(tmp, columns, rows))
    by_state = {s: sum(v.state == s for v in views) for s in REVIEW_STATES}
    logger.info(
        "Fichier des exceptions {} : {} élément(s) ({})",
        stem,
        len(views),
        ", ".join(f"{s.value} {n}" for s, n in by_state.items()),
    )
    return ExportResult(xlsx=xlsx, csv=csv_path, count=len(views), by_state=by_state)


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
        "evidence_more": "\n".join(uri(p) for p in v.evidence[1:]),
        "decision": None,
        "comment": None,
        "origin": f"{Path(v.source).name}, ligne {v.row}" if v.source else None,
        "updated_at": v.updated_at.isoformat(timespec="microseconds"),
    }
    row.update({f"alerts.{d}": text for d, text in _alert_cells(v).items()})
    row.update({k: val for k, val in fix.items() if k != "assessed_on"})
    return row


def _usager(fix: dict[str, Any], with_identity: bool) -> str:
    name = str(fix.get("identity.birth_name") or "").strip()
    names = str(fix.get("identity.first_names") or "").strip()
    first = re.split(load_mapping().names_separator, names)[0] if names else ""
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
        for col in (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS):
            value: Any = data
            for part in col.key.split("."):
                value = value[part]
            values[col.key] = _plain(value)
        return values
    return _from_raw(v.raw)


def _plain(value: Any) -> Any:
    """Model value → what a reviewer reads: Oui/Non, names joined, enums as their text."""
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def _from_raw(raw: dict[str, str] | None) -> dict[str, Any]:
    """An invalid row's cells as exported, by field, found as ingest finds them (aliases too)."""
    matchers = load_mapping().matchers()
    values: dict[str, Any] = {}
    for header, cell in (raw or {}).items():
        key = matchers.get(normalize_header(header))
        if key is not None and key not in values:
            values[key] = cell
    return values


_ALERT_WORDS: dict[bool | None, str] = {True: "alerte", False: "pas d'alerte", None: "non lu"}


def _alert_cells(v: ItemView) -> dict[str, str]:
    """Per domain: "app : alerte / e-parcours : pas d'alerte / règle : alerte", marked when they differ."""
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
    cells: dict[str, str] = {}
    for d in DOMAINS:
        seen = {n: (s or {}).get(d) for n, s in sources.items()}
        parts = [f"{labels[n]} : {_ALERT_WORDS[x]}" for n, x in seen.items()]
        known = {x for x in seen.values() if x is not None}
        cells[d] = (DISCORDANT if len(known) > 1 else "") + " / ".join(parts)
    return cells


# --- import ------------------------------------------------------------------------------------


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
    headers, rows = read_table(path)
    missing = [c.header for c in ALL_COLUMNS if c.key in REQUIRED_KEYS and c.key not in headers]
    if missing:
        raise ReviewFileError(
            f"Le fichier {path.name} n'est pas un fichier d'exceptions icope-bot : "
            f"colonne(s) absente(s) : {', '.join(missing)}."
        )
    identity_in_file = any(c.key in headers for c in IDENTITY_COLUMNS)
    plans: list[_Plan] = []
    seen: dict[str, int] = {}
    for row_no, cells in rows:
        reference = _cell_text(cells.get("reference")).strip()
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
    raw_decision = _cell_text(cells.get("decision")).strip()
    if not raw_decision:
        return None
    decision = _DECISION_SYNONYMS.get(raw_decision.casefold())
    if decision is None:
        raise _Refused(
            f"décision « {raw_decision} » inconnue (valeurs possibles : "
            f"{', '.join(d.value for d in Decision)})"
        )
    reference = _cell_text(cells.get("reference")).strip()
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
    return _Plan(row_no, view, decision, _cell_text(cells.get("comment")).strip(), assessment)


def _check_fresh(view: ItemView, stamp: Any) -> None:
    """Refuse a row whose item changed after the file was exported."""
    try:
        exported = (
            stamp
            if isinstance(stamp, datetime)
            else datetime.fromisoformat(_cell_text(stamp).strip())
        )
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


# --- fix: the corrected columns become the payload ---------------------------------------------
# Cells are read exactly as an export's cells are (bot/ingest.py, with the synonyms of
# mappings/icope_et_moi.yaml), so "Oui", "O", "16,5" or "Non réalisé" mean the same in both.


def _fixed_assessment(
    view: ItemView, cells: dict[str, Any], identity_in_file: bool
) -> SelfAssessment:
    """The corrected payload of a ``fix`` row, validated; same reference."""
    if not identity_in_file and view.assessment is None:
        raise _Refused(
            "fix impossible : le fichier a été exporté sans identité (--masked) et la ligne "
            "invalide n'en a pas d'autre ; réexportez avec l'identité"
        )
    data: dict[str, Any] = {
        "reference": view.reference,
        "source_id": (
            view.assessment.source_id if view.assessment else _from_raw(view.raw).get("source_id")
        ),
        "identity": {},
        "answers": {},
        "app_alerts": {},
    }
    if not identity_in_file:
        assert view.assessment is not None  # checked above
        data["identity"] = view.assessment.identity.model_dump()
    reader = _CellReader(load_mapping())
    problems: list[str] = []
    unreadable: set[str] = set()
    for col in (ASSESSED_ON, *(IDENTITY_COLUMNS if identity_in_file else ()), *PAYLOAD_COLUMNS):
        value, why = reader.read(FIELD_KINDS[col.key], _cell_text(cells.get(col.key)))
        if why:
            problems.append(f"« {col.header} » : {why}")
            unreadable.add(col.key)
        elif value is not SKIP:  # an empty cell: the field's default, or "vide" below
            *parents, name = col.key.split(".")
            target = data
            for part in parents:
                target = target[part]
            target[name] = value
    try:
        assessment = SelfAssessment.model_validate(data)
    except ValidationError as e:
        for err in e.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] != "missing" or key not in unreadable:  # else already explained
                where = _HEADER_OF.get(key) or _GROUP_LABELS.get(key, key)
                problems.append(f"« {where} » : {_why(err)}")
    else:
        if not problems:
            return assessment
    raise _Refused("correction (fix) invalide : " + " ; ".join(problems))


_HEADER_OF = {c.key: c.header for c in ALL_COLUMNS}
_GROUP_LABELS = {
    "identity": "Identité",
    "answers": "Réponses",
    "app_alerts": "Alertes de l'application",
}
