"""The evaluators' command: ``icope-bot evaluation``, figures, charts and gaps of a period."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from bot.cli.parsing import SubParsers
from bot.config import Settings

__all__ = ["register"]

EPILOG = """\
Écrit dans le dossier des rapports (ou --out) :
  evaluation-<period>.html         une page pour le comité d'évaluation (graphiques + tableaux)
  evaluation-<period>.xlsx         une feuille par tableau, graphiques Excel natifs
  evaluation-<period>-agrege.csv   chiffres agrégés seulement (« ; », UTF-8 avec BOM)
  evaluation-<period>-ecarts.csv   les écarts élément par élément : PRIVÉ, jamais envoyé
                                   (effacé par la purge)
Les effectifs sous ICOPE_BOT_SMALL_COUNT_THRESHOLD (11) s'affichent « < 11 » dans les trois
premiers fichiers. Territoires : communes listées dans mappings/territories.yaml
(ICOPE_BOT_TERRITORIES).
"""


def register(sub: SubParsers) -> None:
    """Add this audience's subcommands."""

    def day(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"date « {text} » non comprise : écrire AAAA-MM-JJ, par exemple 2026-01-01"
            ) from e

    p = sub.add_parser(
        "evaluation",
        help="rapport d'évaluation d'une période : file + exports de l'e-parcours → chiffres, "
        "graphiques, écarts",
        description="Rassembler le registre de la file et l'export des évaluations de "
        "l'e-parcours (téléchargé depuis sa page Exports), calculer volumes, délais, taux "
        "d'alerte, concordance, suivi des STEP 2, retours, vérifications et population par mois "
        "et par territoire, puis écrire le rapport.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="start", type=day, required=True, metavar="AAAA-MM-JJ")
    p.add_argument("--to", dest="end", type=day, required=True, metavar="AAAA-MM-JJ")
    p.add_argument("--territory", metavar="NOM", help="un seul territoire (par défaut : tous)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DOSSIER",
        help="dossier (par défaut : celui des rapports)",
    )
    p.add_argument(
        "--export-file",
        type=Path,
        metavar="CSV",
        help="un CSV des évaluations déjà téléchargé de l'e-parcours (sans navigateur)",
    )
    p.set_defaults(handler=_run_evaluation)


def _run_evaluation(args: argparse.Namespace, settings: Settings) -> int:
    from bot.errors import BotError
    from bot.evaluation import Period, run_evaluation

    try:
        period = Period(args.start, args.end)
    except ValueError as e:
        print(str(e).capitalize(), file=sys.stderr)
        return 2
    if args.export_file is None:
        print(f"Évaluation {period.label()} : téléchargement de l'export de l'e-parcours…")
    try:
        done = run_evaluation(
            settings,
            period,
            territory=args.territory,
            out_dir=args.out,
            export_file=args.export_file,
        )
    except BotError as e:
        print(e.message, file=sys.stderr)
        return 2
    print(
        f"{done.items} auto-évaluation(s) de la file, {done.evaluations} évaluation(s) de "
        f"l'e-parcours sur la période ; {done.gaps} écart(s) relevé(s)."
    )
    print(f"Rapport (page)     : {done.files.html}")
    print(f"Rapport (classeur) : {done.files.xlsx}")
    print(f"Chiffres agrégés   : {done.files.csv}")
    print(f"Écarts (PRIVÉ, ne pas transmettre) : {done.files.gaps}")
    return 0
