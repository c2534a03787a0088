"""Leasing and releasing: the WorkItem context manager, backoff, expiry and recovery."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.errors import BusinessException, SystemException
from bot.logs import logger, mask
from bot.models import ItemState
from bot.workqueue import IllegalTransition, RetryPolicy, WorkQueue
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, make_assessment

pytestmark = BOTH_BACKENDS

S = ItemState
POLICY = RetryPolicy(max_attempts=3, backoff_seconds=60)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), format="{message}\n{exception}")
    yield lines
    logger.remove(handler)


def fill(q: WorkQueue, clock: FakeClock, *refs: str) -> None:
    for ref in refs:
        q.enqueue(make_assessment(reference=ref), source="t.csv")
        clock.advance(1)


def test_lease_hands_out_oldest_first_and_counts_the_attempt(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A", "B", "C")

    items = clocked_queue.lease("w1", 2, lease_seconds=300)

    assert [i.reference for i in items] == ["A", "B"]
    assert all(i.attempt == 1 and not i.recovered and i.worker == "w1" for i in items)
    assert items[0].assessment == make_assessment(reference="A")
    view = clocked_queue.get("A")
    assert (view.state, view.attempts, view.lease_owner) == (S.IN_PROGRESS, 1, "w1")
    assert view.lease_expires == fake_clock.now + timedelta(seconds=300)
    assert [i.reference for i in clocked_queue.lease("w2", 5)] == ["C"]
    assert clocked_queue.lease("w3", 5) == []


def test_lease_can_be_limited_to_some_references(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A", "B", "C")
    assert [i.reference for i in clocked_queue.lease("w1", 5, references=["C", "A"])] == ["A", "C"]
    assert clocked_queue.get("B").state == S.PENDING


def test_normal_exit_releases_as_done_with_evidence_and_result(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1")

    with item:
        item.add_evidence("shots/A-form.png")
        item.add_evidence("shots/A-alerts.png")
        item.result["target_alerts"] = ["cognition", "vision"]

    assert item.outcome == S.DONE
    view = clocked_queue.get("A")
    assert view.state == S.DONE
    assert view.evidence == ["shots/A-alerts.png", "shots/A-form.png"]
    assert view.result == {"target_alerts": ["cognition", "vision"]}
    assert (view.lease_owner, view.lease_expires) == (None, None)
    last = clocked_queue.history("A")[-1]
    assert (last.actor, last.from_state, last.to_state) == ("bot:w1", S.IN_PROGRESS, S.DONE)


def test_explicit_release_inside_the_block_is_kept(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1")
    with item:
        item.needs_review("Consentement absent", code="consent_missing")
    assert item.outcome == S.NEEDS_REVIEW
    assert clocked_queue.get("A").error_code == "consent_missing"
    with pytest.raises(IllegalTransition):
        item.done()


def test_business_exception_goes_to_review_with_code_and_reason(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1")
    error = BusinessException(
        "Alertes discordantes", code="alerts_discordant", details="vision : app oui, cible non"
    )

    with item:
        raise error

    assert (item.outcome, item.error) == (S.NEEDS_REVIEW, error)
    view = clocked_queue.get("A")
    assert (view.state, view.error_code, view.reason, view.details) == (
        S.NEEDS_REVIEW,
        "alerts_discordant",
        "Alertes discordantes",
        "vision : app oui, cible non",
    )


def test_system_exception_waits_with_doubling_backoff_then_fails(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    waits = []
    for attempt in (1, 2):
        (item,) = clocked_queue.lease("w1", policy=POLICY)
        assert item.attempt == attempt
        with item:
            raise SystemException("Le serveur ne répond pas", code="timeout")
        view = clocked_queue.get("A")
        assert (view.state, view.error_code, view.reason) == (
            S.RETRY_WAIT,
            "timeout",
            "Le serveur ne répond pas",
        )
        assert view.not_before is not None
        waits.append(view.not_before - fake_clock.now)
        assert clocked_queue.lease("w1", policy=POLICY) == []  # not before the backoff
        fake_clock.advance(waits[-1].total_seconds())

    (item,) = clocked_queue.lease("w1", policy=POLICY)
    with item:
        raise SystemException("Le serveur ne répond pas", code="timeout")

    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    assert item.outcome == S.FAILED
    view = clocked_queue.get("A")
    assert (view.state, view.attempts, view.error_code) == (S.FAILED, 3, "timeout")


def test_unexpected_exception_is_retried_without_its_message(
    clocked_queue: WorkQueue, fake_clock: FakeClock, log_lines: list[str]
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1", policy=POLICY)

    with item:
        # The name comes from the item, not from this line: a traceback shows its source line.
        person = item.assessment.identity
        raise KeyError(f"{person.birth_name} {person.first_name}")

    assert item.outcome == S.RETRY_WAIT
    assert isinstance(item.error, KeyError)
    view = clocked_queue.get("A")
    assert view.reason == "Erreur inattendue : KeyError"
    assert view.error_code == "unexpected"
    stored = [view.reason, view.details, *(h.reason for h in clocked_queue.history("A"))]
    assert not any("TESTICOPE" in text for text in stored)
    assert any("Traceback" in line and "KeyError" in line for line in log_lines)
    # the leased item's names are registered: every masked sink hides them, traceback included
    assert not any("TESTICOPE" in mask(line) for line in log_lines)


def test_keyboard_interrupt_leaves_item_in_progress_and_propagates(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1")

    with pytest.raises(KeyboardInterrupt), item:
        raise KeyboardInterrupt

    assert item.outcome is None
    assert clocked_queue.get("A").state == S.IN_PROGRESS


def test_expired_lease_comes_back_recovered(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A", "B")
    clocked_queue.lease("w1", 2, lease_seconds=60)
    fake_clock.advance(59)
    assert clocked_queue.lease("w2", 2) == []

    fake_clock.advance(1)
    items = clocked_queue.lease("w2", 2, policy=POLICY)

    assert [(i.reference, i.recovered, i.attempt) for i in items] == [
        ("A", True, 2),
        ("B", True, 2),
    ]
    last = clocked_queue.history("A")[-1]
    assert (last.from_state, last.to_state, last.actor) == (S.IN_PROGRESS, S.IN_PROGRESS, "bot:w2")
    assert "Repris" in last.reason


def test_item_whose_worker_dies_every_time_ends_failed(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    for _ in range(POLICY.max_attempts):
        assert len(clocked_queue.lease("w1", lease_seconds=10, policy=POLICY)) == 1
        fake_clock.advance(10)

    assert clocked_queue.lease("w1", policy=POLICY) == []
    view = clocked_queue.get("A")
    assert (view.state, view.error_code) == (S.FAILED, "lease_expired")


def test_late_release_after_takeover_does_not_overwrite(
    clocked_queue: WorkQueue, fake_clock: FakeClock, log_lines: list[str]
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (slow,) = clocked_queue.lease("w1", lease_seconds=10)
    fake_clock.advance(11)
    (fast,) = clocked_queue.lease("w2")

    with slow:
        pass

    assert slow.outcome is None
    assert isinstance(slow.error, IllegalTransition)
    assert clocked_queue.get("A").lease_owner == "w2"
    with fast:
        pass
    assert clocked_queue.get("A").state == S.DONE
    assert any("non libéré" in line for line in log_lines)


def test_release_unstarted_gives_the_attempt_back(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    fill(clocked_queue, fake_clock, "A")
    (item,) = clocked_queue.lease("w1")

    clocked_queue.release_unstarted(item, actor="bot:w1")

    assert item.outcome == S.PENDING
    view = clocked_queue.get("A")
    assert (view.state, view.attempts, view.lease_owner) == (S.PENDING, 0, None)
    assert clocked_queue.lease("w2")[0].attempt == 1


def test_retry_policy_doubles_the_delay() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_seconds=30)
    assert [policy.delay(a) for a in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_threads_sharing_one_queue_never_get_the_same_item(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    refs = [f"T{i:03d}" for i in range(120)]
    with clocked_queue.transaction():
        fill(clocked_queue, fake_clock, *refs)

    def drain(worker: str) -> list[str]:
        seen = []
        while items := clocked_queue.lease(worker, 2):
            for item in items:
                with item:
                    seen.append(item.reference)
        return seen

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(drain, ["t1", "t2", "t3", "t4"]))

    assert sorted(ref for seen in results for ref in seen) == refs
