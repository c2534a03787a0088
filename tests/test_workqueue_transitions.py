"""The queue's state machine, enqueue rules, counts, retention and file permissions."""

from __future__ import annotations

import itertools
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import SystemException
from bot.models import ItemState
from bot.workqueue import (
    FINISHED_STATES,
    TRANSITIONS,
    EnqueueStatus,
    IllegalTransition,
    WorkQueue,
    open_queue,
)
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, make_assessment

pytestmark = BOTH_BACKENDS

S = ItemState
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]


def bring_to(q: WorkQueue, ref: str, state: ItemState) -> None:
    """Create item ``ref`` and walk it to ``state`` along legal transitions."""
    if state == S.INVALID:
        q.quarantine(ref, source="t.csv", row=3, reasons=["date illisible"], raw={"ref": ref})
        return
    q.enqueue(make_assessment(reference=ref), source="t.csv", row=2)
    path = {
        S.PENDING: [],
        S.IN_PROGRESS: [S.IN_PROGRESS],
        S.RETRY_WAIT: [S.IN_PROGRESS, S.RETRY_WAIT],
        S.DONE: [S.IN_PROGRESS, S.DONE],
        S.NEEDS_REVIEW: [S.IN_PROGRESS, S.NEEDS_REVIEW],
        S.FAILED: [S.IN_PROGRESS, S.FAILED],
        S.APPROVED: [S.IN_PROGRESS, S.NEEDS_REVIEW, S.APPROVED],
        S.REJECTED: [S.REJECTED],
    }[state]
    for step in path:
        q.transition(ref, step, actor="scheduler", reason=f"vers {step}")


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_is_applied_and_recorded(
    work_queue: WorkQueue, src: ItemState, dst: ItemState
) -> None:
    bring_to(work_queue, "R1", src)
    before = len(work_queue.history("R1"))
    fix = make_assessment(reference="R1") if src == S.INVALID else None

    work_queue.transition(
        "R1",
        dst,
        actor="reviewer:alice",
        reason="décision",
        assessment=fix,
        evidence=["shots/R1.png"],
        error_code="code_x",
    )

    assert work_queue.get("R1").state == dst
    history = work_queue.history("R1")
    assert len(history) == before + 1
    last = history[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        src,
        dst,
        "reviewer:alice",
        "décision",
    )
    assert last.evidence == ["shots/R1.png"]
    assert last.error_code == "code_x"


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_raises_and_changes_nothing(
    work_queue: WorkQueue, src: ItemState, dst: ItemState
) -> None:
    bring_to(work_queue, "R1", src)
    before = work_queue.history("R1")

    with pytest.raises(IllegalTransition):
        work_queue.transition("R1", dst, actor="reviewer:alice")

    assert work_queue.get("R1").state == src
    assert work_queue.history("R1") == before


def test_terminal_states_are_the_finished_ones() -> None:
    assert {S.DONE, S.APPROVED, S.REJECTED} == FINISHED_STATES


def test_transition_refuses_state_the_caller_did_not_expect(work_queue: WorkQueue) -> None:
    bring_to(work_queue, "R1", S.FAILED)
    with pytest.raises(IllegalTransition, match="en échec"):
        work_queue.transition("R1", S.APPROVED, actor="reviewer:a", expect_from=[S.NEEDS_REVIEW])
    assert work_queue.get("R1").state == S.FAILED


def test_invalid_row_needs_an_assessment_to_go_back_to_pending(work_queue: WorkQueue) -> None:
    bring_to(work_queue, "R1", S.INVALID)
    with pytest.raises(IllegalTransition, match="pas d'auto-évaluation valide"):
        work_queue.transition("R1", S.PENDING, actor="reviewer:a")

    work_queue.transition(
        "R1", S.PENDING, actor="reviewer:a", assessment=make_assessment(reference="R1")
    )

    view = work_queue.get("R1")
    assert view.state == S.PENDING
    assert view.assessment == make_assessment(reference="R1")
    assert view.raw == {"ref": "R1"}


