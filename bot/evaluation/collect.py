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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, cast

import numpy as np
import pandas as pd
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from bot.errors import SystemException
from bot.evaluation.territories import Territories, place_of
from bot.icope import alerts_for
from bot.models import DOMAINS, ItemState, Step1Answers, normalize_trait
from bot.workqueue.contract import LEDGER_COLUMNS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from bot.config import Settings
    from bot.pages.mapping import TargetMapping
    from bot.workqueue import WorkQueue

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


class _Identity(TypedDict):
    sex: str
    birth_date: str
    address: NotRequired[str | None]


class _Assessment(TypedDict):
    """What the ledger reads of a stored assessment (bot.models.SelfAssessment's JSON)."""

    assessed_on: str
    identity: _Identity
    app_alerts: dict[str, Any]


class _Answers(TypedDict):
    answers: Step1Answers


class _Result(TypedDict, total=False):
    """What the ledger reads of the flow's result (bot.flows.double_entry); flat: older shape."""

    alerts: Any
    app: Any
    target: Any
    reference: Any
    step1_id: Any
    dossier_id: Any
    dry_run: Any


# pydantic-core reads each JSON text in Rust and builds only these fields: about 4 times faster
# than json.loads for 100,000 assessments, whose answers and names are never materialised.
_ASSESSMENT = TypeAdapter(_Assessment)
_ANSWERS = TypeAdapter(_Answers)
_RESULT = TypeAdapter(_Result)


def _parse(adapter: TypeAdapter[Any], texts: list[str | None]) -> list[Any]:
    read = adapter.validate_json
    return [None if t is None else read(t) for t in texts]


