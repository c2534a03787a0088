"""Random sequences of queue operations keep the queue's invariants (hypothesis, stateful)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bot.errors import BusinessException, SystemException
from bot.models import ItemState
from bot.workqueue import TRANSITIONS, IllegalTransition, RetryPolicy, open_queue
from tests.fixtures.chaos import ChaosScale
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, QueueTarget, make_assessment

S = ItemState
POLICY = RetryPolicy(max_attempts=2, backoff_seconds=60)
ENDINGS = ["ok", "business", "system", "bug"]


class QueueMachine(RuleBasedStateMachine):
    """The model: each reference's state and how many history rows it should have."""

    def __init__(self, target: QueueTarget) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.q = open_queue(target, clock=self.clock)
        self.state: dict[str, ItemState] = {}
        self.rows: dict[str, int] = {}

    def teardown(self) -> None:
        self.q.close()

    def _new_ref(self) -> str:
        return f"R{len(self.state):03d}"

    def _record(self, ref: str, state: ItemState) -> None:
        self.state[ref] = state
        self.rows[ref] = self.rows.get(ref, 0) + 1

    @rule()
    def enqueue(self) -> None:
        ref = self._new_ref()
        self.q.enqueue(make_assessment(reference=ref), source="p.csv")
        self._record(ref, S.PENDING)

    @rule()
    def quarantine(self) -> None:
        ref = self._new_ref()
        self.q.quarantine(ref, source="p.csv", row=1, reasons=["vide"], raw={"ref": ref})
        self._record(ref, S.INVALID)

    @precondition(lambda self: any(TRANSITIONS[s] for s in self.state.values()))
    @rule(data=st.data())
    def legal_transition(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(r for r, s in self.state.items() if TRANSITIONS[s])))
        to = data.draw(st.sampled_from(sorted(TRANSITIONS[self.state[ref]])))
        fix = make_assessment(reference=ref) if self.state[ref] == S.INVALID else None
        self.q.transition(ref, to, actor="reviewer:p", assessment=fix)
        self._record(ref, to)

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def illegal_transition_is_refused(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.state)))
        illegal = sorted(set(S) - TRANSITIONS[self.state[ref]])
        to = data.draw(st.sampled_from(illegal))
        with pytest.raises(IllegalTransition):
            self.q.transition(ref, to, actor="reviewer:p")

    @rule(n=st.integers(1, 3), ending=st.sampled_from(ENDINGS))
    def lease_and_work(self, n: int, ending: str) -> None:
        before = {r: len(self.q.history(r)) for r, s in self.state.items() if s == S.IN_PROGRESS}
        items = self.q.lease("w", n, lease_seconds=300, policy=POLICY)
        # Expired leases over their attempts go to failed inside lease(): one transition each.
        for ref, rows in before.items():
            if self.q.get(ref).state == S.FAILED:
                assert len(self.q.history(ref)) == rows + 1
                self._record(ref, S.FAILED)
        for item in items:
            assert self.state[item.reference] in {S.PENDING, S.RETRY_WAIT, S.IN_PROGRESS}
            self._record(item.reference, S.IN_PROGRESS)
            with item:
                if ending == "business":
                    raise BusinessException("à vérifier", code="x")
                if ending == "system":
                    raise SystemException("panne", code="y")
                if ending == "bug":
                    raise ZeroDivisionError
            assert item.outcome is not None
            self._record(item.reference, item.outcome)

    @rule(seconds=st.sampled_from([30, 120, 400]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def every_item_is_in_exactly_the_expected_state(self) -> None:
        views = self.q.items()
        assert {v.reference: v.state for v in views} == self.state
        counts = self.q.counts()
        assert sum(counts.values()) == len(self.state)
        for s in S:
            assert counts[s] == sum(1 for v in self.state.values() if v == s)

    @invariant()
    def history_has_one_row_per_transition(self) -> None:
        for ref, rows in self.rows.items():
            history = self.q.history(ref)
            assert len(history) == rows
            assert history[-1].to_state == self.state[ref]
            for older, newer in pairwise(history):
                assert newer.from_state == older.to_state


#: Examples on SQLite, in every run. PostgreSQL runs the same machine with fewer examples in
#: ``make test`` (``chaos_scale.queue_examples_postgres``) and as many in ``make chaos``.
SQLITE_EXAMPLES = 40


@pytest.mark.slow
@BOTH_BACKENDS
def test_queue_invariants_hold_for_any_sequence(
    new_queue_target: Callable[[], QueueTarget], queue_backend: str, chaos_scale: ChaosScale
) -> None:
    examples = (
        chaos_scale.queue_examples_postgres if queue_backend == "postgres" else SQLITE_EXAMPLES
    )
    # One empty queue per example: a new file, or the backend's database emptied.
    run_state_machine_as_test(
        lambda: QueueMachine(new_queue_target()),
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
