"""The night operator's commands: the scheduler and the purge of old health data."""

from __future__ import annotations

import argparse
import sys

from bot.cli.parsing import SubParsers
from bot.config import Settings

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    """Add this audience's subcommands."""
    _add_schedule(sub)
    _add_purge(sub)


SCHEDULE_EPILOG = """\
Each night (times from ICOPE_BOT_SCHEDULE_*, Europe/Paris by default):
  21:00  ingest the files dropped in queue/inbox/
  21:05  check the e-parcours screens; if they changed, do not run (said in the report)
         otherwise run the queue; no new item after the stop time (06:00)
  06:15  morning report reports/morning-<date>.txt / .json, exceptions file in reviews/

One run at a time: a step that finds another one running does nothing (lock queue/.scheduler.lock).
--once exit code: 0 nothing to look at, 1 items wait for your decision, 2 technical failures,
3 another run was in progress (nothing done), 4 the e-parcours screens changed (queue not run).
See docs/scheduler.md to run it as a service.
"""


def _add_schedule(sub: SubParsers) -> None:
    p = sub.add_parser(
        "schedule",
        help="overnight runs: ingest, check the target, run until the stop time, morning report",
        description="Run the overnight cycle on its schedule until stopped (Ctrl-C, SIGTERM),\n"
        "or one whole cycle now with --once.",
        epilog=SCHEDULE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="one whole cycle now: ingest, check, run until done or the stop time, report",
    )
    p.add_argument(
        "--stop-at",
        metavar="TIME",
        help="with --once: no new item after TIME, HH:MM or 2025-06-02T06:00 "
        "(default: ICOPE_BOT_SCHEDULE_STOP_TIME, 06:00)",
    )
    p.add_argument("--json", action="store_true", help="with --once: print the report as JSON")
    p.set_defaults(handler=_run_schedule)


def _run_schedule(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.runner import sigint_stops
    from bot.scheduler import build_scheduler, parse_stop_at, run_forever, run_once

    if not args.once:
        if args.stop_at or args.json:
            print("--stop-at et --json ne s'utilisent qu'avec --once.", file=sys.stderr)
            return 2
        try:
            build_scheduler(settings, threading.Event())  # the cron lines are valid
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
        return run_forever(settings)
    stop_at = None
    if args.stop_at:
        tz = ZoneInfo(settings.schedule_timezone)
        try:
            stop_at = parse_stop_at(args.stop_at, datetime.now(tz), tz)
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        with sigint_stops(stop):
            result = run_once(settings, stop_at=stop_at, stop=stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.report is None:
        print(result.message, file=sys.stderr)
    elif args.json:
        print(result.report.model_dump_json(indent=2))
    else:
        print(result.report.text(), end="")
        print(f"Rapport : {result.report_path}")
    return result.exit_code


# --- the reviewer ------------------------------------------------------------------------------


def _add_purge(sub: SubParsers) -> None:
    from datetime import timedelta

    from bot.workqueue import parse_age

    def age(text: str) -> timedelta:
        try:
            return parse_age(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e

    p = sub.add_parser(
        "purge",
        help="erase health data of finished items (done, approved, rejected) older than an age",
        description="Erase the assessment, raw row, result, details and screenshots of items "
        "finished (done, approved, rejected) before the given age, and their screenshots in "
        "the run reports; also delete, when older than the age, the review files, the "
        "screenshots no waiting item needs (dry runs included) and the archived exports whose "
        "every row is purged. The anonymous history and the counts stay.",
    )
    p.add_argument(
        "--older-than",
        required=True,
        type=age,
        metavar="AGE",
        help="age since the item finished: 90d (days), 12h (hours) or 30m (minutes)",
    )
    p.set_defaults(handler=_run_purge)


def _run_purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.retention import purge_health_data
    from bot.workqueue import open_queue

    with open_queue(settings.queue_target) as queue:
        report = purge_health_data(settings, queue, args.older_than)
    print(report.text())
    from datetime import date

    from bot.evaluation import purge_reports

    # The evaluations' item-level gap lists go with the payloads of the same age.
    gaps = purge_reports(settings.reports_dir, date.today() - args.older_than)
    if gaps:
        print(f"{gaps} liste(s) d'écarts d'évaluation effacée(s).")
    return 0