def test_unknown_reference_is_a_key_error(work_queue: WorkQueue) -> None:
    with pytest.raises(KeyError):
        work_queue.get("nope")
    with pytest.raises(KeyError):
        work_queue.transition("nope", S.DONE, actor="scheduler")


def test_reset_attempts_gives_a_failed_item_a_fresh_start(work_queue: WorkQueue) -> None:
    work_queue.enqueue(make_assessment(reference="R1"), source="t.csv")
    (item,) = work_queue.lease("w1")
    work_queue.transition("R1", S.FAILED, actor=item.actor, expect_from=[S.IN_PROGRESS])
    assert work_queue.get("R1").attempts == 1

    work_queue.transition("R1", S.PENDING, actor="reviewer:a", reset_attempts=True)

    assert work_queue.get("R1").attempts == 0


# --- enqueue and quarantine ---------------------------------------------------------------


def test_enqueue_new_then_duplicate_then_conflict(work_queue: WorkQueue) -> None:
    first = make_assessment(reference="R1")
    changed = make_assessment(reference="R1", answers={"mood_down": True})

    assert work_queue.enqueue(first, source="a.xlsx", row=2) == EnqueueStatus.NEW
    assert work_queue.enqueue(first, source="b.xlsx", row=9) == EnqueueStatus.DUPLICATE
    assert work_queue.enqueue(changed, source="c.xlsx", row=4) == EnqueueStatus.CONFLICT

    # Both versions kept, nothing entered: a person picks one (issue 11).
    view = work_queue.get("R1")
    assert view.assessment == first
    assert view.conflict is not None
    assert view.conflict.assessment == changed
    assert (view.conflict.source, view.conflict.row, view.conflict.entered) == ("c.xlsx", 4, False)
    assert (view.state, view.source, view.row) == (S.NEEDS_REVIEW, "a.xlsx", 2)
    assert view.error_code == "conflict"
    events = [(h.event, h.to_state) for h in work_queue.history("R1")]
    assert events == [
        ("enqueue", S.PENDING),
        ("conflict", S.PENDING),
        ("transition", S.NEEDS_REVIEW),
    ]
    conflict = work_queue.history("R1")[1]
    assert "contenu différent" in conflict.reason
    assert "c.xlsx, ligne 4" in conflict.reason
    # The same new version again changes nothing; the item is never leased meanwhile.
    assert work_queue.enqueue(changed, source="c.xlsx", row=4) == EnqueueStatus.DUPLICATE
    assert work_queue.lease("w1") == []


def test_a_conflict_on_an_item_being_entered_goes_to_review_when_it_is_given_back(
    work_queue: WorkQueue,
) -> None:
    first = make_assessment(reference="R1")
    work_queue.enqueue(first, source="a.xlsx", row=2)
    (item,) = work_queue.lease("w1")
    changed = make_assessment(reference="R1", answers={"mood_down": True})

    assert work_queue.enqueue(changed, source="b.xlsx", row=3) == EnqueueStatus.CONFLICT
    assert work_queue.get("R1").state == S.IN_PROGRESS  # the attempt under way is not cut
    with item:
        raise SystemException("Le site e-parcours ne répond pas", code="timeout")
    assert work_queue.get("R1").state == S.RETRY_WAIT

    assert work_queue.lease("w1") == []  # not taken again: to a person instead
    view = work_queue.get("R1")
    assert (view.state, view.error_code) == (S.NEEDS_REVIEW, "conflict")
    assert view.conflict is not None
    assert view.conflict.entered is True  # an attempt ran: the old one may be in the target


def test_a_conflict_on_a_finished_item_changes_nothing_but_its_history(
    work_queue: WorkQueue,
) -> None:
    work_queue.enqueue(make_assessment(reference="R1"), source="a.xlsx", row=2)
    with work_queue.lease("w1")[0] as item:
        item.done()
    changed = make_assessment(reference="R1", answers={"mood_down": True})

    assert work_queue.enqueue(changed, source="b.xlsx", row=3) == EnqueueStatus.CONFLICT
    view = work_queue.get("R1")
    assert (view.state, view.conflict) == (S.DONE, None)
    assert work_queue.history("R1")[-1].event == "conflict"


