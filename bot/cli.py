"""The ``icope-bot`` command. Thin: every subcommand parses its options and delegates.

Subcommands are grouped by the user who runs them; each group sits in its own section below.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Settings
from bot.logs import configure_logging

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Settings], int]

EPILOG = """\
Typical day:
  icope-bot ingest export.xlsx        queue an ICOPE et Moi export (bad rows are quarantined)
  icope-bot status                    what is waiting, done, to review
  icope-bot run --headed              supervised batch run, browser visible
  icope-bot review export             exceptions file for the reviewer
  icope-bot review import FILE        apply the reviewer's decisions

Settings come from ICOPE_BOT_* environment variables or a .env file (see README).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icope-bot",
        description="Re-enter ICOPE et Moi STEP 1 self-assessments into the e-parcours tool "
        "and check that both tools raise the same alerts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # --- the sandbox (stand-in e-parcours tool) --------------------------------------------
    _add_sandbox(sub)

    # --- ingest & queue: ingest, status, purge, sample-export ------------------------------
    _add_ingest(sub)
    _add_status(sub)
    _add_purge(sub)
    _add_sample_export(sub)

    # --- the double entry: check-target ------------------------------------------------------
    _add_check_target(sub)

    # --- runs: run, schedule -----------------------------------------------------------------
    _add_run(sub)
    _add_schedule(sub)

    # --- the reviewer: review export / review import ------------------------------------------
    _add_review(sub)

    # --- demo ------------------------------------------------------------------------------------
    _add_demo(sub)

    return parser


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="start the stand-in e-parcours web app (127.0.0.1 only)",
        description="Start the sandbox e-parcours web app for the demo, tests and training.",
    )
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    p.add_argument(
        "--db", help="SQLite file for the sandbox's data (default: a new temporary file)"
    )
    p.add_argument(
        "--otp",
        choices=["none", "totp", "email"],
        help="second login factor (default: the sandbox's own default, e-mail)",
    )
    p.set_defaults(handler=_run_sandbox)


def _run_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from sandbox.config import SandboxConfig
    from sandbox.server import serve

    overrides: dict[str, object] = {}
    if args.db:
        overrides["db_path"] = args.db
    if args.otp:
        overrides["otp_mode"] = args.otp
    serve(SandboxConfig(**overrides), port=args.port)
    return 0


# --- the double entry --------------------------------------------------------------------------


