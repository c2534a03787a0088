"""Developer and training commands: the sandbox e-parcours, sample exports, the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from bot.cli.parsing import SubParsers
from bot.config import Settings

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
    p.add_argument(
        "--seed-year",
        type=int,
        metavar="YEAR",
        help="fill an empty sandbox with a year of STEP 1s and STEP 2s (sandbox/seed.py)",
    )
    p.add_argument(
        "--ui-variant",
        choices=["standard", "v2"],
        help="screens to play: standard, or v2 (renamed labels, other order: the UI changed)",
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
        f"{path} : {len(export.rows)} lignes ({len(export.returning)} retours, "
        f"{len(export.homonyms)} homonymes, {len(export.errors)} erreurs voulues, "
        f"{len(export.discordant)} alertes discordantes)."
    )
    return 0


def _add_demo(sub: SubParsers, run_command: Callable[[Sequence[str]], int]) -> None:
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