def test_enqueue_keeps_the_raw_row_and_source(work_queue: WorkQueue) -> None:
    raw = {"Nom": "TESTICOPE", "Date": "14/03/2025"}
    work_queue.enqueue(make_assessment(reference="R1"), source="export.csv", row=7, raw=raw)
    view = work_queue.get("R1")
    assert (view.raw, view.source, view.row, view.attempts) == (raw, "export.csv", 7, 0)


def test_quarantine_keeps_row_with_reasons_out_of_the_history(work_queue: WorkQueue) -> None:
    raw = {"Nom": "TESTICOPE", "INS": "240057511599900"}
    reasons = ["le matricule INS « 240057511599900 » est invalide", "date d'évaluation vide"]

    status = work_queue.quarantine("L7", source="export.csv", row=7, reasons=reasons, raw=raw)

    assert status == EnqueueStatus.NEW
    view = work_queue.get("L7")
    assert view.state == S.INVALID
    assert view.assessment is None
    assert view.raw == raw
    assert view.reason.startswith("le matricule INS")
    assert view.details.splitlines() == reasons
    (entry,) = work_queue.history("L7")
    assert entry.to_state == S.INVALID
    assert "240057511599900" not in entry.reason
    assert "2 problème(s)" in entry.reason
    assert work_queue.quarantine("L7", source="export.csv", row=7, reasons=reasons, raw=raw) == (
        EnqueueStatus.DUPLICATE
    )
    assert (
        work_queue.quarantine("L7", source="x.csv", row=1, reasons=reasons, raw={"Nom": "X"})
        == EnqueueStatus.CONFLICT
    )


def test_view_repr_shows_no_health_data(work_queue: WorkQueue) -> None:
    work_queue.enqueue(make_assessment(reference="R1"), source="t.csv", raw={"Nom": "TESTICOPE"})
    assert "TESTICOPE" not in repr(work_queue.get("R1"))


# --- counts, oldest waiting ------------------------------------------------------------------


def test_counts_cover_every_state(clocked_queue: WorkQueue, fake_clock: FakeClock) -> None:
    for i, state in enumerate([S.PENDING, S.PENDING, S.DONE, S.INVALID, S.NEEDS_REVIEW]):
        bring_to(clocked_queue, f"R{i}", state)
        fake_clock.advance(60)

    counts = clocked_queue.counts()

    assert set(counts) == set(S)
    assert counts[S.PENDING] == 2
    assert counts[S.DONE] == counts[S.INVALID] == counts[S.NEEDS_REVIEW] == 1
    assert counts[S.FAILED] == 0
    assert sum(counts.values()) == 5


