"""Crash recovery before a run: leases of this machine's dead workers end at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from bot.models import ItemState
from bot.runner import recover_dead_workers, worker_name
from bot.workqueue import WorkQueue
from tests.fixtures.queue import FakeClock, make_assessment


def _dead_pid() -> int:
    """The pid of a process that has already exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_expire_leases_makes_the_item_leasable_again_as_recovered(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    clocked_queue.enqueue(make_assessment(reference="AE-1"), source="t.xlsx")
    clocked_queue.enqueue(make_assessment(reference="AE-2"), source="t.xlsx")
    [first] = clocked_queue.lease("ghost", 1, lease_seconds=600)
    [second] = clocked_queue.lease("alive", 1, lease_seconds=600)
    assert clocked_queue.lease("other", 1) == []

    ended = clocked_queue.expire_leases(["ghost"], actor="bot:recovery", reason="mort")

    assert ended == ["AE-1"]
    [again] = clocked_queue.lease("other", 1)
    assert again.reference == "AE-1"
    assert again.recovered
    assert clocked_queue.get("AE-2").lease_owner == "alive"
    events = [h.event for h in clocked_queue.history("AE-1")]
    assert "expire" in events
    assert second.reference == "AE-2"
    assert first.reference == "AE-1"


def test_expire_leases_ignores_items_no_longer_in_progress(work_queue: WorkQueue) -> None:
    work_queue.enqueue(make_assessment(reference="AE-1"), source="t.xlsx")
    [item] = work_queue.lease("ghost", 1)
    with item:
        pass
    assert work_queue.expire_leases(["ghost"], actor="bot:recovery", reason="mort") == []
    assert work_queue.get("AE-1").state == ItemState.DONE


def test_dead_worker_of_this_host_gives_its_item_back(work_queue: WorkQueue) -> None:
    host = socket.gethostname()
    work_queue.enqueue(make_assessment(reference="AE-DEAD"), source="t.xlsx")
    work_queue.enqueue(make_assessment(reference="AE-ALIVE"), source="t.xlsx")
    work_queue.enqueue(make_assessment(reference="AE-REMOTE"), source="t.xlsx")
    work_queue.lease(f"{host}:{_dead_pid()}:1", 1)
    work_queue.lease(f"{host}:{os.getppid()}:1", 1)  # our parent: alive
    work_queue.lease(f"another-host:{_dead_pid()}:1", 1)  # cannot be checked from here

    assert recover_dead_workers(work_queue) == ["AE-DEAD"]

    [item] = work_queue.lease(worker_name(1), 1)
    assert item.reference == "AE-DEAD"
    assert item.recovered
    assert work_queue.lease(worker_name(2), 1) == []
