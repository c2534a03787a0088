"""Where the time of one double entry goes: the flow under cProfile, in the main thread.

    .venv/bin/python benchmarks/profile_flow.py                 # 8 items, screenshots on
    .venv/bin/python benchmarks/profile_flow.py --items 4 --screenshots off --top 40

A sandbox runs in its own process (as in benchmarks/throughput.py); one Chromium, one logged-in
session; each item is leased and entered with :func:`bot.flows.double_entry.double_entry`, exactly
as a runner worker does, but in the main thread so that cProfile sees it. Printed: the functions of
``bot/`` by cumulative time (what the flow's steps cost, waits included), and the wall time per
item. A wait that sleeps instead of waiting for a condition, a repeated login or an unneeded page
load shows up here as a step far costlier than its requests.

On a shared machine the wall time moves with the load (other processes take the cores); two
figures that do not are printed per item too: the **browser calls** (messages the Python client
sends to Playwright's driver, each a round trip: an action, a wait, a snapshot, a screenshot) and
the **CPU seconds** of the bot's processes (Python, the Playwright driver, Chromium; the sandbox,
in its own process, left out).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import (  # noqa: E402
    KINDS,
    Sandbox,
    _kind,
    _queue_with,
    _stat,
    bot_settings,
)

from tests.fixtures.bot_process import process_tree  # noqa: E402


def _path(url: str) -> str:
    """The path of a request with ids folded (/usagers/12 → /usagers/<id>)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    path = re.sub(r"/\d+", "/<id>", parsed.path)
    return path + ("?…" if parsed.query else "")


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes, their reaped children included (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / _TICKS


def _cpu_by_process(pids: list[int]) -> dict[int, tuple[str, float]]:
    """Each process's kind (python, driver, Chromium browser / renderer / GPU…) and CPU so far."""
    me = os.getpid()
    return {pid: (_kind(pid, me), _stat(pid)[1]) for pid in pids}


def _cpu_by_kind(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> defaultdict[str, float]:
    """CPU seconds used between two samples, by process kind (a process started meanwhile
    counts from zero; one ended meanwhile is lost: the totals above include it)."""
    used: defaultdict[str, float] = defaultdict(float)
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return used


def _bot_processes(sandbox_pid: int) -> list[int]:
    """This process and its descendants, the sandbox's process tree left out."""
    sandbox = set(process_tree(sandbox_pid))
    return [p for p in process_tree(os.getpid()) if p not in sandbox]


class _Calls:
    """The messages sent to Playwright's driver: how many, and the seconds until each reply,
    by object type and method."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def clear(self) -> None:
        self.count.clear()
        self.seconds.clear()


@contextmanager
def _counting_calls() -> Iterator[_Calls]:
    from playwright._impl.connection import Connection

    calls = _Calls()
    original = Connection.send_message_to_server

    def counted(self: Connection, object: Any, method: str, *args: Any, **kw: Any) -> Any:
        reply = original(self, object, method, *args, **kw)
        # Not round trips: the log lines of a pending call, the stacks sent to the trace.
        if method != "__waitInfo__" and not method.endswith("NoReply"):
            name = f"{object._type}.{method}"
            calls.count[name] += 1
            sent = time.perf_counter()

            def replied(_: object) -> None:
                calls.seconds[name] += time.perf_counter() - sent

            reply.add_done_callback(replied)
        return reply

    Connection.send_message_to_server = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Connection.send_message_to_server = original  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--screenshots", choices=("on", "off", "only-on-failure"), default="on")
    parser.add_argument("--top", type=int, default=30, help="lines of the profile to print")
    parser.add_argument(
        "--trace",
        choices=("full", "snapshots", "off"),
        default="off",
        help="Playwright tracing per item: none (as the runner does a first attempt, "
        "ICOPE_BOT_TRACES=on-retry), DOM snapshots only (as it does a retry), or with the "
        "screencast too (full)",
    )
    parser.add_argument("--requests", action="store_true", help="list each item's requests")
    parser.add_argument("--callees", metavar="REGEX", help="also print what these functions call")
    parser.add_argument(
        "--calls", action="store_true", help="list the browser calls per item, by method"
    )
    parser.add_argument(
        "--chromium-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="one more Chromium command-line flag, to measure what it changes (repeatable)",
    )
    args = parser.parse_args()

    import bot.browser

    bot.browser.CHROMIUM_ARGS = (*bot.browser.CHROMIUM_ARGS, *args.chromium_arg)

    from playwright.sync_api import sync_playwright

    from bot.browser import launch_chromium
    from bot.flows.double_entry import double_entry
    from bot.logs import configure_logging
    from bot.pages.session import TargetSession
    from bot.workqueue import open_queue

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="icope-profile-") as tmp:
        work = Path(tmp)
        sandbox = Sandbox(work / "e-parcours.db")
        try:
            sandbox.prepare(args.latency_ms)
            settings = bot_settings(sandbox, work, screenshots=args.screenshots)
            queue_path = settings.queue_path
            queue_path.parent.mkdir()
            _queue_with(args.items, queue_path, seed=7)
            profiler = cProfile.Profile()
            seconds: list[float] = []
            cpu: list[float] = []
            calls_per_item: list[int] = []
            all_calls: Counter[str] = Counter()
            all_seconds: defaultdict[str, float] = defaultdict(float)
            all_kinds: defaultdict[str, float] = defaultdict(float)
            with (
                _counting_calls() as calls,
                sync_playwright() as p,
                open_queue(queue_path) as queue,
            ):
                browser = launch_chromium(p)
                context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
                tracing = args.screenshots != "off" and args.trace != "off"
                if tracing:  # as the runner does: one trace chunk per item
                    context.tracing.start(screenshots=args.trace == "full", snapshots=True)
                requests: list[str] = []
                context.on(
                    "request",
                    lambda r: requests.append(f"{r.method} {r.resource_type} {_path(r.url)}"),
                )
                session = TargetSession(context, settings)
                session.ensure_logged_in()
                while items := queue.lease("profile", 1):
                    item = items[0]
                    session.page.goto("about:blank")  # as the runner does between two items
                    pids = _bot_processes(sandbox.proc.pid)
                    cpu_before = _cpu_seconds(pids)
                    kinds_before = _cpu_by_process(pids)
                    calls.clear()
                    started = time.perf_counter()
                    requests.clear()
                    profiler.enable()
                    if tracing:
                        context.tracing.start_chunk(title=item.reference)
                    with item:
                        double_entry(session, item, settings)
                    if tracing:
                        context.tracing.stop_chunk()
                    profiler.disable()
                    seconds.append(time.perf_counter() - started)
                    cpu.append(_cpu_seconds(pids) - cpu_before)
                    pids = _bot_processes(sandbox.proc.pid)
                    kinds = _cpu_by_kind(kinds_before, _cpu_by_process(pids))
                    for k, used in kinds.items():
                        all_kinds[k] += used
                    calls_per_item.append(sum(calls.count.values()))
                    all_calls.update(calls.count)
                    for m, t in calls.seconds.items():
                        all_seconds[m] += t
                    pages = [r for r in requests if " document " in r or r.startswith("POST")]
                    print(
                        f"{item.reference} : {item.outcome} en {seconds[-1]:.2f} s "
                        f"(CPU {cpu[-1]:.2f} s), {calls_per_item[-1]} appels au navigateur, "
                        f"{len(requests)} requêtes dont {len(pages)} pages/formulaires",
                        flush=True,
                    )
                    print(
                        "    CPU : "
                        + ", ".join(f"{k} {kinds[k]:.2f} s" for k in KINDS if k in kinds)
                    )
                    if args.calls:
                        print(
                            "\n".join(
                                f"    {n:3d} {calls.seconds[m]:6.2f} s  {m}"
                                for m, n in calls.count.most_common()
                            )
                        )
                    if args.requests:
                        print("\n".join(f"    {r}" for r in requests))
                browser.close()
        finally:
            sandbox.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"/bot/", args.top)
    if args.callees:
        stats.print_callees(args.callees)
    print(out.getvalue())
    n = max(len(seconds), 1)
    if args.calls:
        print("Appels au navigateur par élément (moyenne ; secondes jusqu'à la réponse) :")
        print(
            "\n".join(
                f"  {all_calls[m] / n:6.1f} {t / n:6.2f} s  {m}"
                for m, t in sorted(all_seconds.items(), key=lambda mt: -mt[1])
            )
        )
    print(
        "CPU par élément et par processus : "
        + ", ".join(f"{k} {all_kinds[k] / n:.2f} s" for k in KINDS if k in all_kinds)
    )
    print(
        f"{len(seconds)} éléments, {sum(seconds) / n:.2f} s par élément, CPU {sum(cpu) / n:.2f} s "
        f"par élément, {sum(calls_per_item) / n:.0f} appels au navigateur par élément "
        f"(latence {args.latency_ms} ms, captures {args.screenshots}, trace {args.trace}, "
        f"charge {os.getloadavg()[0]:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
