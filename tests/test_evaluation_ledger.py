"""The queue's ledger as the evaluation reads it: histories in one read, review delays, results."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.config import Settings
from bot.evaluation import Period
from bot.evaluation.collect import DECISIONS, age_band, ledger
from bot.evaluation.compute import compute
from bot.evaluation.territories import Territories, load_territories, place_of
from bot.icope import alerts_for
from bot.models import Alerts, ItemState
from bot.workqueue import HistoryEntry, ItemView, WorkQueue
from tests.fixtures.queue import FakeClock, make_assessment

S = ItemState
ALERTS = dict.fromkeys(
    ("cognition", "mobilite", "nutrition", "vision", "audition", "psychologie"), False
)


def test_histories_in_one_read_are_each_items_history(clocked_queue: WorkQueue) -> None:
    for ref in ("A", "B"):
        clocked_queue.enqueue(make_assessment(reference=ref), source="t.csv")
        clocked_queue.transition(ref, S.IN_PROGRESS, actor="bot:w1")
    clocked_queue.transition("A", S.DONE, actor="bot:w1", reason="fin")

    assert clocked_queue.histories() == {r: clocked_queue.history(r) for r in ("A", "B")}


def test_review_decisions_and_their_delay_come_from_the_history(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    a = make_assessment(reference="R1")
    clocked_queue.enqueue(a, source="t.csv")
    clocked_queue.transition("R1", S.IN_PROGRESS, actor="bot:w1")
    result = {
        "alerts": {"app": ALERTS, "target": ALERTS | {"vision": True}, "reference": ALERTS},
        "step1_id": "77",
        "dossier_id": "5",
    }
    clocked_queue.transition("R1", S.NEEDS_REVIEW, actor="bot:w1", result=result)
    fake_clock.advance(days=2, hours=12)
    clocked_queue.transition("R1", S.APPROVED, actor="reviewer:alice")
    period = Period(a.assessed_on, a.assessed_on)

    led = ledger(clocked_queue, period, load_territories(Settings().territories))
    tables = compute(led, _empty_export(), period, observed_until=date(2026, 1, 1)).tables

    [row] = led.to_dict("records")
    assert (row["entered"], row["step1_id"], row["decision"]) == (True, "77", "validé")
    assert (row["app_vision"], row["target_vision"], row["rules_vision"]) == (False, True, False)
    review = tables["relecture"].frame
    approved = review[(review["Territoire"] == "Ensemble") & (review["Décision"] == "validé")]
    assert approved["Éléments"].tolist() == [1]
    assert approved["Délai médian (jours)"].tolist() == [2.5]
    concordance = tables["concordance"].frame
    vision = concordance[
        (concordance["Territoire"] == "Ensemble")
        & (concordance["Domaine"] == "Vision")
        & (concordance["Comparaison"] == "ICOPE et Moi / e-parcours")
    ]
    assert vision[["Comparées", "Concordantes", "Discordantes"]].values.tolist() == [[1, 0, 1]]


def _empty_export() -> pd.DataFrame:
    columns = ["evaluation", "dossier", "kind", "date", "mode", "rpps", "territory", "month"]
    df = pd.DataFrame(columns=columns)
    df["date"] = pd.to_datetime(df["date"])
    for prefix in ("alert", "step2"):
        for d in ALERTS:
            df[f"{prefix}_{d}"] = pd.Series(dtype=bool)
    return df


# --- the one-query ledger read, on both backends --------------------------------------------


def _expected(v: ItemView, history: list[HistoryEntry], territories: Territories) -> dict[str, Any]:
    """One ledger row computed on its own, from the queue's public views (validated models)."""
    a, result = v.assessment, v.result or {}
    nested = result.get("alerts")
    stored = nested if isinstance(nested, dict) else result
    said = {k: stored.get(name) for k, name in (("app", "app"), ("target", "target"))}
    said["rules"] = stored.get("reference")
    row: dict[str, Any] = {"reference": v.reference, "state": v.state.value}
    if a is not None:
        postcode, commune = place_of(a.identity.address)
        row |= {
            "assessed_on": a.assessed_on,
            "sex": a.identity.sex.value,
            "age_band": age_band(a.age_on_assessment()),
            "territory": territories.of(commune, postcode),
        }
        said["app"] = said["app"] or a.app_alerts.as_dict()
        said["rules"] = said["rules"] or alerts_for(a.answers, age=a.age_on_assessment()).as_dict()
    else:
        day = v.created_at.astimezone(UTC).date()
        row |= {"assessed_on": day, "sex": "", "age_band": "", "territory": territories.outside}
    entered = bool(result.get("step1_id")) and not result.get("dry_run")
    moves = [h for h in history if h.event == "transition"]
    runs = [
        h.at
        for h in moves
        if h.from_state is S.IN_PROGRESS and h.to_state in (S.DONE, S.NEEDS_REVIEW)
    ]
    reviews = [h.at for h in moves if h.to_state is S.NEEDS_REVIEW]
    decisions = [h for h in moves if h.actor.startswith("reviewer:") and h.to_state in DECISIONS]
    row |= {
        "entered": entered,
        "step1_id": str(result["step1_id"]) if entered else "",
        "dossier_id": str(result.get("dossier_id") or ""),
        "entered_at": runs[-1] if entered and runs else None,
        "review_at": reviews[0] if reviews else None,
        "decided_at": decisions[-1].at if decisions else None,
        "decision": DECISIONS[decisions[-1].to_state] if decisions else "",
        "purged": v.purged_at is not None,
    }
    for key, alerts in said.items():
        for d in ALERTS:
            row[f"{key}_{d}"] = None if alerts is None else alerts[d]
    return row


