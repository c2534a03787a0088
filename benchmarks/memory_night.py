"""Memory of one worker over a long run: does Chromium's renderer give back what each item took?

One worker (its own Chromium, headless, as a one-worker night runs it) enters ``--items`` items
against the sandbox at 0 ms; every ``--every`` seconds the PSS of its processes is read by kind
(bot, driver, Chromium's browser, renderers, GPU, other). Run it with the default
``--items-per-context`` and with 0 (one context for the whole run) to see the difference.

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/memory_night.py [--items 60]
[--items-per-context 10] [--every 15]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import (  # noqa: E402
    Sandbox,
    _kb,
    _kind,
    _queue_with,
    bot_settings,
)

from tests.fixtures.bot_process import process_tree  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--items-per-context", type=int, default=10)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between two reads")
    args = parser.parse_args()

    from bot.logs import configure_logging
    from bot.runner import RunOptions, run_batch
    from bot.workqueue import open_queue

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="icope-memory-") as tmp:
        work = Path(tmp)
        sandbox = Sandbox(work / "e-parcours.db")
        try:
            settings = bot_settings(sandbox, work, items_per_context=args.items_per_context)
            queue_path = settings.queue_path
            queue_path.parent.mkdir()
            _queue_with(args.items, queue_path, seed=3)
            sandbox.prepare(0)
            stop = threading.Event()
            peak: dict[str, int] = {}

            def sample() -> None:
                me, started = os.getpid(), time.monotonic()
                while not stop.wait(args.every):
                    by_kind: dict[str, int] = {}
                    for pid in process_tree(me):
                        if pid != sandbox.proc.pid:
                            kind = _kind(pid, me)
                            by_kind[kind] = by_kind.get(kind, 0) + _kb(pid, "smaps_rollup", "Pss")
                    for kind, kb in by_kind.items():
                        peak[kind] = max(peak.get(kind, 0), kb)
                    print(
                        f"{time.monotonic() - started:6.0f} s · PSS (Mo) : "
                        + ", ".join(
                            f"{k} {v / 2**20:.0f}" for k, v in sorted(by_kind.items()) if v
                        ),
                        flush=True,
                    )

            print(
                f"{args.items} éléments, 1 robot, un contexte tous les "
                f"{args.items_per_context or '∞'} éléments"
            )
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            with open_queue(queue_path) as queue:
                summary = run_batch(settings, queue, RunOptions(workers=1))
            stop.set()
            sampler.join()
            print(f"états : {summary.counts}")
            print(
                "pic de PSS (Mo) : "
                + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in sorted(peak.items()) if v)
            )
        finally:
            sandbox.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
