"""The reviewer's decisions back in: every row checked, then all applied in one transaction, or none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

# Reused from ingest: cells are read with the export's own rules and synonyms.
from bot.ingest import (
    FIELD_KINDS,
    MAX_CELL_CHARS,
    SKIP,
    _cell_text,
    _CellReader,
    _name_errors,
    _why,
    load_mapping,
    scrub_cell,
)
from bot.logs import local_text, logger
from bot.models import ItemState, NameRules, SelfAssessment
from bot.review.export import values_from_raw
from bot.review.files import read_table
from bot.review.layout import (
    ALL_COLUMNS,
    ASSESSED_ON,
    IDENTITY_COLUMNS,
    PAYLOAD_COLUMNS,
    REQUIRED_KEYS,
    REVIEW_STATES,
    Decision,
    ReviewFileError,
)
from bot.workqueue import STATE_LABELS, IllegalTransition, ItemView, WorkQueue

__all__ = ["ImportReport", "Refusal", "import_decisions"]

S = ItemState

_DECISION_SYNONYMS: dict[str, Decision] = {
    **{d.value: d for d in Decision},
    "approuver": Decision.APPROVE,
    # The English words of earlier files (approve/retry/reject/fix) still read.
    "approve": Decision.APPROVE,
    "retry": Decision.RETRY,
    "reject": Decision.REJECT,
    "fix": Decision.FIX,
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
            target, reason = _TARGET[plan.decision], _REASONS[plan.decision]
            conflict = plan.view.conflict
            if conflict is not None and plan.decision is not Decision.REJECT:
                # A conflict: "valider"/"relancer" keep the queued version, "corriger" takes
                # the file's columns (the new version, as exported). Not entered yet: enter it.
                target, reason = _conflict_outcome(plan.decision, conflict.entered)
            try:
                q.transition(
                    plan.view.reference,
                    target,
                    actor=actor,
                    reason=reason,
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


def _conflict_outcome(decision: Decision, entered: bool) -> tuple[ItemState, str]:
    """Where a conflicting item goes on a decision, and the history's reason."""
    if decision is Decision.FIX:
        return S.PENDING, "Conflit tranché par le relecteur : la nouvelle version est saisie"
    if decision is Decision.APPROVE and entered:
        return S.APPROVED, "Conflit tranché par le relecteur : l'ancienne version est gardée"
    return S.PENDING, "Conflit tranché par le relecteur : l'ancienne version est saisie"


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
        changed = local_text(view.updated_at, "%d/%m/%Y à %H:%M")
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
            "corrigez-la (corriger) ou rejetez-la (rejeter)"
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
            "« corriger » impossible : le fichier a été exporté sans identité (--masked) et la ligne "
            "invalide n'en a pas d'autre ; réexportez avec l'identité"
        )
    data: dict[str, Any] = {
        "reference": view.reference,
        "source_id": (
            view.assessment.source_id
            if view.assessment
            else values_from_raw(view.raw).get("source_id")
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
        # The same checks as an export's cells: invisible characters, sizes, then the value.
        text, why = scrub_cell(_cell_text(cells.get(col.key)), MAX_CELL_CHARS)
        value, unread = reader.read(FIELD_KINDS[col.key], text)
        why = why or unread
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
        # What ingestion refuses, a correction cannot bring in: names the target would refuse
        # or showing a wrong encoding, a person under ICOPE's age (reject the row instead).
        for key, why in _name_errors(data, NameRules()):
            problems.append(f"« {_HEADER_OF.get(key, key)} » : {why}")
        if concern := assessment.out_of_programme():
            problems.append(
                f"« {_HEADER_OF.get('identity.birth_date', 'Date de naissance')} » : {concern} ; "
                "si la ligne ne relève pas d'ICOPE, rejetez-la (reject)"
            )
        if not problems:
            return assessment
    raise _Refused("correction (corriger) invalide : " + " ; ".join(problems))


_HEADER_OF = {c.key: c.header for c in ALL_COLUMNS}
_GROUP_LABELS = {
    "identity": "Identité",
    "answers": "Réponses",
    "app_alerts": "Alertes de l'application",
}
