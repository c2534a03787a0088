"""Settings of the sandbox e-parcours: accounts, second factor, session rules, fault knobs.

Everything can be set in code (``SandboxConfig(...)``) or by environment variables prefixed
``SANDBOX_`` (``SANDBOX_OTP_MODE=none``, ``SANDBOX_ERROR_RATE=0.2``, ``SANDBOX_UI_VARIANT=v2``).
The default accounts and their passwords exist only in this training stand-in.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DOMAINS",
    "UI_VARIANTS",
    "Account",
    "Faults",
    "OtpMode",
    "Professional",
    "SandboxConfig",
    "Thresholds",
    "UiVariant",
]

#: The six ICOPE domain codes, in the order of the STEP 1 form (standard variant).
DOMAINS: tuple[str, ...] = (
    "cognition",
    "mobilite",
    "nutrition",
    "vision",
    "audition",
    "psychologie",
)

VERSION = "4.2.1"

#: The screens the sandbox plays: the current tool, or one changed the way a vendor update might
#: (sandbox/labels.py says what each changes; mappings/ has the mapping that fits each one).
UiVariant = Literal[
    "standard",
    "v2",  # a few labels renamed, Psychologie before Vision
    "yesno_select",  # the yes/no questions are drop-downs
    "yesno_swapped",  # "Non" before "Oui", orientation answered "Correct" / "Incorrect"
    "chair_not_done",  # the chair-rise duration with a "Non réalisé" box, no yes/no question
    "save_renamed",  # the STEP 1's save button renamed
    "columns_reordered",  # the search results' columns in another order
    "alerts_wording",  # the alerts panel's statuses worded differently
    "alerts_icon",  # the alerts' status as a coloured mark named for assistive technologies
]
UI_VARIANTS: tuple[str, ...] = get_args(UiVariant)

#: The second login factor: none, an authenticator app's code, or a code sent by e-mail.
OtpMode = Literal["none", "totp", "email"]


class Account(BaseModel):
    """A professional who can log in to the sandbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    password: SecretStr
    email: str
    display_name: str
    totp_secret: SecretStr | None = None


class Professional(BaseModel):
    """An effecteur selectable on evaluations (fictitious RPPS numbers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rpps: str = Field(pattern=r"^\d{11}$")
    profession: str


class Thresholds(BaseModel):
    """The sandbox's own STEP 1 thresholds (same defaults as the reference rules)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chair_rise_max_seconds: float = 14.0
    weight_loss_threshold_kg: float = 3.0
    hearwho_fail_below: int = 50
    audiometry_pass_max_db: int = 35
    self_reported_hearing_problem_alerts: bool = True
    memory_complaint_alerts: bool = False


