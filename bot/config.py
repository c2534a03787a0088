"""All of icope-bot's settings in one place: env vars ``ICOPE_BOT_*``, a ``.env`` file, defaults.

The defaults run the demo against the embedded sandbox. Unknown ``ICOPE_BOT_*`` keys in ``.env``
are refused, so a typo does not silently fall back to a default. Secrets are ``SecretStr``: they
never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigurationError, CredentialsError, OtpSetupError

__all__ = ["DATA_LAYOUT", "PROJECT_ROOT", "OtpMode", "ScreenshotMode", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Where each data folder lives beneath ``ICOPE_BOT_HOME`` unless its own variable says otherwise.
DATA_LAYOUT: dict[str, tuple[str, ...]] = {
    "queue_path": ("queue", "queue.db"),
    "inbox_dir": ("queue", "inbox"),
    "archive_dir": ("queue", "archive"),
    "screenshots_dir": ("screenshots",),
    "reports_dir": ("reports",),
    "reviews_dir": ("reviews",),
    "logs_dir": ("logs",),
}


class ScreenshotMode(StrEnum):
    ON = "on"  # filled form and alerts panel for every item, plus failures
    OFF = "off"
    ONLY_ON_FAILURE = "only-on-failure"


class TraceMode(StrEnum):
    """Which attempts of an item are traced (Playwright trace, kept on a system failure only)."""

    ON = "on"  # every attempt: ≈ 0.7 s of browser work per item (docs/benchmarks.md)
    ON_RETRY = "on-retry"  # from the second attempt: what failed once is traced when it retries
    OFF = "off"


class OtpMode(StrEnum):
    """Where the second login factor comes from."""

    NONE = "none"  # the target asks for no second factor
    IMAP = "imap"  # read the one-time code from the bot account's mailbox (production)
    PROMPT = "prompt"  # ask the assistant in the terminal (supervised runs)
    TOTP = "totp"  # compute it from a shared secret (authenticator-app targets)


class Settings(BaseSettings):
    """icope-bot settings. Every field can be set as ``ICOPE_BOT_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix="ICOPE_BOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    # --- target -------------------------------------------------------------------------
    base_url: str = "http://127.0.0.1:8765"
    mapping: Path = PROJECT_ROOT / "mappings" / "target.yaml"
    username: str = "bot"
    password: SecretStr | None = None  # from env or keyring, never from code
    keyring_service: str = "icope-bot"  # keyring entry (service, username) when password unset
    otp_source: OtpMode = OtpMode.NONE
    totp_secret: SecretStr | None = None
    effecteur: str = ""  # professional the re-entered STEP 1s are attributed to (to confirm)
    # The test usager whose dossier and STEP 1s check-target may open (read only) to read every
    # screen: on a training target, the one check-target creates itself.
    check_birth_name: str = "CONTROLE"
    check_birth_date: date = date(1901, 1, 1)

    # --- one-time code by e-mail (otp_source=imap) ---------------------------------------
    imap_host: str = "127.0.0.1"
    imap_port: int = 1143
    imap_tls: bool = False
    imap_user: str = ""
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_move_to: str | None = None  # folder to move used code mails to; None = mark seen only
    otp_timeout_seconds: float = 60.0
    otp_address: str = ""  # address the target sends codes to (To header); "" = imap_user
    otp_clock_skew_seconds: float = Field(5.0, ge=0)  # mail server vs bot clock, INTERNALDATE

    # --- data ------------------------------------------------------------------------------
    # One folder for all the data (ICOPE_BOT_HOME); each path below defaults to its place in it
    # (DATA_LAYOUT) and can still be set on its own. The defaults below are never used as such.
    home: Path = PROJECT_ROOT
    queue_path: Path = PROJECT_ROOT / "queue" / "queue.db"
    # postgresql://user@host/db: one queue shared by several machines (docs/scaling.md);
    # "" = the SQLite file queue_path (one machine)
    queue_url: str = Field("", pattern=r"^(|postgres(ql)?://.+)$")
    machine_name: str = ""  # this machine in worker names and reports; "" = its host name
    inbox_dir: Path = PROJECT_ROOT / "queue" / "inbox"
    archive_dir: Path = PROJECT_ROOT / "queue" / "archive"
    refused_dir: Path | None = None  # unreadable inbox files + reasons; None = refused/ beside
    export_mapping: Path = PROJECT_ROOT / "mappings" / "icope_et_moi.yaml"
    screenshots_dir: Path = PROJECT_ROOT / "screenshots"
    reports_dir: Path = PROJECT_ROOT / "reports"
    reviews_dir: Path = PROJECT_ROOT / "reviews"
    logs_dir: Path = PROJECT_ROOT / "logs"
    screenshots: ScreenshotMode = ScreenshotMode.ON
    # Playwright's own advice ("on-first-retry"): a trace records every action's page, which
    # costs each item, for the rare one that fails; a failure keeps its screenshot either way.
    traces: TraceMode = TraceMode.ON_RETRY
    # icope-bot evaluation: communes → territory; counts under this are shown « < N » in reports
    territories: Path = PROJECT_ROOT / "mappings" / "territories.yaml"
    small_count_threshold: int = Field(11, ge=1)

    # --- what ingestion accepts (docs/reliability.md: what happens past each limit) ---------
    ingest_max_file_mb: int = Field(400, ge=1)  # a 1M-row CSV export is ≈ 230 MB
    ingest_max_part_mb: int = Field(256, ge=1)  # one uncompressed part of an .xlsx
    ingest_max_total_mb: int = Field(512, ge=1)  # all parts of an .xlsx, uncompressed
    ingest_max_rows: int = Field(300_000, ge=1)  # one sheet
    ingest_max_columns: int = Field(256, ge=1)  # one sheet
    ingest_max_cells: int = Field(20_000_000, ge=1)  # one sheet's declared rows × columns
    ingest_max_cell_chars: int = Field(32_767, ge=100)  # longer: that row is quarantined
    ingest_reader_memory_mb: int = Field(2048, ge=64)  # the Excel reader's child process
    ingest_reader_timeout_seconds: float = Field(900.0, gt=0)

    # --- run behaviour ----------------------------------------------------------------------
    timeout_ms: int = Field(15_000, ge=500)  # one UI action / navigation
    # A dead worker's item is taken again at most lease_seconds after its last heartbeat; a
    # live worker renews the lease of the item in hand every heartbeat_seconds.
    lease_seconds: float = Field(600.0, gt=0)
    heartbeat_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    backoff_seconds: float = Field(60.0, ge=0)  # first retry delay, doubled each attempt
    circuit_breaker: int = Field(3, ge=1)  # consecutive system exceptions that stop a run
    workers: int = Field(1, ge=1, le=16)
    # A worker's browser context (and its Chromium renderer, which grows by ≈ 13 MB an item and
    # keeps it) is replaced every this many items, the tool's session cookie carried over (no
    # new login); 0 = never (docs/benchmarks.md, "Mémoire sur une nuit")
    items_per_context: int = Field(10, ge=0)
    headed: bool = False
    slow_mo_ms: int = Field(0, ge=0)
    log_level: str = "INFO"

    # --- overnight schedule (icope-bot schedule; cron lines, "" = job off) -------------------
    schedule_ingest: str = "0 21 * * *"  # ingest queue/inbox/
    schedule_run_start: str = "5 21 * * *"  # check the target, then run the queue
    # no new item is started after this local time (HH:MM)
    schedule_stop_time: str = Field("06:00", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    schedule_report: str = "15 6 * * *"  # morning report + exceptions file
    schedule_timezone: str = "Europe/Paris"

    def __init__(self, **values: Any) -> None:
        # pydantic's error quotes each rejected value: a misspelt ICOPE_BOT_PASWORD would put the
        # password in a traceback on stderr (the system journal). Only key names are reported.
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigurationError(_explain(e), code="settings_invalid") from None

    @property
    def queue_target(self) -> Path | str:
        """What :func:`bot.workqueue.open_queue` opens: ``queue_url`` if set, else ``queue_path``."""
        return self.queue_url or self.queue_path

    @field_validator("queue_url")
    @classmethod
    def _no_password_in_url(cls, url: str) -> str:
        """A password written in the URL would travel with every printed setting and copied
        .env file: the database password is read by libpq from ~/.pgpass instead."""
        if "password=" in url.lower() or re.match(r"^[a-z]+://[^/@]*:[^/@]*@", url):
            raise PydanticCustomError(
                "secret_in_url",
                "l'adresse contient un mot de passe ; retirez-le et mettez-le dans le fichier "
                "~/.pgpass (mode 0600) du compte du robot, ou dans PGPASSFILE "
                "(docs/scaling.md)",
            )
        return url

    @model_validator(mode="before")
    @classmethod
    def _data_beneath_home(cls, data: Any) -> Any:
        """Place every data path not given on its own beneath ``home``."""
        if not isinstance(data, dict):
            return data
        home = Path(data.get("home") or PROJECT_ROOT).expanduser()
        data["home"] = home
        for name, parts in DATA_LAYOUT.items():
            if data.get(name) in (None, ""):
                data[name] = home.joinpath(*parts)
        return data

    def make_home_private(self) -> None:
        """Create the data folder 0700, or tighten it if it is ours (health data lie beneath).

        A folder made beforehand with ``mkdir`` is 0755: anyone on the machine could list the
        names of the review files and reports in it. The project folder, the default home of a
        checkout, is left as it is.
        """
        from bot.evidence import private_dir  # deferred: config is imported by everything

        home = Path(self.home)
        if home.resolve() != PROJECT_ROOT.resolve():
            private_dir(home)

    def data_paths(self) -> dict[str, Path]:
        """Each data folder (or file) by setting name, for a person asking where things are."""
        return {name: Path(getattr(self, name)) for name in DATA_LAYOUT}

    # --- secrets: the setting, else the system keyring -----------------------------------------

    def robot_password(self) -> SecretStr:
        """The robot account's password: ICOPE_BOT_PASSWORD, else keyring (service, username)."""
        stored = self.password or _keyring_secret(self.keyring_service, self.username)
        if stored is None:
            raise CredentialsError(
                "Mot de passe du compte e-parcours du robot introuvable : définissez "
                "ICOPE_BOT_PASSWORD ou enregistrez-le dans le trousseau (service "
                f"« {self.keyring_service} », compte « {self.username} »)."
            )
        return stored

    def imap_secret(self) -> SecretStr:
        """The mailbox password: ICOPE_BOT_IMAP_PASSWORD, else keyring (service, imap:<user>)."""
        stored = self.imap_password or _keyring_secret(
            self.keyring_service, "imap:" + self.imap_user
        )
        if stored is None:
            raise OtpSetupError(
                "Mot de passe de la boîte aux lettres du robot introuvable : définissez "
                "ICOPE_BOT_IMAP_PASSWORD ou enregistrez-le dans le trousseau (service "
                f"« {self.keyring_service} », compte « imap:<adresse de la boîte> »)."
            )
        return stored


def _explain(exc: ValidationError) -> str:
    """A settings error in French, naming keys only: never a value, which may be a secret."""
    known = [f"ICOPE_BOT_{name.upper()}" for name in Settings.model_fields]
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        key = "_".join(str(p) for p in err["loc"]).upper()
        key = key if key.startswith("ICOPE_BOT_") else f"ICOPE_BOT_{key}"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
            hint = f" (vouliez-vous écrire {close[0]} ?)" if close else ""
            lines.append(f"réglage inconnu {key}{hint}")
        elif err["type"] == "secret_in_url":
            lines.append(f"{key} : {err['msg']}")
        else:
            lines.append(f"valeur refusée pour {key} ({err['type']})")
    return (
        "Configuration invalide (variables d'environnement ICOPE_BOT_* ou fichier .env) : "
        + " ; ".join(lines)
        + "."
    )


def _keyring_secret(service: str, account: str) -> SecretStr | None:
    """The system keyring's entry, or None when absent or the keyring cannot be read."""
    import keyring  # imported late: it probes the desktop's keyring backends on import
    from keyring.errors import KeyringError

    try:
        stored = keyring.get_password(service, account)
    except KeyringError:
        return None
    return SecretStr(stored) if stored else None
