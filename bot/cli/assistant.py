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
        help="mettre en file des exports ICOPE et Moi (.xlsx/.csv) ; lignes fautives en quarantaine, "
        "avec leurs raisons",
        description="Lire des exports ICOPE et Moi (XLSX, ou CSV dans tout encodage et séparateur usuels), "
        "valider chaque ligne et la mettre en file ; les lignes invalides restent en quarantaine, "
        "avec une raison par problème. Code de sortie 1 quand un fichier est refusé en entier "
        "(illisible, colonne obligatoire absente).",
    )
    p.add_argument(
        "files", nargs="*", type=Path, metavar="FICHIER", help="fichiers d'export à mettre en file"
    )
    p.add_argument(
        "--inbox",
        action="store_true",
        help="mettre en file chaque fichier du dossier de dépôt, puis l'archiver "
        "(ICOPE_BOT_INBOX_DIR)",
    )
    p.add_argument("--json", action="store_true", help="afficher le bilan en JSON")
    p.set_defaults(handler=_run_ingest)


#: Quarantined rows listed with their reasons after an ingestion; the rest: the review file.
_QUARANTINE_SHOWN = 20


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
            if s.quarantined:
                # The reasons, not only a count: the person fixes the export with them.
                console.print(f"{s.file} : en quarantaine (à corriger dans l'export) :")
                for line in s.quarantined[:_QUARANTINE_SHOWN]:
                    console.print(f"  {line}", markup=False, soft_wrap=True, highlight=False)
                if len(s.quarantined) > _QUARANTINE_SHOWN:
                    more = len(s.quarantined) - _QUARANTINE_SHOWN
                    console.print(f"  … et {more} autre(s) : icope-bot review export")
        if any(s.invalid for s in summaries):
            console.print("Lignes invalides : voir « icope-bot review export ».")
    return 1 if any(s.refused for s in summaries) else 0


def _add_status(sub: SubParsers) -> None:
    p = sub.add_parser(
        "status",
        help="compter les éléments de la file par état, montrer le plus ancien en attente",
        description="Nombre d'éléments par état et le plus ancien en attente (référence et "
        "ancienneté seulement).",
    )
    p.add_argument(
        "--json", action="store_true", help="afficher la même chose en JSON (clés stables)"
    )
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
        from bot.wording import duration

        age = duration(oldest["age_seconds"])
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
        help="vérifier que l'e-parcours affiche toujours chaque texte dont le robot a besoin",
        description="Se connecter, parcourir chaque écran d'une double saisie et vérifier chaque "
        "texte du fichier de correspondance (mappings/target.yaml), sans rien enregistrer : le "
        "robot ouvre le dossier de l'usager de test (ICOPE_BOT_CHECK_BIRTH_NAME, "
        "ICOPE_BOT_CHECK_BIRTH_DATE), un formulaire STEP 1 qu'il quitte sans l'enregistrer, et "
        "les STEP 1 déjà saisies de ce dossier. Sur un outil d'entraînement (target: sandbox: "
        "true dans le fichier) il crée d'abord cet usager de test et une STEP 1. Code de sortie "
        "1 quand un texte est absent ou n'a pas pu être vérifié (sauf s'il figure dans la liste "
        "waived: du fichier, avec sa raison) : mettez le fichier à jour avant le prochain "
        "passage.",
    )
    p.add_argument("--json", action="store_true", help="afficher le rapport en JSON")
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
    words = {
        "found": "trouvé",
        "missing": "ABSENT",
        "waived": "dispensé",
        "not_checked": "NON VÉRIFIÉ",
    }
    styles = {"found": "green", "missing": "bold red", "waived": "dim", "not_checked": "bold red"}
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
        f"{counts['not_checked']} non vérifié(s), {counts['waived']} dispensé(s) par le fichier"
        + (" — lecture seule (rien n'a été enregistré)" if report.read_only else "")
    )
    if report.error:
        console.print(f"Contrôle interrompu : {report.error}", style="bold red")
    for text in report.unchecked:
        console.print(f"Non vérifié : {text}", style="bold red")
    if report.missing:
        console.print(
            "L'outil a changé : mettez à jour le fichier de correspondance avant le prochain "
            "passage.",
            style="bold red",
        )
    elif not report.ok:
        console.print(
            "Le contrôle n'a pas pu tout vérifier : l'outil n'est pas déclaré conforme.",
            style="bold red",
        )
    return 0 if report.ok else 1


# --- runs ----------------------------------------------------------------------------------------


RUN_EPILOG = """\
Exemples :
  icope-bot run --headed --limit 5          regarder le robot saisir les 5 éléments suivants
  icope-bot run --dry-run --reference AE-1  remplir le formulaire d'AE-1 sans l'enregistrer
                                            (une répétition)
  icope-bot run --workers 3                 trois navigateurs en parallèle (la nuit)

Ctrl-C une fois : le robot termine l'élément en cours de saisie, puis s'arrête.
Ctrl-C deux fois : arrêt immédiat (les éléments en cours seront repris au prochain passage).

À la fin : un tableau de bilan et un rapport reports/run-<date>.html (références seulement,
aucun nom).
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
        help="saisir dans l'e-parcours les auto-évaluations en attente (passage du robot)",
        description="Prendre un à un les éléments en attente dans la file, saisir chacun dans\n"
        "l'e-parcours, relire les alertes et les comparer. Les éléments dont les alertes\n"
        "concordent sont terminés ; les autres attendent votre décision ; les erreurs\n"
        "techniques sont réessayées plus tard.",
        epilog=RUN_EPILOG + _exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--limit", type=positive, metavar="N", help="saisir au plus N éléments, puis s'arrêter"
    )
    p.add_argument(
        "--reference",
        nargs="+",
        action="extend",
        metavar="REF",
        help="seulement ces éléments (leurs références, comme dans « icope-bot status » ou le "
        "fichier des exceptions)",
    )
    p.add_argument(
        "--workers",
        type=positive,
        metavar="N",
        help="N navigateurs en parallèle (par défaut : ICOPE_BOT_WORKERS, 1)",
    )
    p.add_argument("--headed", action="store_true", help="montrer la fenêtre du navigateur")
    p.add_argument(
        "--slow-mo",
        type=int,
        metavar="MS",
        help="attendre MS millisecondes entre deux actions du navigateur, pour suivre ce que "
        "fait le robot",
    )
    p.add_argument(
        "--pause-on-exception",
        action="store_true",
        help="sur un problème, garder le navigateur sur l'écran en cause et demander : "
        "continuer / passer / arrêter (ouvre la fenêtre du navigateur ; un seul robot)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="répétition : remplir les formulaires sans jamais enregistrer ; les éléments "
        "restent en attente",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="afficher le bilan en JSON (la progression va sur la sortie d'erreur)",
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