class Faults(BaseSettings):
    """Fault knobs; changed at runtime through ``POST /__test__/faults`` when test endpoints are on."""

    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_", extra="ignore", validate_assignment=True
    )

    latency_ms: int = Field(0, ge=0)
    jitter_ms: int = Field(0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)  # share of page requests answered by a 500 page
    slow_rate: float = Field(0.0, ge=0, le=1)  # share of page requests delayed by slow_seconds
    slow_seconds: float = Field(30.0, ge=0)
    expire_session_after: int | None = Field(None, ge=1)  # requests per session before expiry
    info_modal_rate: float = Field(0.0, ge=0, le=1)  # share of pages showing a blocking modal
    ui_variant: UiVariant = "standard"
    # A tool update touching one text: {"step1.submit": "Sauvegarder"} (dotted key of labels.py).
    renamed_texts: dict[str, str] = Field(default_factory=dict)
    wrong_domain: str | None = None  # this domain's alert is computed inverted
    alerts_delay_ms: int = Field(300, ge=0)  # delay before the alerts panel is served
    seed: int | None = None  # makes the random faults reproducible
    # Shapes a vendor update may give the screens (issue 17), each switchable on its own:
    alerts_colour_only: bool = False  # the alerts panel shows each status by colour alone
    extra_field: Literal["none", "default", "required"] = "none"  # "Lieu de l'évaluation"
    save_confirm: Literal["none", "native", "modal"] = "none"  # a confirmation after "save"

    @field_validator("wrong_domain")
    @classmethod
    def _known_domain(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if v not in DOMAINS:
            raise ValueError(f"domaine inconnu {v!r} (attendu : {', '.join(DOMAINS)})")
        return v

    def describe(self) -> str:
        """The faults being played, in French ("aucune" when the sandbox behaves)."""

        def pct(share: float) -> str:
            return f"{share * 100:g} %".replace(".", ",")

        said = []
        if self.latency_ms or self.jitter_ms:
            jitter = f" ± {self.jitter_ms} ms" if self.jitter_ms else ""
            said.append(f"latence {self.latency_ms} ms{jitter}")
        if self.error_rate:
            said.append(f"erreur 500 sur {pct(self.error_rate)} des pages")
        if self.slow_rate:
            seconds = f"{self.slow_seconds:g}".replace(".", ",")
            said.append(f"{pct(self.slow_rate)} des pages ralenties de {seconds} s")
        if self.expire_session_after:
            said.append(f"session perdue après {self.expire_session_after} requêtes")
        if self.info_modal_rate:
            said.append(f"message bloquant sur {pct(self.info_modal_rate)} des pages")
        if self.wrong_domain:
            said.append(f"alerte {self.wrong_domain} calculée à l'envers")
        if self.alerts_delay_ms != type(self).model_fields["alerts_delay_ms"].default:
            said.append(f"alertes affichées après {self.alerts_delay_ms} ms")
        if said and self.seed is not None:
            said.append(f"tirage reproductible (graine {self.seed})")
        return ", ".join(said) or "aucune"


def _default_accounts() -> list[Account]:
    return [
        Account(
            username="demo",
            password=SecretStr("demo-icope-2025"),
            email="demo@sandbox.e-parcours.invalid",
            display_name="Dr Claire Martin",
        ),
        Account(
            username="bot",
            password=SecretStr("bot-icope-2025"),
            email="bot@sandbox.e-parcours.invalid",
            display_name="Robot de ressaisie ICOPE",
        ),
    ]


def _default_professionals() -> list[Professional]:
    return [
        Professional(name="Dr Claire Martin", rpps="10001234567", profession="Médecin généraliste"),
        Professional(name="Julien Moreau", rpps="10007654321", profession="Infirmier"),
        Professional(name="Sophie Lefèvre", rpps="10009876543", profession="Infirmière"),
    ]


def _default_db_path() -> Path:
    return Path("sandbox-data") / f"e-parcours-{datetime.now():%Y%m%d-%H%M%S-%f}.db"


class SandboxConfig(BaseSettings):
    """How one sandbox run behaves."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    db_path: Path = Field(default_factory=_default_db_path)  # one SQLite file per run
    accounts: list[Account] = Field(default_factory=_default_accounts)
    professionals: list[Professional] = Field(default_factory=_default_professionals)
    otp_mode: OtpMode = "email"
    otp_validity_minutes: int = Field(10, ge=1)
    otp_max_attempts: int = Field(3, ge=1)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "ne-pas-repondre@sandbox.e-parcours.invalid"
    session_idle_minutes: float = Field(20, gt=0)
    lockout_after: int = Field(5, ge=1)  # failed passwords before the account is locked
    lockout_minutes: int = Field(15, ge=1)
    page_size: int = Field(10, ge=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    faults: Faults = Field(default_factory=Faults)
    demo_data: bool = True  # a few fictitious usagers at start-up
    # A year of professional activity (usagers, STEP 1s, STEP 2s) at start-up: sandbox/seed.py
    seed_year: int | None = Field(None, ge=2020, le=2100)
    seed_per_month: int = Field(60, ge=1, le=10_000)  # STEP 1s a month, about
    test_endpoints: bool = False  # /__test__/… routes (faults, counts, reset, clock)
    version: str = VERSION
