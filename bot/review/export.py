"""The review file out: every item a person must look at, with what each source said."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.errors import what_to_do
from bot.evidence import free_stem, private_dir, write_private
from bot.icope import alerts_for

# Reused from ingest: cells are read with the export's own rules and synonyms.
from bot.ingest import (
    FIELD_KINDS,
    SKIP,
    Progress,
    _CellReader,
    load_mapping,
    normalize_header,
)
from bot.logs import logger
from bot.models import DOMAINS, ItemState, SelfAssessment
from bot.review.files import uri, write_csv, write_xlsx
from bot.review.layout import (
    ASSESSED_ON,
    DISCORDANT,
    IDENTITY_COLUMNS,
    PAYLOAD_COLUMNS,
    REVIEW_STATES,
    layout,
)
from bot.workqueue import STATE_LABELS, ItemView, WorkQueue

__all__ = ["INFO_DAYS", "ExportResult", "export_exceptions", "values_from_raw"]

S = ItemState

#: The Informations sheet lists the identity details that differed in the last INFO_DAYS days:
#: nothing is to decide there, so older ones would only pile up in every new file.
INFO_DAYS = 30

# --- export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    xlsx: Path
    csv: Path
    count: int  # items listed
    by_state: dict[ItemState, int]
    informations: int = 0  # rows of the Informations sheet (identity details, no decision)


def export_exceptions(
    queue: WorkQueue,
    out_dir: Path,
    *,
    with_identity: bool = True,
    today: date | None = None,
    progress: Progress | None = None,
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
    rows = []
    for n, v in enumerate(views, start=1):
        rows.append(_row(v, with_identity))
        if progress is not None and (n % 1_000 == 0 or n == len(views)):
            progress("Préparation des lignes", n, len(views))
    private_dir(out_dir)
    stem = free_stem(
        out_dir, f"exceptions-{(today or date.today()).isoformat()}", (".xlsx", ".csv")
    )
    xlsx, csv_path = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.csv"
    informations = _informations(queue, views, with_identity)
    write_private(
        xlsx,
        lambda tmp: write_xlsx(tmp, columns, rows, informations=informations, progress=progress),
    )
    write_private(csv_path, lambda tmp: write_csv(tmp, columns, rows))
    by_state = {s: sum(v.state == s for v in views) for s in REVIEW_STATES}
    logger.info(
        "Fichier des exceptions {} : {} élément(s) ({})",
        stem,
        len(views),
        ", ".join(f"{s.value} {n}" for s, n in by_state.items()),
    )
    return ExportResult(
        xlsx=xlsx,
        csv=csv_path,
        count=len(views),
        by_state=by_state,
        informations=len(informations),
    )


def _row(v: ItemView, with_identity: bool) -> dict[str, Any]:
    """One item as typed cell values keyed by column key (formatting happens per file type)."""
    fix = _payload_values(v)
    details = _details(v)
    if v.conflict is not None:
        # The correctable columns carry the NEW version: "corriger" applies it (edited or not),
        # "valider" keeps the queued one. The details put both side by side, field by field.
        fix = _assessment_values(v.conflict.assessment)
        details = "\n\n".join(x for x in (_conflict_text(v, with_identity), v.details) if x)
    row: dict[str, Any] = {
        "reference": v.reference,
        "usager": _usager(fix, with_identity),
        "assessed_on": fix.get("assessed_on"),
        "state": STATE_LABELS[v.state],
        "reason": _reason(v),
        "details": details,
        "evidence": v.evidence[0] if v.evidence else None,
        "evidence_more": "\n".join(uri(p) for p in v.evidence[1:]),
        "decision": None,
        "comment": None,
        "origin": _origin(v.source, v.row) if v.source else None,
        "updated_at": v.updated_at.isoformat(timespec="microseconds"),
    }
    row.update({f"alerts.{d}": text for d, text in _alert_cells(v).items()})
    row.update({k: val for k, val in fix.items() if k != "assessed_on"})
    return row


def _reason(v: ItemView) -> str:
    """The reason, then what to do about it (:data:`bot.errors.CODES`)."""
    # A row quarantined at ingestion carries its reasons but no code: it is an invalid row.
    code = v.error_code or ("invalid_row" if v.state is ItemState.INVALID else None)
    action = what_to_do(code)
    return f"{v.reason}\nQue faire : {action}" if action else v.reason


def _details(v: ItemView) -> str | None:
    """The item's details; for an invalid row, also the cells left empty as unreadable, with the
    text the export held, for the reviewer to correct."""
    unreadable = unreadable_cells(v.raw) if v.assessment is None else []
    if not unreadable:
        return v.details
    lines = "\n".join(f"  {cell}" for cell in unreadable)
    return "\n".join(
        p for p in (v.details, f"Cellules illisibles de l'export (laissées vides) :\n{lines}") if p
    )


def _informations(
    queue: WorkQueue, views: list[ItemView], with_identity: bool
) -> list[dict[str, Any]]:
    """One row per used trait or contact detail the export gives otherwise than the dossier.

    Done items too: they went through (the strict traits matched), a person should still know.
    Without identity, the values are left out and only the trait is named.
    """
    since = datetime.now(UTC) - timedelta(days=INFO_DAYS)
    done = [v for v in queue.items([S.DONE]) if v.updated_at >= since]
    out = []
    for v in sorted([*views, *done], key=lambda v: (v.created_at, v.reference)):
        infos = (v.result or {}).get("identity_info") or []
        for info in infos:
            out.append(
                {
                    "reference": v.reference,
                    "usager": _usager(_payload_values(v), with_identity),
                    "state": STATE_LABELS[v.state],
                    "dossier": (v.result or {}).get("dossier_id"),
                    "label": info.get("label"),
                    "kind": info.get("kind"),
                    "export": info.get("export") if with_identity else None,
                    "in_dossier": (info.get("dossier") or "(vide)") if with_identity else None,
                }
            )
    return out


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
        return _assessment_values(v.assessment)
    return values_from_raw(v.raw)


def _assessment_values(assessment: SelfAssessment) -> dict[str, Any]:
    data = assessment.model_dump(mode="python")
    values: dict[str, Any] = {"assessed_on": data["assessed_on"]}
    for col in (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS):
        value: Any = data
        for part in col.key.split("."):
            value = value[part]
        values[col.key] = _plain(value)
    return values


def _conflict_text(v: ItemView, with_identity: bool) -> str:
    """Both versions of a conflicting item, one line per field that differs."""
    conflict, queued = v.conflict, v.assessment
    assert conflict is not None  # called for conflicting items only
    assert queued is not None  # a conflict is stored beside a valid payload
    old, new = _assessment_values(queued), _assessment_values(conflict.assessment)
    lines = [
        "Deux versions de cette auto-évaluation "
        f"(en file : {_origin(v.source, v.row)} ; nouvelle : {_origin(conflict.source, conflict.row)}) :"
    ]
    hidden = False
    for col in (ASSESSED_ON, *IDENTITY_COLUMNS, *PAYLOAD_COLUMNS):
        if old.get(col.key) == new.get(col.key):
            continue
        if col in IDENTITY_COLUMNS and not with_identity:
            hidden = True  # a masked file names no identity, not even in the differences
            continue
        lines.append(
            f"{col.header} : en file « {_shown(old.get(col.key))} » / "
            f"nouvelle « {_shown(new.get(col.key))} »"
        )
    if hidden:
        lines.append("Identité : différente (fichier masqué : voir le fichier avec identité)")
    return "\n".join(lines)


def _origin(source: str | None, row: int | None) -> str:
    name = Path(source).name if source else "?"
    return name + (f", ligne {row}" if row is not None else "")


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "vide"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, float):
        return format(value, "g").replace(".", ",")
    return str(value)


def _plain(value: Any) -> Any:
    """Model value → what a reviewer reads: Oui/Non, names joined, enums as their text."""
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def values_from_raw(raw: dict[str, str] | None) -> dict[str, Any]:
    """An invalid row's cells, by field, found as ingest finds them (aliases too), typed as a
    valid row's: a date column holds dates and a number column numbers on every row.

    A cell ingest cannot read is left empty (a text among dates would break the reviewer's sorting
    and filters); :func:`unreadable_cells` lists them for the row's details. Text fields keep the
    exported text.
    """
    return _typed_raw(raw)[0]


def unreadable_cells(raw: dict[str, str] | None) -> list[str]:
    """« header » : text, for each cell of an invalid row left empty because unreadable."""
    return _typed_raw(raw)[1]


def _typed_raw(raw: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    mapping = load_mapping()
    matchers = mapping.matchers()
    reader = _CellReader(mapping)
    values: dict[str, Any] = {}
    unreadable: list[str] = []
    for header, cell in (raw or {}).items():
        key = matchers.get(normalize_header(header))
        if key is None or key in values:
            continue
        kind = FIELD_KINDS.get(key, "text")
        if kind in ("text", "insee", "ins"):
            values[key] = cell
            continue
        value, why = reader.read(kind, str(cell or ""))
        if why is not None or value is SKIP:
            values[key] = None
            if why is not None:
                unreadable.append(f"« {header} » : {cell}")
        elif kind == "domains":  # one cell listing the alerted domains: one column each here
            values.update({f"app_alerts.{d}": _plain(bool(value[d])) for d in DOMAINS})
        else:
            values[key] = _plain(value)
    return values, unreadable


_ALERT_WORDS: dict[bool | None, str] = {True: "alerte", False: "pas d'alerte", None: "non lu"}


def _alert_cells(v: ItemView) -> dict[str, str]:
    """Per domain: "app : alerte / e-parcours : pas d'alerte / règle : alerte", marked when they differ."""
    sources: dict[str, dict[str, bool] | None] = {"app": None, "target": None, "reference": None}
    # The flow records the alerts by source under result["alerts"] (Concordance.as_result()),
    # None until it has read the target's panel.
    found = (v.result or {}).get("alerts")
    for name in sources:
        if isinstance(found, dict) and isinstance(found.get(name), dict):
            sources[name] = found[name]
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