def _utc(values: list[Any]) -> pd.Series:
    """Times as the backends return them (ISO text on SQLite, datetimes on PostgreSQL) → UTC."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")


def _day_column(values: list[Any]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d")


def _ledger_frame(
    raw: dict[str, list[Any]], period: Period, territories: Territories
) -> pd.DataFrame:
    """The columns :meth:`WorkQueue.ledger_rows` returned → the ledger (see :func:`ledger`)."""
    received = _utc(raw["created_at"]).dt.tz_convert(None).dt.normalize()
    assessments: list[_Assessment | None] = _parse(_ASSESSMENT, raw["assessment_json"])
    # An invalid row, or a purged item: the day it was received stands for its date.
    assessed = _day_column([None if a is None else a["assessed_on"] for a in assessments])
    assessed = assessed.fillna(received)
    inside = assessed.between(pd.Timestamp(period.start), pd.Timestamp(period.end)).to_numpy()
    # Only the period's items are read further: a short period costs little.
    keep = np.flatnonzero(inside)
    raw = {name: [values[n] for n in keep] for name, values in raw.items()}
    assessments = [assessments[n] for n in keep]
    assessed = assessed[inside].reset_index(drop=True)
    received = received[inside].reset_index(drop=True)
    identities = [None if a is None else a["identity"] for a in assessments]

    # Age on the assessment day, vectorised (bot.models.SelfAssessment.age_on_assessment).
    born = _day_column([None if i is None else i["birth_date"] for i in identities])
    not_yet = (assessed.dt.month < born.dt.month) | (
        (assessed.dt.month == born.dt.month) & (assessed.dt.day < born.dt.day)
    )
    age = assessed.dt.year - born.dt.year - not_yet.astype(int)
    bands = {n: age_band(int(n)) for n in age.dropna().unique()}
    places: dict[str | None, str] = {}
    for i in identities:  # one address a person, a few hundred communes: each parsed once
        address = None if i is None else i.get("address")
        if i is not None and address not in places:
            postcode, commune = place_of(address)
            places[address] = territories.of(commune, postcode)

    results: list[_Result] = [r or _Result() for r in _parse(_RESULT, raw["result_json"])]
    sources: dict[str, list[dict[str, Any] | None]] = {key: [] for key in _RESULT_KEYS}
    picked = [(sources[key].append, name) for key, name in _RESULT_KEYS.items()]
    for r in results:  # one pass, three columns
        # The flow stores the alerts under "alerts"; a flat result (older shape) is read too.
        nested = r.get("alerts")
        found: Any = nested if isinstance(nested, dict) else r
        for append, name in picked:
            alerts = found.get(name)
            append(alerts if isinstance(alerts, dict) else None)
    # The flow may have stopped before comparing: the app's alerts and the rules are known.
    ages = age.to_numpy()
    for n, a in enumerate(assessments):
        if a is None:
            continue
        if sources["app"][n] is None:
            sources["app"][n] = a["app_alerts"]
        if sources["rules"][n] is None:  # items not run yet only: a few, validated one by one
            answers = _ANSWERS.validate_json(raw["assessment_json"][n])["answers"]
            sources["rules"][n] = alerts_for(answers, age=int(ages[n])).as_dict()

    entered = pd.Series(
        [bool(r.get("step1_id")) and not r.get("dry_run") for r in results], dtype=bool
    )
    decisions = {state.value: label for state, label in DECISIONS.items()}
    df = pd.DataFrame(
        {
            "reference": raw["reference"],
            "state": raw["state"],
            "error_code": [c or "" for c in raw["error_code"]],
            "reason": raw["reason"],
            "received_on": received.dt.date,
            "purged": [t is not None for t in raw["purged_at"]],
            "assessed_on": assessed,
            "sex": ["" if i is None else i["sex"] for i in identities],
            "age_band": age.map(bands).fillna(""),
            "territory": [
                territories.outside if i is None else places[i.get("address")] for i in identities
            ],
            "step1_id": [
                str(r["step1_id"]) if e else "" for r, e in zip(results, entered, strict=True)
            ],
            "dossier_id": [str(r.get("dossier_id") or "") for r in results],
            "entered": entered,
            "entered_at": _utc(raw["entered_at"]).where(entered),
            "review_at": _utc(raw["review_at"]),
            "decided_at": _utc(raw["decided_at"]),
            "decision": [decisions.get(s, "") for s in raw["decided_to"]],
        }
    )
    alerts = [
        pd.DataFrame.from_records([a or {} for a in said], columns=list(DOMAINS))
        .astype("boolean")
        .add_prefix(f"{key}_")
        for key, said in sources.items()
    ]
    df = cast(pd.DataFrame, pd.concat([df, *alerts], axis=1))
    df["month"] = df["assessed_on"].dt.strftime("%Y-%m")
    return df


def ledger(queue: WorkQueue, period: Period, territories: Territories) -> pd.DataFrame:
    """One row per item whose self-assessment (or, without one, reception) is in the period.

    Columns: ``reference``, ``state``, ``error_code``, ``reason``, ``received_on``, ``purged``,
    ``assessed_on``, ``sex``, ``age_band``, ``territory``, ``step1_id``, ``dossier_id``,
    ``entered``, ``entered_at``, ``review_at``, ``decided_at``, ``decision``, the alerts
    ``<source>_<domain>`` (nullable booleans) and ``month``. The queue is read in one query
    (:meth:`WorkQueue.ledger_rows`) and each JSON text parsed once, with no model validation
    but for the rules of the items the flow has not compared yet.
    """
    rows = queue.ledger_rows()
    columns = zip(*rows, strict=True) if rows else ([] for _ in LEDGER_COLUMNS)
    raw = {name: list(values) for name, values in zip(LEDGER_COLUMNS, columns, strict=True)}
    return _ledger_frame(raw, period, territories)


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
        header = next(csv.reader(f, delimiter=";"), [])
    missing = [text for text in columns.values() if text not in header]
    if missing:
        raise SystemException(
            f"L'export des évaluations de l'e-parcours n'a pas la ou les colonnes "
            f"{', '.join(missing)} : l'outil a peut-être changé.",
            code="export_unreadable",
        )
    # pandas's C parser, the needed columns only, every cell as text ("" when empty).
    raw = pd.read_csv(
        path,
        sep=";",
        encoding="utf-8-sig",
        dtype=str,
        keep_default_na=False,
        usecols=list(columns.values()),
    ).rename(columns={text: key for key, text in columns.items()})
    kinds = _reverse(exports.file_values)
    modes = _reverse(mapping.step1.options["mode"])
    domains = _reverse(mapping.evaluation.alerts.domains)

    def each_value(column: pd.Series, read: Callable[[str], Any]) -> pd.Series:
        """``read`` once per distinct cell (a handful of types, modes, domain lists)."""
        return column.map({v: read(v) for v in column.unique()})

    place = raw["commune"] + "\t" + raw["postcode"]  # a postcode has no tab
    df = pd.DataFrame(
        {
            "evaluation": raw["evaluation"].str.strip(),
            "dossier": raw["dossier"].str.strip(),
            "kind": each_value(raw["type"], lambda s: kinds.get(normalize_trait(s), "")),
            "date": pd.to_datetime(raw["date"], format=mapping.formats.date, errors="coerce"),
            "mode": each_value(raw["mode"], lambda s: modes.get(normalize_trait(s), "")),
            "rpps": raw["rpps"].str.strip(),
            "territory": each_value(place, lambda s: territories.of(*s.rsplit("\t", 1))),
        }
    )
    for column, prefix in (("alerts", "alert"), ("domains", "step2")):
        sets = {
            v: {domains.get(normalize_trait(x)) for x in v.split(",") if x.strip()}
            for v in raw[column].unique()
        }
        for d in DOMAINS:
            df[f"{prefix}_{d}"] = raw[column].map({v: d in found for v, found in sets.items()})
    df = df[df["kind"] != ""].dropna(subset=["date"]).reset_index(drop=True)
    df["month"] = df["date"].dt.strftime("%Y-%m")
    return df
