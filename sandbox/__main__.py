"""``python -m sandbox --port 8765``: run the e-parcours sandbox in the foreground."""

from __future__ import annotations

import argparse

from sandbox.config import UI_VARIANTS, SandboxConfig
from sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--otp", choices=("none", "totp", "email"), help="second facteur")
    parser.add_argument("--ui-variant", choices=UI_VARIANTS)
    args = parser.parse_args(argv)
    config = SandboxConfig()
    if args.otp:
        config = config.model_copy(update={"otp_mode": args.otp})
    if args.ui_variant:
        faults = config.faults.model_copy(update={"ui_variant": args.ui_variant})
        config = config.model_copy(update={"faults": faults})
    serve(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
