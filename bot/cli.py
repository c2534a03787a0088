"""The ``icope-bot`` command. Thin: every subcommand parses its options and delegates.

Subcommands are grouped by the user who runs them; each group sits in its own section below.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

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

    # --- the double entry: check-target ------------------------------------------------------

    # --- runs: run, schedule -----------------------------------------------------------------

    # --- the reviewer: review export / review import ------------------------------------------

    # --- demo ------------------------------------------------------------------------------------

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
        overrides["otp"] = args.otp
    serve(SandboxConfig(**overrides), port=args.port)
    return 0


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
