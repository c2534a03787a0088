"""The sandbox's seeded year: a year of professional activity that looks like one."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from sandbox.app import create_app
from sandbox.db import Store
from sandbox.seed import SEED_COMMUNES, seed_year
from tests.fixtures.sandbox import sandbox_test_config


def test_a_seeded_year_has_both_modes_step2s_after_alerts_and_returning_people(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "e-parcours.db")

    summary = seed_year(store, 2026, per_month=30, today=date(2026, 11, 29))

    rows = store.evaluations_export()
    kinds = Counter((r["kind"], r["mode"]) for r in rows)
    assert kinds[("step1", "hetero")] > kinds[("step1", "auto")] > 0
    assert kinds[("step2", "hetero")] == summary.step2 > 0
    assert max(r["eval_date"] for r in rows) <= "2026-11-29"
    assert {r["eval_date"][:7] for r in rows if r["kind"] == "step1"} == {
        f"2026-{m:02d}" for m in range(1, 12)
    }
    step1 = [r for r in rows if r["kind"] == "step1"]
    alerted = {r["usager_id"] for r in step1 if any(r["alerts"].values())}
    assert {r["usager_id"] for r in rows if r["kind"] == "step2"} <= alerted
    returning = Counter(r["usager_id"] for r in step1)
    assert sum(1 for n in returning.values() if n > 1) > 10
    communes = {c for _, c, _ in SEED_COMMUNES}
    assert all(r["address"].rsplit(" ", 1)[-1] in " ".join(communes) for r in rows)


def test_the_config_knob_seeds_an_empty_sandbox_once(tmp_path: Path) -> None:
    config = sandbox_test_config(tmp_path / "e-parcours.db", seed_year=2026, seed_per_month=5)

    first = create_app(config).state.runtime.store.counts()
    again = create_app(config).state.runtime.store.counts()

    assert first["step1"] > 0
    assert again == first
