"""The assistant's commands: ingest an export, see the queue, check the target, run a batch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.parsing import SubParsers
from bot.config import Settings

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    """Add this audience's subcommands."""
    _add_ingest(sub)
    _add_status(sub)
    _add_check_target(sub)
    _add_run(sub)


def _add_ingest(sub: SubParsers) -> None:
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

    from bot.console import RowProgress
    from bot.ingest import ingest_file, ingest_inbox, load_mapping, summary_table
    from bot.workqueue import open_queue

    if not args.files and not args.inbox:
        print("Indiquez un ou plusieurs fichiers, ou --inbox.", file=sys.stderr)
        return 2
    # --json is for programs: no bar, even on a terminal.
    bar = RowProgress(Console(stderr=True), live=not args.json)
    with open_queue(settings.queue_target) as queue, bar:
        summaries = ingest_inbox(settings, queue, progress=bar) if args.inbox else []
        mapping = load_mapping(settings.export_mapping)
        summaries += [ingest_file(f, queue, mapping, progress=bar) for f in args.files]
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


def _add_status(sub: SubParsers) -> None:
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

    from bot.console import print_data_folders
    from bot.models import ItemState
    from bot.workqueue import STATE_LABELS, open_queue, status_summary

    with open_queue(settings.queue_target) as queue:
        summary = status_summary(queue)
    data = {"home": str(settings.home)} | {k: str(p) for k, p in settings.data_paths().items()}
    if args.json:
        print(json.dumps(summary | {"data": data}, ensure_ascii=False, indent=2))
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
    print_data_folders(console, settings)
    return 0


# --- the double entry --------------------------------------------------------------------------


def _add_check_target(sub: SubParsers) -> None:
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

    from bot.console import Working
    from bot.errors import BotError
    from bot.pages.conformance import check_target

    try:
        # --json is for programs: no spinner, even on a terminal
        with Working(
            Console(stderr=True), "Contrôle des écrans de l'e-parcours…", live=not args.json
        ):
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
"""


def _exit_codes() -> str:
    """The exit codes, from the runner's own table (the help cannot drift from the code)."""
    import textwrap

    from bot.runner.summary import EXIT_LABELS

    lines = [
        textwrap.fill(label, 96, initial_indent=f"  {code}  ", subsequent_indent="     ")
        for code, label in sorted(EXIT_LABELS.items())
    ]
    return "Code de sortie (la dernière ligne le dit en clair) :\n" + "\n".join(lines) + "\n"


def _add_run(sub: SubParsers) -> None:
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
        epilog=RUN_EPILOG + _exit_codes(),
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

    from bot.console import RunProgress, ask_in_terminal, print_run_summary
    from bot.runner import RunOptions, run_batch, sigint_stops
    from bot.runner.report import write_run_report
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
            open_queue(settings.queue_target) as queue,
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
