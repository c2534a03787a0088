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
Chaque nuit (heures dans ICOPE_BOT_SCHEDULE_*, heure de Paris par défaut) :
  21:00  mettre en file les fichiers déposés dans queue/inbox/
  21:05  contrôler les écrans de l'e-parcours ; s'ils ont changé, pas de passage (dit dans le
         rapport), sinon traiter la file ; aucun nouvel élément après l'heure de fin (06:00)
  06:15  rapport du matin reports/morning-<date>.txt / .json, fichier des exceptions dans
         reviews/

Une exécution à la fois : une étape qui en trouve une autre en cours ne fait rien (verrou
queue/.scheduler.lock).
Code de sortie de --once : 0 rien à examiner, 1 des éléments attendent votre décision,
2 échecs techniques, 3 une autre exécution était en cours (rien n'a été fait), 4 les écrans de
l'e-parcours ont changé (file non traitée).
Voir docs/scheduler.md pour le faire tourner comme un service.
"""


def _add_schedule(sub: SubParsers) -> None:
    p = sub.add_parser(
        "schedule",
        help="passages de nuit : mise en file, contrôle de l'outil cible, passage jusqu'à "
        "l'heure de fin, rapport du matin",
        description="Faire tourner le cycle de nuit selon son planning jusqu'à l'arrêt "
        "(Ctrl-C, SIGTERM),\nou un cycle complet tout de suite avec --once.",
        epilog=SCHEDULE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="un cycle complet tout de suite : mise en file, contrôle, passage jusqu'à la fin "
        "ou l'heure de fin, rapport",
    )
    p.add_argument(
        "--stop-at",
        metavar="HEURE",
        help="avec --once : aucun nouvel élément après HEURE, HH:MM ou 2025-06-02T06:00 "
        "(par défaut : ICOPE_BOT_SCHEDULE_STOP_TIME, 06:00)",
    )
    p.add_argument("--json", action="store_true", help="avec --once : afficher le rapport en JSON")
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
        help="effacer les données de santé des éléments finis (terminés, validés, rejetés) "
        "depuis plus d'une durée",
        description="Effacer l'auto-évaluation, la ligne brute, le résultat, les détails et les "
        "captures d'écran des éléments finis (terminés, validés, rejetés) depuis plus que la "
        "durée donnée, et leurs captures dans les rapports de passage ; effacer aussi, quand ils "
        "sont plus anciens que la durée, les fichiers des exceptions, les captures dont aucun "
        "élément en attente n'a besoin (essais à blanc compris), les exports archivés dont "
        "toutes les lignes sont purgées, les rapports du matin et les lignes du journal. "
        "L'historique anonyme et les comptes restent.",
    )
    p.add_argument(
        "--older-than",
        required=True,
        type=age,
        metavar="DURÉE",
        help="durée depuis la fin de l'élément : 90d (jours), 12h (heures) ou 30m (minutes)",
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