def test_oldest_waiting_skips_finished_items(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    assert clocked_queue.oldest_waiting() is None
    bring_to(clocked_queue, "OLD-DONE", S.DONE)
    fake_clock.advance(3600)
    bring_to(clocked_queue, "REVIEW", S.NEEDS_REVIEW)
    fake_clock.advance(3600)
    bring_to(clocked_queue, "NEW", S.PENDING)

    oldest = clocked_queue.oldest_waiting()

    assert oldest is not None
    assert (oldest.reference, oldest.state) == ("REVIEW", S.NEEDS_REVIEW)
    assert fake_clock.now - oldest.created_at == timedelta(hours=1)


def test_items_filters_by_state_oldest_first(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    for ref, state in [("A", S.PENDING), ("B", S.DONE), ("C", S.PENDING)]:
        bring_to(clocked_queue, ref, state)
        fake_clock.advance(1)
    assert [v.reference for v in clocked_queue.items([S.PENDING])] == ["A", "C"]
    assert [v.reference for v in clocked_queue.items()] == ["A", "B", "C"]


# --- batches ----------------------------------------------------------------------------------


def test_apply_many_is_all_or_nothing(work_queue: WorkQueue) -> None:
    bring_to(work_queue, "A", S.NEEDS_REVIEW)
    bring_to(work_queue, "B", S.DONE)

    def approve(ref: str):
        return lambda q: q.transition(ref, S.APPROVED, actor="reviewer:a")

    with pytest.raises(IllegalTransition):
        work_queue.apply_many([approve("A"), approve("B")])

    assert work_queue.get("A").state == S.NEEDS_REVIEW
    assert len(work_queue.history("A")) == 3

    work_queue.apply_many([approve("A")])
    assert work_queue.get("A").state == S.APPROVED


def test_transaction_block_commits_together(work_queue: WorkQueue) -> None:
    bring_to(work_queue, "A", S.NEEDS_REVIEW)
    bring_to(work_queue, "B", S.FAILED)
    with work_queue.transaction():
        work_queue.transition("A", S.REJECTED, actor="reviewer:a")
        work_queue.transition("B", S.PENDING, actor="reviewer:a")
    assert (work_queue.get("A").state, work_queue.get("B").state) == (S.REJECTED, S.PENDING)


# --- retention ---------------------------------------------------------------------------------


def test_purge_drops_payloads_of_old_finished_items_and_keeps_history(
    clocked_queue: WorkQueue, fake_clock: FakeClock, tmp_path: Path
) -> None:
    shot = tmp_path / "R-DONE.png"
    shot.write_bytes(b"png")
    bring_to(clocked_queue, "R-DONE", S.IN_PROGRESS)
    clocked_queue.transition(
        "R-DONE", S.DONE, actor="bot:w1", evidence=[str(shot)], result={"alerts": ["vision"]}
    )
    bring_to(clocked_queue, "R-REVIEW", S.NEEDS_REVIEW)
    fake_clock.advance(days=89)
    bring_to(clocked_queue, "R-RECENT", S.DONE)
    fake_clock.advance(days=2)
    history_before = clocked_queue.history("R-DONE")

    assert clocked_queue.purge(timedelta(days=90)) == 1

    purged = clocked_queue.get("R-DONE")
    assert (purged.assessment, purged.raw, purged.result, purged.details) == (None, None, None, "")
    assert purged.state == S.DONE
    assert purged.purged_at == fake_clock.now
    assert not shot.exists()
    history = clocked_queue.history("R-DONE")
    assert history[:-1] == history_before
    assert history[-1].event == "purge"
    assert clocked_queue.get("R-REVIEW").assessment is not None  # not finished: kept
    assert clocked_queue.get("R-RECENT").assessment is not None  # too recent: kept
    assert clocked_queue.counts()[S.DONE] == 2
    assert clocked_queue.purge(timedelta(days=90)) == 0  # already purged


# --- the file ----------------------------------------------------------------------------------


def test_queue_file_and_folder_are_private(queue_path: Path) -> None:
    with open_queue(queue_path) as q:
        q.enqueue(make_assessment(), source="t.csv")
        files = [queue_path, *queue_path.parent.glob("queue.db-*")]
        assert {f.name for f in files} >= {"queue.db", "queue.db-wal"}
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert stat.S_IMODE(queue_path.parent.stat().st_mode) == 0o700


def test_reopened_queue_keeps_its_items(queue_path: Path) -> None:
    with open_queue(queue_path) as q:
        q.enqueue(make_assessment(reference="R1"), source="t.csv")
    with open_queue(queue_path) as q:
        assert q.get("R1").state == S.PENDING
        assert q.counts()[S.PENDING] == 1


def test_failed_inner_block_rolls_back_alone(work_queue: WorkQueue) -> None:
    bring_to(work_queue, "A", S.NEEDS_REVIEW)
    bring_to(work_queue, "B", S.DONE)
    with work_queue.transaction():
        work_queue.transition("A", S.APPROVED, actor="reviewer:a")
        with pytest.raises(IllegalTransition), work_queue.transaction():
            work_queue.transition("A", S.PENDING, actor="reviewer:a")
    assert work_queue.get("A").state == S.APPROVED
    assert len(work_queue.history("A")) == 4
