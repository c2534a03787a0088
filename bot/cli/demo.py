"""``icope-bot demo``: the whole double entry on fictitious data, against the embedded sandbox.

It plays a day of the assistant's work with the very commands she would type (each is printed
before it runs): generate an ICOPE et Moi export, queue it, run the double entry, prepare the
reviewer's file, look at the queue. The sandbox logs in with a one-time code sent by e-mail, like
the real tool, so a local mail system (SMTP + IMAP) runs beside it. Everything lands in one
folder (``demo-run/`` by default) that is emptied at the start of each demo.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from bot.config import PROJECT_ROOT

if TYPE_CHECKING:
    # Imported when the demo runs only: a production install has no sandbox extra.
    from bot.otp import ImapCodeSource
    from mailpipe import MailPipeline

__all__ = ["DEMO_DIR", "run_demo"]

DEMO_DIR = PROJECT_ROOT / "demo-run"
BOT_EMAIL = "robot-icope@sandbox.e-parcours.invalid"
DEMO_EMAIL = "demo@sandbox.e-parcours.invalid"


def _fresh(workdir: Path) -> Path:
    # Only ever delete a folder the demo made (it holds a marker file), never a user's folder.
    if workdir.exists():
        if not (workdir / ".icope-bot-demo").exists():
            raise SystemExit(f"{workdir} existe et n'est pas un dossier de démo : choisir --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    (workdir / ".icope-bot-demo").touch()
    return workdir


def _environment(
    workdir: Path, base_url: str, bot_password: str, mail: MailPipeline
) -> dict[str, str]:
    """The ICOPE_BOT_* settings of the demo: every data folder inside ``workdir``."""
    return {
        "ICOPE_BOT_BASE_URL": base_url,
        "ICOPE_BOT_USERNAME": "bot",
        "ICOPE_BOT_PASSWORD": bot_password,
        "ICOPE_BOT_OTP_SOURCE": "imap",
        "ICOPE_BOT_IMAP_HOST": "127.0.0.1",
        "ICOPE_BOT_IMAP_PORT": str(mail.imap_port),
        "ICOPE_BOT_IMAP_USER": "bot",
        "ICOPE_BOT_IMAP_PASSWORD": mail.users["bot"],
        "ICOPE_BOT_OTP_ADDRESS": BOT_EMAIL,
        "ICOPE_BOT_HOME": str(workdir),
        "ICOPE_BOT_QUEUE_PATH": str(workdir / "queue" / "queue.db"),
        "ICOPE_BOT_INBOX_DIR": str(workdir / "queue" / "inbox"),
        "ICOPE_BOT_ARCHIVE_DIR": str(workdir / "queue" / "archive"),
        "ICOPE_BOT_SCREENSHOTS_DIR": str(workdir / "screenshots"),
        "ICOPE_BOT_REPORTS_DIR": str(workdir / "reports"),
        "ICOPE_BOT_REVIEWS_DIR": str(workdir / "reviews"),
        "ICOPE_BOT_LOGS_DIR": str(workdir / "logs"),
        # Who the re-entered STEP 1s are attributed to (billing): always configured explicitly.
        "ICOPE_BOT_EFFECTEUR": "Dr Claire Martin",
        # The progress display says what happens; every detail still goes to logs/ as JSON.
        "ICOPE_BOT_LOG_LEVEL": "WARNING",
    }


def _show_login_codes(mail: MailPipeline, out: Console) -> ImapCodeSource:
    """Print the one-time codes e-mailed to the demo account, so a person can log in by hand."""
    from datetime import UTC, datetime

    from bot.errors import SystemException
    from bot.otp import ImapCodeSource

    source = ImapCodeSource(
        host="127.0.0.1",
        port=mail.imap_port,
        user="demo",
        password=SecretStr(mail.users["demo"]),
        address=DEMO_EMAIL,
        timeout=24 * 3600,
    )

    def watch() -> None:
        while True:
            try:
                code = source.code_for(datetime.now(UTC))
            except SystemException:
                return  # cancelled at the end of the demo
            out.print(f"[bold green]Code de connexion du compte demo : {code}")

    threading.Thread(target=watch, name="demo-login-codes", daemon=True).start()
    return source


def run_demo(
    workdir: Path = DEMO_DIR,
    *,
    rows: int = 12,
    seed: int = 7,
    workers: int = 2,
    port: int = 8765,
    headed: bool = False,
    wait: bool = True,
    console: Console | None = None,
    run_command: Callable[[Sequence[str]], int],
) -> int:
    """Run the demo; returns the run's exit code (0 all done, 1 items to review, 2 failures).

    ``run_command`` is the ``icope-bot`` command itself (:func:`bot.cli.main`), passed in so that
    the demo types each command as a person would without importing the CLI back.
    """
    from mailpipe import start_mail_pipeline
    from sandbox.config import Account, Faults, SandboxConfig
    from sandbox.server import serve_in_thread

    out = console or Console()
    workdir = _fresh(workdir.resolve())
    demo_password = secrets.token_urlsafe(9)
    bot_password = secrets.token_urlsafe(18)

    def step(title: str, argv: Sequence[str]) -> int:
        out.rule(f"[bold]{title}")
        out.print(f"[dim]$ icope-bot {' '.join(argv)}")
        return run_command(list(argv))

    with ExitStack() as stack:
        out.print("Démarrage du bac à sable e-parcours et de la messagerie locale…")
        mail = stack.enter_context(
            start_mail_pipeline(
                workdir / "mail",
                {"bot": secrets.token_urlsafe(18), "demo": secrets.token_urlsafe(18)},
            )
        )
        mail.add_address(BOT_EMAIL, "bot")
        mail.add_address(DEMO_EMAIL, "demo")
        config = SandboxConfig(
            db_path=workdir / "e-parcours.db",
            otp_mode="email",
            smtp_port=mail.smtp_port,
            accounts=[
                Account(
                    username="demo",
                    password=SecretStr(demo_password),
                    email=DEMO_EMAIL,
                    display_name="Dr Claire Martin",
                ),
                Account(
                    username="bot",
                    password=SecretStr(bot_password),
                    email=BOT_EMAIL,
                    display_name="Robot de ressaisie ICOPE",
                ),
            ],
            # A realistic pace, and the information message real tools show now and then.
            faults=Faults(alerts_delay_ms=300, info_modal_rate=0.05, seed=seed),
            # This year's STEP 1s and STEP 2s by professionals, for the evaluation report.
            seed_year=date.today().year,
        )
        sandbox = stack.enter_context(serve_in_thread(config, port=port))
        saved_env = {k: os.environ.get(k) for k in _environment(workdir, "", "", mail)}
        os.environ.update(_environment(workdir, sandbox.base_url, bot_password, mail))
        try:
            export = workdir / "queue" / "inbox" / "icope-et-moi-export.xlsx"
            export.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            step(
                "1. Un export ICOPE et Moi (fictif) arrive",
                [
                    *(
                        "sample-export",
                        "--rows",
                        str(rows),
                        "--seed",
                        str(seed),
                        "--out",
                        str(export),
                    ),
                    *("--returning", "1", "--homonyms", "1", "--errors", "2", "--discordant", "1"),
                ],
            )
            step("2. Mettre l'export dans la file de travail", ["ingest", "--inbox"])
            run_args = ["run", "--workers", str(workers)] + (["--headed"] if headed else [])
            exit_code = step("3. Ressaisir dans l'e-parcours et comparer les alertes", run_args)
            step("4. Préparer le fichier du relecteur", ["review", "export"])
            step("5. État de la file", ["status"])
            start = (date.today() - timedelta(days=540)).isoformat()  # the sample's oldest
            step(
                "6. Rapport d'évaluation de la période",
                ["evaluation", "--from", start, "--to", date.today().isoformat()],
            )
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

        out.print(
            Panel.fit(
                "\n".join(
                    [
                        f"Bac à sable e-parcours : [bold]{sandbox.base_url}[/]",
                        f"  compte de formation : [bold]demo[/] / [bold]{demo_password}[/]"
                        " (le code reçu par e-mail s'affichera ici)",
                        f"Export traité, archivé : {workdir / 'queue' / 'archive'}",
                        f"Captures d'écran       : {workdir / 'screenshots'}",
                        f"Rapport de passage     : {workdir / 'reports'}",
                        f"Fichier du relecteur   : {workdir / 'reviews'}",
                        f"Rapport d'évaluation   : {workdir / 'reports'} (evaluation-*.html)",
                        f"File de travail        : {workdir / 'queue' / 'queue.db'}",
                    ]
                ),
                title="Où sont les choses",
            )
        )
        if wait:
            codes = _show_login_codes(mail, out)
            stack.callback(codes.cancel)
            out.print(
                "Le bac à sable reste ouvert : connectez-vous dans un navigateur pour saisir un "
                "STEP 1 à la main. [bold]Ctrl-C[/] pour arrêter."
            )
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                out.print("Arrêt du bac à sable.")
    return exit_code
