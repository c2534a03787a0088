"""The ``icope-bot`` command. Thin: every subcommand parses its options and delegates.

Subcommands are grouped by the user who runs them, one module each: :mod:`bot.cli.assistant`,
:mod:`bot.cli.reviewer`, :mod:`bot.cli.night` and :mod:`bot.cli.developer`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot.cli import assistant, developer, evaluation, night, reviewer
from bot.cli.parsing import speak_french
from bot.config import Settings
from bot.errors import ConfigurationError, what_to_do
from bot.logs import configure_logging

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Settings], int]

EPILOG = """\
Une journée type :
  icope-bot ingest export.xlsx        mettre en file un export ICOPE et Moi (lignes fautives en
                                      quarantaine)
  icope-bot status                    ce qui attend, ce qui est fait, ce qui est à vérifier
  icope-bot run --headed              passage supervisé, navigateur visible
  icope-bot review export             fichier des exceptions pour la personne qui vérifie
  icope-bot review import FICHIER     appliquer ses décisions
  icope-bot evaluation --from 2026-01-01 --to 2026-11-30   chiffres, graphiques et écarts
                                      d'une période

Les réglages viennent des variables d'environnement ICOPE_BOT_* ou d'un fichier .env (voir le
README).
"""


def _parser() -> argparse.ArgumentParser:
    speak_french()
    parser = argparse.ArgumentParser(
        prog="icope-bot",
        description="Ressaisir dans l'e-parcours les auto-évaluations STEP 1 d'ICOPE et Moi "
        "et vérifier que les deux outils donnent les mêmes alertes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="afficher les messages de mise au point"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE", required=True)
    for audience in (assistant, reviewer, night, evaluation):
        audience.register(sub)
    developer.register(sub, run_command=main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ConfigurationError as e:  # names the keys only, never a value (no traceback)
        return _configuration_refused(e)
    settings.make_home_private()
    configure_logging(
        "DEBUG" if args.verbose else settings.log_level,
        settings.logs_dir,
        timezone_name=settings.schedule_timezone,  # the hours people plan the nights in
    )
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except ConfigurationError as e:
        # Raised before any item was taken (a mapping, the OTP set-up): say what to fix, no trace.
        return _configuration_refused(e)
    except KeyboardInterrupt:
        print("Interrompu.", file=sys.stderr)
        return 130


def _configuration_refused(e: ConfigurationError) -> int:
    print(f"Réglage à corriger : {e.message}", file=sys.stderr)
    if action := what_to_do(e.code):
        print(f"Que faire : {action}", file=sys.stderr)
    return 2
