"""Work-queue backends compared: SQLite file vs PostgreSQL server, same contract, same load.

    .venv/bin/python benchmarks/queue_backends.py                     # full run, figures printed
    .venv/bin/python benchmarks/queue_backends.py --rows 100000 --cycles 2000

Two measures per backend:

- **ingestion**: ``--rows`` valid rows written with ``enqueue_many`` in chunks of 20 000 (what
  ``ingest_file`` does per chunk), one transaction per chunk. Rows are one fictitious assessment
  with a new reference each, so the figure is the queue's write cost, not the export parsing
  (benchmarks/ingest.py measures that, and it is the same for both backends);
- **lease-and-finish**: ``--workers`` processes (spawned, each its own connection) loop
  ``lease(1)`` → ``done`` until ``--cycles`` items are finished; cycles per second of wall time.

PostgreSQL is a throw-away server started by the script (tests/fixtures/postgres.py) with the
server's default durability (fsync on, synchronous commit), on the same machine; SQLite is a file
in a temporary folder (WAL, synchronous=FULL, as the bot opens it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 20_000
CTX = mp.get_context("spawn")


def _entries(start: int, n: int) -> list[object]:
    from bot.workqueue import Enqueued
    from tests.fixtures.queue import make_assessment

    base = make_assessment(reference="BENCH")
    return [
        Enqueued(base.model_copy(update={"reference": f"B{i:08d}"}), row=i + 2)
        for i in range(start, start + n)
    ]


def ingest(target: str | Path, rows: int) -> dict[str, object]:
    from bot.workqueue import open_queue

    written, seconds, cpu = 0, 0.0, 0.0
    with open_queue(target) as q:
        while written < rows:
            chunk = _entries(written, min(CHUNK, rows - written))
            started, cpu_started = time.perf_counter(), time.process_time()
            statuses = q.enqueue_many(chunk, source="bench.csv")  # type: ignore[arg-type]
            seconds += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            assert len(statuses) == len(chunk)
            written += len(chunk)
        assert sum(q.counts().values()) == rows
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        # the bot's process alone (serialising, hashing, the driver); PostgreSQL's server works
        # in other processes, SQLite inside this one
        "client_cpu_seconds": round(cpu, 1),
    }


def _worker(target: str | Path, name: str, start: object, out: object) -> None:
    from bot.logs import configure_logging
    from bot.workqueue import open_queue

    configure_logging("WARNING")
    done = errors = 0
    with open_queue(target) as q:
        start.wait(timeout=120)  # type: ignore[attr-defined]
        while True:
            # A write that waited longer than the backend's lock timeout (SQLite's 30 s
            # busy_timeout on a busy machine) is counted and retried, not hidden.
            try:
                items = q.lease(name, 1, lease_seconds=600)
                if not items:
                    break
                items[0].done()
                done += 1
            except Exception as e:
                errors += 1
                print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    out.put((done, errors))  # type: ignore[attr-defined]


def cycles(target: str | Path, n: int, workers: int) -> dict[str, object]:
    from bot.workqueue import open_queue

    with open_queue(target) as q:
        for start in range(0, n, CHUNK):
            q.enqueue_many(_entries(start, min(CHUNK, n - start)), source="bench.csv")  # type: ignore[arg-type]
    start, out = CTX.Barrier(workers + 1), CTX.Queue()
    procs = [
        CTX.Process(target=_worker, args=(target, f"bench:{os.getpid()}:{i}", start, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    began = time.perf_counter()
    results = [out.get(timeout=7200) for _ in procs]
    seconds = time.perf_counter() - began
    for p in procs:
        p.join(timeout=60)
    counts = [done for done, _ in results]
    return {
        "cycles": sum(counts),
        "workers": workers,
        "seconds": round(seconds, 1),
        "cycles_per_s": round(sum(counts) / seconds, 1),
        "per_worker": counts,
        "lock_timeouts": sum(errors for _, errors in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()

    from bot.logs import configure_logging
    from tests.fixtures.postgres import PostgresCluster

    configure_logging("WARNING")
    results: dict[str, dict[str, object]] = {}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, PostgresCluster(durable=True) as pg:
        backends: dict[str, object] = {
            "sqlite": lambda name: Path(tmp) / name / "queue.db",
            "postgres": lambda name: pg.new_database(name),
        }
        for backend, target in backends.items():
            if args.only and backend != args.only:
                continue
            results[backend] = {
                "lease_and_finish": cycles(target("cycles"), args.cycles, args.workers),  # type: ignore[operator]
                "ingestion": ingest(target("ingest"), args.rows),  # type: ignore[operator]
            }
            print(backend, json.dumps(results[backend]), flush=True)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} cœurs",
                "python": platform.python_version(),
                "load_before": [round(x, 1) for x in load],
                "load_after": [round(x, 1) for x in os.getloadavg()],
                "results": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
