"""Several worker processes on one queue (a SQLite file, a PostgreSQL database): no item twice,
a killed worker's items recovered."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

import pytest

from bot.models import ItemState
from bot.workqueue import open_queue, utcnow
from tests.fixtures.queue import BOTH_BACKENDS, QueueTarget, make_assessment

pytestmark = BOTH_BACKENDS

PROCS = 4
ITEMS_PER_PROC = 100
CTX = mp.get_context("spawn")  # a fresh interpreter per worker, as separate runs would be


def _lease_until_empty(
    path: QueueTarget, worker: str, start: Barrier, out: Queue[list[str]]
) -> None:
    """Child: lease small batches as fast as possible, release each item done."""
    seen: list[str] = []
    with open_queue(path) as q:
        start.wait(timeout=240)  # every worker is up before anyone leases: they really compete
        while items := q.lease(worker, 1 + len(seen) % 3, lease_seconds=600):
            for item in items:
                with item:
                    seen.append(item.reference)
    out.put(seen)


def _lease_and_hang(path: QueueTarget, out: Queue[list[str]], never: Event) -> None:
    """Child: take three items, report them, then wait to be killed."""
    q = open_queue(path)
    out.put([i.reference for i in q.lease("doomed", 3, lease_seconds=600)])
    never.wait()


def _fill(path: QueueTarget, n: int) -> list[str]:
    refs = [f"AE-{i:04d}" for i in range(n)]
    with open_queue(path) as q, q.transaction():
        for ref in refs:
            q.enqueue(make_assessment(reference=ref), source="t.csv")
    return refs


# Generous limits: they only stop a hang. Four spawned interpreters importing the bot on a
# loaded CI machine (three xdist workers running browsers) took over 90 s to report.
@pytest.mark.timeout(360)
def test_concurrent_processes_never_lease_the_same_item(queue_target: QueueTarget) -> None:
    queue_path = queue_target
    refs = _fill(queue_path, PROCS * ITEMS_PER_PROC)
    start, out = CTX.Barrier(PROCS), CTX.Queue()
    procs = [
        CTX.Process(target=_lease_until_empty, args=(queue_path, f"w{i}", start, out))
        for i in range(PROCS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    leased = Counter(ref for seen in results for ref in seen)
    assert set(leased) == set(refs)
    assert max(leased.values()) == 1
    assert sum(1 for seen in results if seen) > 1  # the workers really ran side by side
    with open_queue(queue_path) as q:
        assert q.counts()[ItemState.DONE] == len(refs)


@pytest.mark.timeout(240)
def test_killed_worker_items_come_back_recovered_after_lease_expiry(
    queue_target: QueueTarget,
) -> None:
    queue_path = queue_target
    _fill(queue_path, 5)
    out, never = CTX.Queue(), CTX.Event()
    child = CTX.Process(target=_lease_and_hang, args=(queue_path, out, never))
    child.start()
    held = out.get(timeout=180)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL

    # A clock 601 s ahead: the dead worker's 600 s leases have expired, no waiting needed.
    with open_queue(queue_path, clock=lambda: utcnow() + timedelta(seconds=601)) as q:
        assert [v.reference for v in q.items([ItemState.IN_PROGRESS])] == held
        items = q.lease("rescuer", 10)
    if isinstance(queue_path, Path):
        with closing(sqlite3.connect(queue_path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    recovered = {i.reference: (i.recovered, i.attempt) for i in items}
    assert len(recovered) == 5
    assert {ref for ref, (was_recovered, _) in recovered.items() if was_recovered} == set(held)
    assert all(recovered[ref] == (True, 2) for ref in held)
