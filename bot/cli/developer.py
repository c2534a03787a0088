"""Developer and training commands: the sandbox e-parcours, sample exports, the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from bot.cli.parsing import SubParsers
from bot.config import Settings
from bot.wording import count

if TYPE_CHECKING:
    from sandbox.config import OtpMode

__all__ = ["register"]


def register(sub: SubParsers, *, run_command: Callable[[Sequence[str]], int]) -> None:
    """Add this audience's subcommands; the demo types its commands through ``run_command``."""
    _add_sandbox(sub)
    _add_sample_export(sub)
    _add_demo(sub, run_command)


def _add_sandbox(sub: SubParsers) -> None:
    p = sub.add_parser(
        "sandbox",
        help="démarrer l'application web qui imite l'e-parcours (127.0.0.1 seulement)",
        description="Démarrer le bac à sable e-parcours pour la démonstration, les tests et "
        "la formation.",
    )
    p.add_argument("--port", type=int, default=8765, help="port sur 127.0.0.1 (par défaut 8765)")
    p.add_argument(
        "--db",
        help="fichier SQLite des données du bac à sable (par défaut : un nouveau fichier "
        "temporaire)",
    )
    p.add_argument(
        "--otp",
        choices=["none", "totp", "email"],
        help="second facteur de connexion (par défaut : celui du bac à sable, par courriel)",
    )
    p.add_argument(
        "--seed-year",
        type=int,
        metavar="ANNÉE",
        help="remplir un bac à sable vide d'une année de STEP 1 et de STEP 2 (sandbox/seed.py)",
    )
    p.add_argument(
        "--ui-variant",
        choices=[
            "standard",
            "v2",
            "yesno_select",
            "yesno_swapped",
            "chair_not_done",
            "save_renamed",
            "columns_reordered",
            "alerts_wording",
            "alerts_icon",
        ],
        help="écrans à jouer : standard, v2 (libellés renommés, autre ordre), ou une forme "
        "changée par une mise à jour de l'outil (docs/adapting-to-target-updates.md)",
    )
    p.set_defaults(handler=_run_sandbox)


class _SandboxOptions(TypedDict, total=False):
    """The sandbox settings given on the command line; the others come from SANDBOX_* or defaults."""

    db_path: Path
    otp_mode: OtpMode
    seed_year: int


def _run_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from sandbox.config import SandboxConfig
    from sandbox.server import serve

    given = _SandboxOptions()
    if args.db:
        given["db_path"] = Path(args.db)
    if args.otp:
        given["otp_mode"] = args.otp
    if args.seed_year:
        given["seed_year"] = args.seed_year
    config = SandboxConfig(**given)
    if args.ui_variant:
        faults = config.faults.model_copy(update={"ui_variant": args.ui_variant})
        config = config.model_copy(update={"faults": faults})
    serve(config, port=args.port)
    return 0


def _add_sample_export(sub: SubParsers) -> None:
    p = sub.add_parser(
        "sample-export",
        help="écrire un export ICOPE et Moi fictif et réaliste (démonstration, tests, formation)",
        description="Écrire un export ICOPE et Moi fictif aux réponses et taux d'alerte "
        "plausibles, avec au choix des usagers qui reviennent, des homonymes, des lignes "
        "fautives et des alertes discordantes.",
    )
    p.add_argument(
        "--rows",
        type=int,
        required=True,
        metavar="LIGNES",
        help="nombre de lignes (tous cas compris)",
    )
    p.add_argument(
        "--out", type=Path, required=True, metavar="FICHIER", help="fichier à écrire, .xlsx ou .csv"
    )
    p.add_argument("--seed", type=int, default=0, help="même graine, même fichier (par défaut 0)")
    p.add_argument(
        "--returning", type=int, default=0, help="nouvelles évaluations des mêmes personnes"
    )
    p.add_argument("--homonyms", type=int, default=0, help="personnes portant le nom d'une autre")
    p.add_argument(
        "--errors", type=int, default=0, help="lignes avec une cellule volontairement fausse"
    )
    p.add_argument(
        "--discordant",
        type=int,
        default=0,
        help="lignes dont l'alerte de l'application contredit les règles",
    )
    p.set_defaults(handler=_run_sample_export)


def _run_sample_export(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from bot.console import RowProgress
    from bot.sample import generate

    try:
        with RowProgress(Console(stderr=True)) as bar:
            export = generate(
                args.rows,
                seed=args.seed,
                returning=args.returning,
                homonyms=args.homonyms,
                errors=args.errors,
                discordant=args.discordant,
                progress=bar,
            )
            path = export.write(args.out, progress=bar)
    except ValueError as e:
        print(f"Export d'exemple impossible : {e}", file=sys.stderr)
        return 2
    print(
        f"{path} : {count(len(export.rows), 'ligne')} ("
        f"{count(len(export.returning), 'retour')}, {count(len(export.homonyms), 'homonyme')}, "
        f"{count(len(export.errors), 'erreur voulue')}, "
        f"{count(len(export.discordant), 'alerte discordante')}, "
        f"{count(len(export.no_consent), 'ligne')} sans consentement au partage)."
    )
    return 0


def _add_demo(sub: SubParsers, run_command: Callable[[Sequence[str]], int]) -> None:
    p = sub.add_parser(
        "demo",
        help="toute la double saisie sur des données fictives, dans le bac à sable (make demo)",
        description="Démarrer le bac à sable e-parcours et une messagerie locale, générer un "
        "export ICOPE et Moi fictif, le mettre en file, faire la double saisie, préparer le "
        "fichier des exceptions, puis garder le bac à sable ouvert pour s'y connecter et saisir "
        "une STEP 1 à la main.",
    )
    p.add_argument(
        "--rows",
        type=int,
        default=12,
        metavar="LIGNES",
        help="lignes de l'export d'exemple (par défaut 12)",
    )
    p.add_argument(
        "--seed", type=int, default=7, help="graine des données d'exemple (par défaut 7)"
    )
    p.add_argument(
        "--workers", type=int, default=2, help="navigateurs au travail en même temps (par défaut 2)"
    )
    p.add_argument(
        "--port", type=int, default=8765, help="port du bac à sable sur 127.0.0.1 (par défaut 8765)"
    )
    p.add_argument(
        "--headed", action="store_true", help="montrer les navigateurs pendant qu'ils travaillent"
    )
    p.add_argument(
        "--dir", type=Path, help="dossier de la démonstration, vidé d'abord (par défaut demo-run/)"
    )
    p.add_argument(
        "--no-wait", action="store_true", help="arrêter le bac à sable à la fin au lieu d'attendre"
    )
    p.set_defaults(handler=_run_demo, run_command=run_command)


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.demo import DEMO_DIR, run_demo

    return run_demo(
        args.dir or DEMO_DIR,
        rows=args.rows,
        seed=args.seed,
        workers=args.workers,
        port=args.port,
        headed=args.headed,
        wait=not args.no_wait,
        run_command=args.run_command,
    )
