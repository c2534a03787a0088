"""Lease heartbeat and shared locks, on both backends: what lets several machines share a queue."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import pytest

from bot.locks import LockTimeout
from bot.models import ItemState
from bot.runner.worker import LeaseHeartbeat
from bot.workqueue import WorkQueue, open_queue
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, QueueTarget, make_assessment

pytestmark = BOTH_BACKENDS

S = ItemState
CTX = mp.get_context("spawn")


def test_renew_extends_only_the_owners_lease(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    clocked_queue.enqueue(make_assessment(reference="R1"), source="t.csv")
    (item,) = clocked_queue.lease("m1:1:1", lease_seconds=60)
    fake_clock.advance(50)

    until = clocked_queue.renew("R1", "m1:1:1", lease_seconds=60)

    assert until == fake_clock.now + (until - fake_clock.now)  # aware, from the queue's clock
    assert clocked_queue.get("R1").lease_expires == until
    assert clocked_queue.renew("R1", "m2:1:1", lease_seconds=60) is None  # not its item
    fake_clock.advance(50)  # 100 s after the lease: the renewal keeps it
    assert clocked_queue.lease("m2:1:1", lease_seconds=60) == []
    assert len(clocked_queue.history("R1")) == 2  # a renewal is not a transition
    item.done()
    assert clocked_queue.renew("R1", "m1:1:1", lease_seconds=60) is None  # released


def test_an_unrenewed_lease_is_taken_over_and_the_late_owner_cannot_renew(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    clocked_queue.enqueue(make_assessment(reference="R1"), source="t.csv")
    clocked_queue.lease("m1:1:1", lease_seconds=60)
    fake_clock.advance(61)

    (taken,) = clocked_queue.lease("m2:1:1", lease_seconds=60)

    assert taken.recovered
    assert clocked_queue.renew("R1", "m1:1:1", lease_seconds=60) is None
    assert clocked_queue.get("R1").lease_owner == "m2:1:1"


@pytest.mark.timeout(60)
def test_the_heartbeat_keeps_a_long_item_then_a_dead_owners_item_comes_back(
    work_queue: WorkQueue,
) -> None:
    work_queue.enqueue(make_assessment(reference="R1"), source="t.csv")
    (item,) = work_queue.lease("m1:1:1", lease_seconds=1.5)
    heartbeat = LeaseHeartbeat(work_queue, interval=0.3, lease_seconds=1.5).start()
    heartbeat.hold(item)
    try:
        time.sleep(3)  # twice the lease: only the renewals keep it
        assert work_queue.lease("m2:1:1", lease_seconds=60) == []
        assert heartbeat.renewals >= 5
    finally:
        heartbeat.stop()  # the owner "dies": no more renewals

    deadline = time.monotonic() + 10
    taken = []
    while not taken and time.monotonic() < deadline:
        time.sleep(0.2)
        taken = work_queue.lease("m2:1:1", lease_seconds=60)
    assert [t.reference for t in taken] == ["R1"]
    assert taken[0].recovered
    with pytest.raises(Exception, match="n'est plus réservé"):
        item.done()


def _hold_lock_then_hang(target: QueueTarget, ready: Queue[str], never: Event) -> None:
    q = open_queue(target)
    lock = q.lock("login", "http://x", "bot", timeout=10)  # kept: a collected FileLock unlocks
    lock.acquire()
    ready.put("held")
    never.wait()


@pytest.mark.timeout(90)
def test_a_shared_lock_excludes_another_process_and_is_freed_when_it_dies(
    queue_target: QueueTarget,
) -> None:
    ready, never = CTX.Queue(), CTX.Event()
    child = CTX.Process(target=_hold_lock_then_hang, args=(queue_target, ready, never))
    child.start()
    try:
        assert ready.get(timeout=60) == "held"
        with open_queue(queue_target) as q:
            with pytest.raises(LockTimeout):
                q.lock("login", "http://x", "bot", timeout=0.5).acquire()
            with q.lock("login", "http://x", "autre-compte", timeout=0.5):
                pass  # another key: free
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
            # The dead holder's lock is gone (its connection, or its file descriptor).
            with q.lock("login", "http://x", "bot", timeout=10):
                pass
    finally:
        if child.is_alive():
            child.kill()


def test_a_shared_lock_excludes_another_thread_of_the_same_process(work_queue: WorkQueue) -> None:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with work_queue.lock("usager", "k", timeout=5):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockTimeout):
            work_queue.lock("usager", "k", timeout=0.3).acquire()
    finally:
        release.set()
        t.join()
    with work_queue.lock("usager", "k", timeout=5):
        pass
