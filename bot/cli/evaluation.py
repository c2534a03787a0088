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
Writes into the reports folder (or --out):
  evaluation-<period>.html         one page for the evaluation committee (charts + tables)
  evaluation-<period>.xlsx         one sheet per table, native Excel charts
  evaluation-<period>-agrege.csv   aggregated figures only (";", UTF-8 with BOM)
  evaluation-<period>-ecarts.csv   the gaps item by item: PRIVATE, never sent (erased by purge)
Counts under ICOPE_BOT_SMALL_COUNT_THRESHOLD (11) are shown "< 11" in the first three files.
Territories: communes listed in mappings/territories.yaml (ICOPE_BOT_TERRITORIES).
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
        help="evaluation report of a period: queue + e-parcours exports → figures, charts, gaps",
        description="Collect the queue's ledger and the e-parcours's evaluations export "
        "(downloaded from its Exports page), compute volumes, delays, alert rates, concordance, "
        "STEP 2 follow-up, returns, review and population per month and territory, and write "
        "the report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="start", type=day, required=True, metavar="AAAA-MM-JJ")
    p.add_argument("--to", dest="end", type=day, required=True, metavar="AAAA-MM-JJ")
    p.add_argument("--territory", metavar="NOM", help="one territory only (default: all)")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder (default: the reports folder)")
    p.add_argument(
        "--export-file",
        type=Path,
        metavar="CSV",
        help="an evaluations CSV already downloaded from the e-parcours (no browser)",
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
