"""Where the time of one double entry goes: the flow under cProfile, in the main thread.

    .venv/bin/python benchmarks/profile_flow.py                 # 8 items, screenshots on
    .venv/bin/python benchmarks/profile_flow.py --items 4 --screenshots off --top 40

A sandbox runs in its own process (as in benchmarks/throughput.py); one Chromium, one logged-in
session; each item is leased and entered with :func:`bot.flows.double_entry.double_entry`, exactly
as a runner worker does, but in the main thread so that cProfile sees it. Printed: the functions of
``bot/`` by cumulative time (what the flow's steps cost, waits included), and the wall time per
item. A wait that sleeps instead of waiting for a condition, a repeated login or an unneeded page
load shows up here as a step far costlier than its requests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import BOT_PASSWORD, BOT_USER, EFFECTEUR, Sandbox, _queue_with  # noqa: E402


def _path(url: str) -> str:
    """The path of a request with ids folded (/usagers/12 → /usagers/<id>)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    path = re.sub(r"/\d+", "/<id>", parsed.path)
    return path + ("?…" if parsed.query else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--screenshots", choices=("on", "off", "only-on-failure"), default="on")
    parser.add_argument("--top", type=int, default=30, help="lines of the profile to print")
    parser.add_argument(
        "--trace",
        choices=("full", "snapshots", "off"),
        default="full",
        help="Playwright tracing per item as the runner does it (full: screencast + DOM "
        "snapshots), DOM snapshots only, or none",
    )
    parser.add_argument("--requests", action="store_true", help="list each item's requests")
    parser.add_argument("--callees", metavar="REGEX", help="also print what these functions call")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from bot.browser import launch_chromium
    from bot.config import Settings
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
            queue_path = work / "queue" / "queue.db"
            queue_path.parent.mkdir()
            _queue_with(args.items, queue_path, seed=7)
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                base_url=sandbox.base_url,
                username=BOT_USER,
                password=BOT_PASSWORD,
                otp_source="none",
                effecteur=EFFECTEUR,
                queue_path=queue_path,
                screenshots_dir=work / "screenshots",
                screenshots=args.screenshots,
            )
            profiler = cProfile.Profile()
            seconds: list[float] = []
            with sync_playwright() as p, open_queue(queue_path) as queue:
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
                    pages = [r for r in requests if " document " in r or r.startswith("POST")]
                    print(
                        f"{item.reference} : {item.outcome} en {seconds[-1]:.2f} s, "
                        f"{len(requests)} requêtes dont {len(pages)} pages/formulaires",
                        flush=True,
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
    print(
        f"{len(seconds)} éléments, {sum(seconds) / max(len(seconds), 1):.2f} s par élément "
        f"(latence {args.latency_ms} ms, captures {args.screenshots}, trace {args.trace})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