def _as_plain(value: object) -> object:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date() if value.tz is None else value.to_pydatetime()
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@pytest.mark.both_backends
def test_the_one_query_ledger_is_every_items_views_and_history(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    """Every shape an item can have: entered, reviewed twice, dry run, not run, flat result,
    invalid row, purged, out of the period; on SQLite and PostgreSQL."""
    q, t = clocked_queue, fake_clock
    territories = load_territories(Settings().territories)
    tours = {"address": "3 rue Nationale, 37000 Tours"}
    blois = {"address": "1 place du Château, 41000 Blois", "sex": "M"}

    def result(step1: str, *, target: dict[str, bool] | None = None, **more: Any) -> dict[str, Any]:
        return {
            "alerts": {"app": ALERTS, "target": target or ALERTS, "reference": ALERTS},
            "step1_id": step1,
            "dossier_id": "D" + step1,
            **more,
        }

    def enqueue(ref: str, **fields: Any) -> None:
        q.enqueue(make_assessment(reference=ref, **fields), source="t.csv")

    enqueue("GONE")  # finished long ago, then purged: its payload and result are gone
    q.transition("GONE", S.IN_PROGRESS, actor="bot:w1")
    q.transition("GONE", S.DONE, actor="bot:w1", result=result("17"))
    t.advance(days=400)
    assert q.purge(timedelta(days=300)) == 1

    enqueue("DONE", identity=tours)
    q.transition("DONE", S.IN_PROGRESS, actor="bot:w1")
    t.advance(hours=3)
    q.transition("DONE", S.DONE, actor="bot:w1", result=result("11"))

    # Run, sent back by the reviewer, run again: the last run is its entry, the first review
    # its review, the reviewer's move its decision. Born 12/05, assessed 14/03: 84, not 85.
    enqueue("AGAIN", identity=blois | {"birth_date": date(1940, 5, 12)})
    q.transition("AGAIN", S.IN_PROGRESS, actor="bot:w1")
    q.transition(
        "AGAIN",
        S.NEEDS_REVIEW,
        actor="bot:w1",
        result=result("12", target=ALERTS | {"vision": True}),
    )
    t.advance(days=1)
    q.transition("AGAIN", S.PENDING, actor="reviewer:alice")
    t.advance(days=1)
    q.transition("AGAIN", S.IN_PROGRESS, actor="bot:w2")
    q.transition("AGAIN", S.DONE, actor="bot:w2", result=result("13"))

    enqueue("REVIEWED", identity=tours)
    q.transition("REVIEWED", S.IN_PROGRESS, actor="bot:w1")
    q.transition("REVIEWED", S.NEEDS_REVIEW, actor="bot:w1", result=result("14"))
    t.advance(hours=30)
    q.transition("REVIEWED", S.REJECTED, actor="reviewer:bob")

    enqueue("DRY")
    q.transition("DRY", S.IN_PROGRESS, actor="bot:w1")
    q.transition("DRY", S.DONE, actor="bot:w1", result=result("15", dry_run=True))

    # Not run yet: the app's alerts from the assessment (here disagreeing), the rules computed.
    enqueue("WAITING", app_alerts=Alerts.from_domains({"mobilite"}), answers={"mood_down": True})
    q.transition("WAITING", S.IN_PROGRESS, actor="bot:w1")
    q.transition("WAITING", S.RETRY_WAIT, actor="bot:w1", reason="e-parcours indisponible")

    enqueue("FLAT")  # a result of the older, flat shape
    q.transition("FLAT", S.IN_PROGRESS, actor="bot:w1")
    flat = {"app": ALERTS, "target": ALERTS | {"audition": True}, "reference": ALERTS}
    q.transition("FLAT", S.NEEDS_REVIEW, actor="bot:w1", result=flat | {"step1_id": "16"})

    q.quarantine("BAD", source="t.csv", row=7, reasons=["date illisible"], raw={"x": "y"})
    enqueue("OLD", assessed_on=date(2024, 12, 31))  # outside the period

    period = Period(date(2025, 1, 1), date(2026, 12, 31))
    led = ledger(q, period, territories)
    history = {v.reference: q.history(v.reference) for v in q.items()}
    expected = {
        v.reference: _expected(v, history[v.reference], territories)
        for v in q.items()
        if v.reference != "OLD"
    }

    assert sorted(led["reference"]) == sorted(expected)
    for got in led.to_dict("records"):
        want = expected[got["reference"]]
        assert {k: _as_plain(got[k]) for k in want} == want, got["reference"]
    by_ref = led.set_index("reference")
    # The cases the comparison rests on, spelled out.
    assert by_ref.loc["AGAIN", "decision"] == "renvoyé en ressaisie"
    assert by_ref.loc["AGAIN", "age_band"] == "80–84 ans"
    assert by_ref.loc["AGAIN", "territory"] == "CPTS La Salamandre"
    assert by_ref.loc["DONE", "territory"] == "CPTS O'Tours"
    assert not by_ref.loc["DRY", "entered"]
    assert by_ref.loc["WAITING", "app_mobilite"]
    assert by_ref.loc["WAITING", "rules_psychologie"]
    assert pd.isna(by_ref.loc["WAITING", "target_vision"])
    assert by_ref.loc["FLAT", "target_audition"]
    assert by_ref.loc["GONE", "purged"]
    assert by_ref.loc["GONE", "territory"] == "Hors territoire"
    assert by_ref.loc["BAD", "state"] == "invalid"
    assert by_ref.loc["REVIEWED", "decided_at"] - by_ref.loc[
        "REVIEWED", "review_at"
    ] == pd.Timedelta(hours=30)