def _add_check_target(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check-target",
        help="check that the e-parcours still shows every text the robot relies on",
        description="Log in, visit every screen of a double entry and check each text of the "
        "target mapping (mappings/target.yaml). On a training target (target: sandbox: true in "
        "the mapping) a throw-away usager and STEP 1 are created; elsewhere nothing is created. "
        "Exit code 1 when a text is missing: update the mapping before the next run.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_run_check_target)


def _run_check_target(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from bot.errors import BotError
    from bot.flows.check_target import check_target

    try:
        report = check_target(settings)
    except BotError as e:
        print(e.message, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0 if report.ok else 1
    words = {"found": "trouvé", "missing": "ABSENT", "not_checked": "non vérifié"}
    styles = {"found": "green", "missing": "bold red", "not_checked": "dim"}
    table = Table(title=f"Contrôle de l'outil cible ({settings.mapping.name})")
    for column in ("Écran", "Élément", "Texte attendu", "État"):
        table.add_column(column)
    for line in report.lines:
        element = ".".join(p for p in (line.group, line.key) if p)
        table.add_row(
            line.screen, element, line.text, words[line.status], style=styles[line.status]
        )
    console = Console()
    console.print(table)
    counts = report.counts()
    console.print(
        f"{counts['found']} trouvé(s), {counts['missing']} absent(s), "
        f"{counts['not_checked']} non vérifié(s)"
        + (" — lecture seule (rien n'a été créé)" if report.read_only else "")
    )
    if report.error:
        console.print(f"Contrôle interrompu : {report.error}", style="bold red")
    if not report.ok:
        console.print(
            "L'outil a changé : mettez à jour le fichier de correspondance avant le prochain "
            "passage.",
            style="bold red",
        )
    return 0 if report.ok else 1


# --- runs ----------------------------------------------------------------------------------------

RUN_EPILOG = """\
Examples:
  icope-bot run --headed --limit 5          watch the robot enter the next 5 items
  icope-bot run --dry-run --reference AE-1  fill AE-1's form without saving (a rehearsal)
  icope-bot run --workers 3                 three browsers in parallel (overnight)

Ctrl-C once: the robot finishes the item it is entering, then stops.
Ctrl-C twice: stops at once (the items being entered are taken up again by the next run).

At the end: a summary table and a report reports/run-<date>.html (references only, no names).
Exit code: 0 everything entered, 1 some items wait for your decision (icope-bot review export),
2 the run stopped on technical errors or items wait for a new try.
"""


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def positive(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"« {text} » : un nombre entier ≥ 1 est attendu")
        return value

    p = sub.add_parser(
        "run",
        help="enter the waiting self-assessments in the e-parcours tool (batch run)",
        description="Take the waiting items from the queue one by one, enter each in the\n"
        "e-parcours tool, read the alerts back and compare them. Items whose alerts agree\n"
        "are done; the others wait for your decision; technical errors are retried later.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--limit", type=positive, metavar="N", help="enter at most N items, then stop")
    p.add_argument(
        "--reference",
        nargs="+",
        action="extend",
        metavar="REF",
        help="only these items (their references, as in 'icope-bot status' or the review file)",
    )
    p.add_argument(
        "--workers",
        type=positive,
        metavar="N",
        help="N browsers working in parallel (default: ICOPE_BOT_WORKERS, 1)",
    )
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument(
        "--slow-mo",
        type=int,
        metavar="MS",
        help="wait MS milliseconds between browser actions, to follow what the robot does",
    )
    p.add_argument(
        "--pause-on-exception",
        action="store_true",
        help="on a problem, keep the browser on the screen and ask: continue / skip / stop "
        "(opens the browser window; one worker only)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="rehearsal: fill the forms but never save; the items stay waiting",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as JSON (progress goes to stderr)"
    )
    p.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import threading

    from rich.console import Console

    from bot.report import RunProgress, ask_in_terminal, print_run_summary, write_run_report
    from bot.runner import RunOptions, run_batch, sigint_stops
    from bot.workqueue import open_queue

    options = RunOptions(
        limit=args.limit,
        references=args.reference,
        workers=args.workers or settings.workers,
        headed=args.headed or args.pause_on_exception or settings.headed,
        slow_mo_ms=settings.slow_mo_ms if args.slow_mo is None else args.slow_mo,
        pause_on_exception=args.pause_on_exception,
        dry_run=args.dry_run,
    )
    if options.pause_on_exception and options.workers != 1:
        print(
            "--pause-on-exception ne fonctionne qu'avec un seul robot (--workers 1).",
            file=sys.stderr,
        )
        return 2
    console = Console(stderr=args.json)
    stop = threading.Event()
    try:
        with (
            open_queue(settings.queue_path) as queue,
            RunProgress(console) as progress,
            sigint_stops(stop, progress.stop_requested),
        ):
            progress.log_above_the_bar(
                "DEBUG" if args.verbose else settings.log_level, settings.logs_dir
            )
            summary = run_batch(
                settings,
                queue,
                options,
                on_event=progress,
                stop=stop,
                ask=ask_in_terminal(progress) if options.pause_on_exception else None,
            )
    except KeyboardInterrupt:
        # Second Ctrl-C: leave at once. The browsers' threads are still inside Playwright, and
        # a normal interpreter exit would wait on them (or crash tearing them down); their items
        # stay in progress and the next run on this machine takes them up again.
        import os

        from bot.logs import logger

        print(
            "Arrêt immédiat : les éléments en cours seront repris au prochain passage.",
            file=sys.stderr,
            flush=True,
        )
        logger.complete()
        sys.stdout.flush()
        os._exit(130)
    report = write_run_report(summary, settings.reports_dir)
    if args.json:
        print(json.dumps(summary.to_dict() | {"report": str(report)}, ensure_ascii=False))
    else:
        print_run_summary(console, summary, report)
    return summary.exit_code


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


def _add_schedule(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_review(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "review",
        help="exceptions file for the reviewer, and the reviewer's decisions",
        description="Export the items a person must decide on (to review, failed, invalid) to "
        "an XLSX and a CSV file; import the reviewer's decisions (approve, retry, reject, fix).",
    )
    actions = p.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    e = actions.add_parser("export", help="write reviews/exceptions-<date>.xlsx and .csv")
    who = e.add_mutually_exclusive_group()
    who.add_argument(
        "--with-identity",
        dest="with_identity",
        action="store_true",
        default=True,
        help="usager's full identity in the file, correctable by 'fix' (default)",
    )
    who.add_argument(
        "--masked",
        dest="with_identity",
        action="store_false",
        help="usager as initials, no identity columns ('fix' then corrects answers only)",
    )
    e.add_argument("--out", type=Path, help="folder for the files (default: reviews_dir)")
    e.set_defaults(handler=_run_review_export)
    i = actions.add_parser("import", help="apply the decisions of a filled-in exceptions file")
    i.add_argument("file", type=Path, help="the filled-in .xlsx or .csv file")
    i.add_argument("--reviewer", required=True, help="your name, recorded in each item's history")
    i.set_defaults(handler=_run_review_import)


def _run_review_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.review import export_exceptions
    from bot.workqueue import STATE_LABELS, open_queue

    with open_queue(settings.queue_path) as queue:
        result = export_exceptions(
            queue, args.out or settings.reviews_dir, with_identity=args.with_identity
        )
    states = ", ".join(f"{n} {STATE_LABELS[s]}" for s, n in result.by_state.items())
    print(f"{result.count} élément(s) à examiner ({states}).")
    print(f"  {result.xlsx}\n  {result.csv}")
    print(
        "Remplissez la colonne « Décision » puis : icope-bot review import FICHIER --reviewer NOM"
    )
    return 0


def _run_review_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.review import ReviewFileError, import_decisions
    from bot.workqueue import open_queue

    if not args.file.is_file():
        print(f"Fichier introuvable : {args.file}", file=sys.stderr)
        return 1
    with open_queue(settings.queue_path) as queue:
        try:
            report = import_decisions(queue, args.file, reviewer=args.reviewer)
        except ReviewFileError as e:
            print(e.message, file=sys.stderr)
            return 1
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="count queue items per state, show the oldest waiting one",
        description="Counts per state and the oldest waiting item (reference and age only).",
    )
    p.add_argument("--json", action="store_true", help="print the same as JSON (stable keys)")
    p.set_defaults(handler=_run_status)


def _run_status(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from bot.models import ItemState
    from bot.workqueue import STATE_LABELS, open_queue, status_summary

    with open_queue(settings.queue_path) as queue:
        summary = status_summary(queue)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    table = Table(title="File de travail")
    table.add_column("État")
    table.add_column("Éléments", justify="right")
    for state, n in summary["counts"].items():
        table.add_row(STATE_LABELS[ItemState(state)], str(n), style=None if n else "dim")
    table.add_section()
    table.add_row("Total", str(summary["total"]), style="bold")
    console = Console()
    console.print(table)
    oldest = summary["oldest_waiting"]
    if oldest is None:
        console.print("Aucun élément en attente.")
    else:
        hours, rest = divmod(oldest["age_seconds"], 3600)
        age = f"{hours // 24} j {hours % 24} h" if hours >= 24 else f"{hours} h {rest // 60} min"
        console.print(
            f"Plus ancien en attente : {oldest['reference']} "
            f"({STATE_LABELS[ItemState(oldest['state'])]}, depuis {age})"
        )
    return 0


def _add_purge(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        "finished (done, approved, rejected) before the given age; their anonymous history "
        "and the counts stay.",
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
    from bot.workqueue import open_queue

    with open_queue(settings.queue_path) as queue:
        n = queue.purge(args.older_than, actor="purge")
    print(f"{n} élément(s) terminé(s) purgé(s) : données de santé effacées, historique conservé.")
    return 0


def _add_ingest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest",
        help="queue ICOPE et Moi exports (.xlsx/.csv); bad rows are quarantined with reasons",
        description="Read ICOPE et Moi exports (XLSX, or CSV in any usual encoding and separator), "
        "validate every row and queue it; invalid rows are kept in quarantine with a reason per "
        "problem. Exit code 1 when a file is refused whole (unreadable, required column missing).",
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="export files to ingest")
    p.add_argument(
        "--inbox",
        action="store_true",
        help="ingest every file of the inbox folder, then archive it (ICOPE_BOT_INBOX_DIR)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=_run_ingest)


def _run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from rich.console import Console

    from bot.ingest import ingest_file, ingest_inbox, load_mapping, summary_table
    from bot.workqueue import open_queue

    if not args.files and not args.inbox:
        print("Indiquez un ou plusieurs fichiers, ou --inbox.", file=sys.stderr)
        return 2
    with open_queue(settings.queue_path) as queue:
        summaries = ingest_inbox(settings, queue) if args.inbox else []
        mapping = load_mapping(settings.export_mapping)
        summaries += [ingest_file(f, queue, mapping) for f in args.files]
    if args.json:
        print(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False, indent=2))
    else:
        console = Console()
        console.print(summary_table(summaries))
        for s in summaries:
            if s.refused:
                console.print(s.refused, style="red", markup=False, soft_wrap=True)
            if s.ignored_columns:
                console.print(
                    f"{s.file} : colonnes ignorées : {', '.join(s.ignored_columns)}",
                    markup=False,
                    soft_wrap=True,
                )
            if s.fixed:
                console.print(f"{s.file} : {s.fixed} ligne(s) de quarantaine corrigée(s).")
        if any(s.invalid for s in summaries):
            console.print("Lignes invalides : voir « icope-bot review export ».")
    return 1 if any(s.refused for s in summaries) else 0


def _add_sample_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sample-export",
        help="write a realistic fictitious ICOPE et Moi export (demo, tests, training)",
        description="Write a fictitious ICOPE et Moi export with plausible answers and alert "
        "rates, optionally with returning usagers, homonyms, bad rows and discordant alerts.",
    )
    p.add_argument("--rows", type=int, required=True, help="number of rows (all kinds included)")
    p.add_argument("--out", type=Path, required=True, help="output file, .xlsx or .csv")
    p.add_argument("--seed", type=int, default=0, help="same seed, same file (default 0)")
    p.add_argument("--returning", type=int, default=0, help="later assessments of the same people")
    p.add_argument("--homonyms", type=int, default=0, help="people sharing names with others")
    p.add_argument("--errors", type=int, default=0, help="rows with one deliberate bad cell")
    p.add_argument(
        "--discordant", type=int, default=0, help="rows whose app alert disagrees with the rules"
    )
    p.set_defaults(handler=_run_sample_export)


def _run_sample_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sample import generate

    try:
        export = generate(
            args.rows,
            seed=args.seed,
            returning=args.returning,
            homonyms=args.homonyms,
            errors=args.errors,
            discordant=args.discordant,
        )
        path = export.write(args.out)
    except ValueError as e:
        print(f"Export d'exemple impossible : {e}", file=sys.stderr)
        return 2
    print(
        f"{path} : {len(export.rows)} lignes ({len(export.returning)} retours, "
        f"{len(export.homonyms)} homonymes, {len(export.errors)} erreurs voulues, "
        f"{len(export.discordant)} alertes discordantes)."
    )
    return 0


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole double entry on fictitious data, against the sandbox (make demo)",
        description="Start the sandbox e-parcours and a local mail system, generate a fictitious "
        "ICOPE et Moi export, queue it, run the double entry, prepare the reviewer's file, then "
        "keep the sandbox open so you can log in and enter a STEP 1 by hand.",
    )
    p.add_argument("--rows", type=int, default=12, help="rows in the sample export (default 12)")
    p.add_argument("--seed", type=int, default=7, help="sample data seed (default 7)")
    p.add_argument("--workers", type=int, default=2, help="browsers working at once (default 2)")
    p.add_argument(
        "--port", type=int, default=8765, help="sandbox port on 127.0.0.1 (default 8765)"
    )
    p.add_argument("--headed", action="store_true", help="show the browsers while they work")
    p.add_argument("--dir", type=Path, help="demo folder, emptied first (default demo-run/)")
    p.add_argument(
        "--no-wait", action="store_true", help="stop the sandbox at the end instead of waiting"
    )
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import DEMO_DIR, run_demo

    return run_demo(
        args.dir or DEMO_DIR,
        rows=args.rows,
        seed=args.seed,
        workers=args.workers,
        port=args.port,
        headed=args.headed,
        wait=not args.no_wait,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging("DEBUG" if args.verbose else settings.log_level, settings.logs_dir)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        print("Interrompu.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
