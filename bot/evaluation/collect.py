"""Collect: the queue's ledger and the e-parcours's evaluations export, as two pandas tables.

- :func:`ledger` — one row per work item of the period: state, dates (self-assessment, entry,
  review, decision), territory, age band and sex, and the alerts of each domain by source
  (``app_<domain>``, ``target_<domain>``, ``rules_<domain>``: True / False / missing).
- :func:`download_evaluations` — the e-parcours's evaluations CSV, downloaded through its
  Exports page in Chromium as a person would, into the private reports folder.
- :func:`read_evaluations` — that file as a table (``kind``, ``date``, ``mode``, ``dossier``,
  ``evaluation``, ``rpps``, ``territory``, ``alert_<domain>``, ``step2_<domain>``), its column
  names, type cells, modes and domain names read from the target mapping, not from the code.

No name, birth date or address leaves this module: the tables hold references, dates of
assessment, territory, age band and sex only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bot.errors import SystemException
from bot.evaluation.territories import Territories, place_of
from bot.icope import alerts_for
from bot.models import DOMAINS, ItemState, normalize_trait

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from bot.config import Settings
    from bot.pages.mapping import TargetMapping
    from bot.workqueue import HistoryEntry, ItemView, WorkQueue

__all__ = [
    "SOURCES",
    "Period",
    "age_band",
    "download_evaluations",
    "ledger",
    "read_evaluations",
]

S = ItemState
#: The three sources of alerts, as the report names them.
SOURCES: dict[str, str] = {"app": "ICOPE et Moi", "target": "e-parcours", "rules": "Règles"}
_RESULT_KEYS = {"app": "app", "target": "target", "rules": "reference"}
#: A reviewer's move out of "à vérifier" / "en échec", by the state it leads to.
DECISIONS: dict[ItemState, str] = {
    S.APPROVED: "validé",
    S.REJECTED: "rejeté",
    S.PENDING: "renvoyé en ressaisie",
}


@dataclass(frozen=True)
class Period:
    """The evaluation period, both days included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"la fin de période ({self.end:%d/%m/%Y}) précède son début ({self.start:%d/%m/%Y})"
            )

    @property
    def slug(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    def label(self) -> str:
        return f"du {self.start:%d/%m/%Y} au {self.end:%d/%m/%Y}"


def age_band(age: int) -> str:
    """60–64, 65–69, …, 90 et plus; "moins de 60" below."""
    if age < 60:
        return "moins de 60 ans"
    if age >= 90:
        return "90 ans et plus"
    low = age - age % 5
    return f"{low}–{low + 4} ans"


# --- the queue's ledger ----------------------------------------------------------------------


def _day(t: datetime) -> date:
    return t.astimezone(UTC).date()


def _row(v: ItemView, history: list[HistoryEntry], territories: Territories) -> dict[str, Any]:
    a = v.assessment
    result = v.result or {}
    sources: dict[str, dict[str, Any] | None] = {k: None for k in SOURCES}
    # The flow stores them under "alerts"; a flat result (older shape) is read too.
    nested = result.get("alerts")
    found: dict[str, Any] = nested if isinstance(nested, dict) else result
    for key, stored in _RESULT_KEYS.items():
        if isinstance(found.get(stored), dict):
            sources[key] = found[stored]
    row: dict[str, Any] = {
        "reference": v.reference,
        "state": v.state.value,
        "error_code": v.error_code or "",
        "reason": v.reason,
        "received_on": _day(v.created_at),
        "purged": v.purged_at is not None,
    }
    if a is not None:
        postcode, commune = place_of(a.identity.address)
        row |= {
            "assessed_on": a.assessed_on,
            "sex": a.identity.sex.value,
            "age_band": age_band(a.age_on_assessment()),
            "territory": territories.of(commune, postcode),
        }
        # The flow may have stopped before comparing: the app's alerts and the rules are known.
        if sources["app"] is None:
            sources["app"] = a.app_alerts.as_dict()
        if sources["rules"] is None:
            sources["rules"] = alerts_for(a.answers, age=a.age_on_assessment()).as_dict()
    else:  # an invalid row, or a purged item: the day it was received stands for its date
        row |= {
            "assessed_on": _day(v.created_at),
            "sex": "",
            "age_band": "",
            "territory": territories.outside,
        }
    step1_id = result.get("step1_id")
    entered = bool(step1_id) and not result.get("dry_run")
    row["step1_id"] = str(step1_id) if entered else ""
    row["dossier_id"] = str(result.get("dossier_id") or "")
    row["entered"] = entered
    row["entered_at"] = None
    row["review_at"] = None
    row["decided_at"] = None
    row["decision"] = ""
    for h in history:
        if h.event != "transition":
            continue
        if h.from_state is S.IN_PROGRESS and h.to_state in (S.DONE, S.NEEDS_REVIEW):
            row["entered_at"] = h.at  # the run that ended last is the one that entered it
        if h.to_state is S.NEEDS_REVIEW and row["review_at"] is None:
            row["review_at"] = h.at
        if h.actor.startswith("reviewer:") and h.to_state in DECISIONS:
            row["decided_at"], row["decision"] = h.at, DECISIONS[h.to_state]
    if not entered:
        row["entered_at"] = None
    for key, alerts in sources.items():
        for d in DOMAINS:
            row[f"{key}_{d}"] = None if alerts is None else alerts.get(d)
    return row


_LEDGER_COLUMNS = [
    "reference",
    "state",
    "error_code",
    "reason",
    "received_on",
    "purged",
    "assessed_on",
    "sex",
    "age_band",
    "territory",
    "step1_id",
    "dossier_id",
    "entered",
    "entered_at",
    "review_at",
    "decided_at",
    "decision",
    *(f"{k}_{d}" for k in SOURCES for d in DOMAINS),
]


def ledger(queue: WorkQueue, period: Period, territories: Territories) -> pd.DataFrame:
    """One row per item whose self-assessment (or, without one, reception) is in the period."""
    histories = queue.histories()
    rows = [_row(v, histories.get(v.reference, []), territories) for v in queue.items()]
    df = pd.DataFrame(rows, columns=_LEDGER_COLUMNS)
    df["assessed_on"] = pd.to_datetime(df["assessed_on"])
    for column in ("entered_at", "review_at", "decided_at"):
        df[column] = pd.to_datetime(df[column], utc=True)
    for column in _LEDGER_COLUMNS[-3 * len(DOMAINS) :]:
        df[column] = df[column].astype("boolean")
    inside = df["assessed_on"].between(pd.Timestamp(period.start), pd.Timestamp(period.end))
    df = df[inside].reset_index(drop=True)
    df["month"] = df["assessed_on"].dt.strftime("%Y-%m")
    return df


# --- the e-parcours's export -------------------------------------------------------------------


def download_evaluations(settings: Settings, dest: Path, *, browser: Browser | None = None) -> Path:
    """Log in, open Exports from the menu, download the evaluations CSV into ``dest`` (a file)."""
    from playwright.sync_api import sync_playwright

    from bot.browser import launch_chromium
    from bot.pages.exports import open_exports
    from bot.pages.session import TargetSession

    def fetch(b: Browser) -> Path:
        context = b.new_context(accept_downloads=True)
        try:
            session = TargetSession(context, settings)
            return open_exports(session).download("evaluations_csv", dest)
        finally:
            context.close()

    if browser is not None:
        return fetch(browser)
    with sync_playwright() as p:
        launched = launch_chromium(p, headed=settings.headed, slow_mo_ms=settings.slow_mo_ms)
        try:
            return fetch(launched)
        finally:
            launched.close()


def _reverse(texts: dict[str, str]) -> dict[str, str]:
    return {normalize_trait(v): k for k, v in texts.items()}


def read_evaluations(path: Path, mapping: TargetMapping, territories: Territories) -> pd.DataFrame:
    """The evaluations CSV as a table; SystemException ``export_unreadable`` when it is not it."""
    exports = mapping.exports
    if exports is None or not exports.file_columns or not exports.file_values:
        raise SystemException(
            "Le fichier de correspondance de la cible ne décrit pas l'export des évaluations "
            "(exports.file_columns, exports.file_values).",
            code="mapping_invalid",
        )
    columns = exports.file_columns
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = next(reader, [])
        missing = [text for text in columns.values() if text not in header]
        if missing:
            raise SystemException(
                f"L'export des évaluations de l'e-parcours n'a pas la ou les colonnes "
                f"{', '.join(missing)} : l'outil a peut-être changé.",
                code="export_unreadable",
            )
        raw = pd.DataFrame(list(reader), columns=header, dtype="string")
    raw = raw.rename(columns={text: key for key, text in columns.items()})
    kinds = _reverse(exports.file_values)
    modes = _reverse(mapping.step1.options["mode"])
    domains = _reverse(mapping.evaluation.alerts.domains)
    df = pd.DataFrame(
        {
            "evaluation": raw["evaluation"].str.strip(),
            "dossier": raw["dossier"].str.strip(),
            "kind": raw["type"].map(lambda s: kinds.get(normalize_trait(s or ""), "")),
            "date": pd.to_datetime(raw["date"], format=mapping.formats.date, errors="coerce"),
            "mode": raw["mode"].map(lambda s: modes.get(normalize_trait(s or ""), "")),
            "rpps": raw["rpps"].str.strip(),
            "territory": [
                territories.of(c or "", p or "")
                for c, p in zip(raw["commune"], raw["postcode"], strict=True)
            ],
        }
    )
    for column, prefix in (("alerts", "alert"), ("domains", "step2")):
        sets = (
            raw[column]
            .fillna("")
            .map(lambda s: {domains.get(normalize_trait(x)) for x in s.split(",") if x.strip()})
        )
        for d in DOMAINS:
            df[f"{prefix}_{d}"] = sets.map(lambda found, d=d: d in found)
    df = df[df["kind"] != ""].dropna(subset=["date"]).reset_index(drop=True)
    df["month"] = df["date"].dt.strftime("%Y-%m")
    return df
