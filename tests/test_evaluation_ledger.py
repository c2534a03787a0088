"""The queue's ledger as the evaluation reads it: histories in one read, review delays, results."""

from __future__ import annotations

from datetime import date

import pandas as pd

from bot.config import Settings
from bot.evaluation import Period
from bot.evaluation.collect import ledger
from bot.evaluation.compute import compute
from bot.evaluation.territories import load_territories
from bot.models import ItemState
from bot.workqueue import WorkQueue
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
