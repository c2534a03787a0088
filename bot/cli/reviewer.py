"""The reviewer's commands: export the exceptions file, import the decisions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.parsing import SubParsers
from bot.config import Settings

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    """Add this audience's subcommands."""
    _add_review(sub)


def _add_review(sub: SubParsers) -> None:
    p = sub.add_parser(
        "review",
        help="fichier des exceptions pour la personne qui vérifie, et ses décisions",
        description="Exporter les éléments sur lesquels une personne doit décider (à vérifier, en "
        "échec, invalides) dans un fichier XLSX et un CSV ; importer ses décisions (valider, "
        "relancer, rejeter, corriger).",
    )
    actions = p.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    e = actions.add_parser("export", help="écrire reviews/exceptions-<date>.xlsx et .csv")
    who = e.add_mutually_exclusive_group()
    who.add_argument(
        "--with-identity",
        dest="with_identity",
        action="store_true",
        default=True,
        help="identité complète de l'usager dans le fichier, corrigeable par « corriger » "
        "(par défaut)",
    )
    who.add_argument(
        "--masked",
        dest="with_identity",
        action="store_false",
        help="usager en initiales, sans colonnes d'identité (« corriger » ne corrige alors que "
        "les réponses)",
    )
    e.add_argument(
        "--out",
        type=Path,
        metavar="DOSSIER",
        help="dossier des fichiers (par défaut : ICOPE_BOT_REVIEWS_DIR)",
    )
    e.set_defaults(handler=_run_review_export)
    i = actions.add_parser(
        "import", help="appliquer les décisions d'un fichier des exceptions rempli"
    )
    i.add_argument("file", type=Path, metavar="FICHIER", help="le fichier .xlsx ou .csv rempli")
    i.add_argument(
        "--reviewer", required=True, help="votre nom, inscrit dans l'historique de chaque élément"
    )
    i.set_defaults(handler=_run_review_import)


def _run_review_export(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from bot.console import RowProgress
    from bot.review import export_exceptions
    from bot.wording import state_count
    from bot.workqueue import open_queue

    with open_queue(settings.queue_target) as queue, RowProgress(Console(stderr=True)) as bar:
        result = export_exceptions(
            queue,
            args.out or settings.reviews_dir,
            with_identity=args.with_identity,
            progress=bar,
        )
    states = ", ".join(state_count(n, s) for s, n in result.by_state.items())
    print(f"{result.count} élément(s) à examiner ({states}).")
    if result.informations:
        print(
            f"{result.informations} écart(s) d'identité pour information, sans décision à "
            "prendre : onglet « Informations » du classeur."
        )
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
    with open_queue(settings.queue_target) as queue:
        try:
            report = import_decisions(queue, args.file, reviewer=args.reviewer)
        except ReviewFileError as e:
            print(e.message, file=sys.stderr)
            return 1
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
