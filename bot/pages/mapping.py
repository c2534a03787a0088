"""The target mapping: the texts of the e-parcours screens, validated (``mappings/target.yaml``).

The YAML's header comment says how each group of texts is found on a screen (heading, labels,
radiogroups…). Screens and groups are fixed (an unknown one is a typo: refused); inside a group,
the keys the page objects use are required and extra keys are allowed (check-target lists them
all). Two optional sections are icope-bot's own, with defaults that fit the sandbox and the
French e-parcours tools:

- ``target``: ``sandbox: true`` marks a training target where ``check-target`` may create a
  throw-away usager (never set it for the real tool);
- ``formats``: how dates and decimal numbers are written on the screens.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from bot.errors import SystemException
from bot.models import DOMAINS, HearingTest, Identity, Sex
from bot.otp import OtpEmailRules

__all__ = ["STEP1_YES_NO", "Formats", "TargetInfo", "TargetMapping", "load_mapping"]


def _keys(*required: str) -> AfterValidator:
    """A group (dict of texts) that must hold these keys; other keys are allowed."""

    def check(group: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in required if k not in group]
        if missing:
            raise ValueError(f"clé(s) manquante(s) : {', '.join(missing)}")
        return group

    return AfterValidator(check)


def Texts(*required: str) -> Any:
    return Annotated[dict[str, str], _keys(*required)]


def Options(*required: str) -> Any:
    return Annotated[dict[str, Any], _keys(*required)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommonTexts(_Section):
    navigation: str
    links: Texts("home", "usagers")
    buttons: Texts() = {}
    texts: Texts("session_expired")


class LoginTexts(_Section):
    heading: str
    labels: Texts("username", "password")
    buttons: Texts("submit")
    texts: Texts("bad_credentials", "locked")


class OtpTexts(_Section):
    heading: str
    labels: Texts("code")
    buttons: Texts("submit")
    texts: Texts("wrong_code", "expired", "too_many")


class HeadingOnly(_Section):
    heading: str


class SearchTexts(_Section):
    heading: str
    labels: Texts("birth_name", "first_name", "birth_date", "ins")
    buttons: Texts("search")
    links: Texts("create", "open", "next_page")
    texts: Texts("no_result")
    columns: Texts("birth_name", "first_names", "birth_date", "sex", "birth_insee", "ins")


# The usager form has a label for every identity trait the bot may type.
_IDENTITY_LABELS = tuple(Identity.model_fields)


class UsagerFormTexts(_Section):
    heading: str
    labels: Texts(*_IDENTITY_LABELS)
    checkboxes: Texts("consent")
    options: Options("sex")
    buttons: Texts("submit")

    def sex_option(self, sex: Sex) -> str:
        return str(self.options["sex"][sex.value])


class DuplicateTexts(_Section):
    heading: str
    buttons: Texts("cancel")
    links: Texts() = {}


class DossierTexts(_Section):
    heading: str
    tabs: Texts("evaluations")
    links: Texts("new_evaluation", "consult")
    columns: Texts("date", "type", "mode")
    texts: Texts("type_step1")


class ChooserTexts(_Section):
    heading: str
    links: Texts("step1")


_STEP1_LABELS = (
    "assessed_on",
    "mode",
    "effecteur",
    "words_recalled",
    "chair_rise_seconds",
    "weight_loss_kg",
    "hearing_test",
    "hearing_score",
    "hearing_audiometry_db",
)
#: The STEP 1 questions answered Oui/Non (radio groups on the form, Oui/Non when read back).
STEP1_YES_NO = (
    "memory_complaint",
    "orientation_year_ok",
    "orientation_month_ok",
    "orientation_weekday_ok",
    "orientation_day_ok",
    "orientation_place_ok",
    "chair_rise_done",
    "appetite_loss",
    "vision_problem",
    "hearing_whisper_passed",
    "hearing_problem_reported",
    "mood_down",
    "mood_little_interest",
)


class Step1Texts(_Section):
    heading: str
    sections: Texts(*DOMAINS)
    labels: Texts(*_STEP1_LABELS)
    radiogroups: Texts(*STEP1_YES_NO)
    options: Options("yes", "no", "mode", "hearing_test")
    buttons: Texts("save")
    texts: Texts() = {}

    @property
    def yes(self) -> str:
        return str(self.options["yes"])

    @property
    def no(self) -> str:
        return str(self.options["no"])

    def mode_option(self, mode: str) -> str:
        return str(self.options["mode"][mode])

    def hearing_option(self, kind: HearingTest) -> str:
        return str(self.options["hearing_test"][kind.value])

    def label_of(self, field: str) -> str:
        """The form's text for a field (label or radiogroup name), for messages."""
        return self.labels.get(field) or self.radiogroups.get(field) or field


class AlertsTexts(_Section):
    region: str
    loading: str = ""
    domains: Texts(*DOMAINS)
    status: Texts("alert", "no_alert")
    step2: str = ""


class EvaluationTexts(_Section):
    heading: str
    terms: Texts("assessed_on", "mode", "effecteur", *STEP1_YES_NO, *_STEP1_LABELS[3:])
    values: Texts("yes", "no", "not_done")
    texts: Texts() = {}
    alerts: AlertsTexts


class ExportsTexts(_Section):
    heading: str
    links: Texts() = {}


class InfoModalTexts(_Section):
    dialog: str
    buttons: Texts("close")


class ErrorTexts(_Section):
    server: str
    forbidden: str = ""
    not_found: str = ""


class TargetInfo(_Section):
    """icope-bot's own facts about the target (optional section ``target:``)."""

    name: str = ""
    #: A training target: check-target may create a throw-away usager and STEP 1 there.
    sandbox: bool = False


class Formats(_Section):
    """How the screens write dates and decimal numbers (optional section ``formats:``)."""

    date: str = "%d/%m/%Y"
    decimal_separator: str = ","

    def format_date(self, value: date) -> str:
        return value.strftime(self.date)

    def parse_date(self, text: str) -> date | None:
        try:
            return datetime.strptime(text.strip(), self.date).date()
        except ValueError:
            return None

    def format_decimal(self, value: float | int) -> str:
        return format(value, ".10g").replace(".", self.decimal_separator)

    def parse_decimal(self, text: str) -> float | None:
        try:
            return float(text.strip().replace(self.decimal_separator, ".").replace(" ", ""))
        except ValueError:
            return None


class TargetMapping(_Section):
    """Every text of the target's screens that icope-bot relies on."""

    common: CommonTexts
    login: LoginTexts
    otp: OtpTexts
    otp_send_failed: HeadingOnly | None = None
    home: HeadingOnly
    search: SearchTexts
    usager_form: UsagerFormTexts
    duplicate: DuplicateTexts
    dossier: DossierTexts
    chooser: ChooserTexts
    step1: Step1Texts
    evaluation: EvaluationTexts
    exports: ExportsTexts | None = None
    info_modal: InfoModalTexts
    errors: ErrorTexts
    otp_email: OtpEmailRules | None = None
    target: TargetInfo = TargetInfo()
    formats: Formats = Formats()

    def screens(self) -> dict[str, dict[str, Any]]:
        """Screen → group → key → text, as in the file (check-target walks it)."""
        skip = {"otp_email", "target", "formats"}
        return {
            name: value
            for name, value in self.model_dump(exclude_none=True).items()
            if name not in skip
        }


@cache
def _load(path: Path, mtime: float) -> TargetMapping:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return TargetMapping.model_validate(data)


def load_mapping(path: Path) -> TargetMapping:
    """Read and validate a target mapping; SystemException ``mapping_invalid`` when it is wrong."""
    try:
        return _load(path.resolve(), path.stat().st_mtime)
    except FileNotFoundError as e:
        raise SystemException(
            f"Fichier de correspondance de la cible introuvable : {path}", code="mapping_invalid"
        ) from e
    except (yaml.YAMLError, ValidationError) as e:
        raise SystemException(
            f"Le fichier de correspondance de la cible {path.name} est invalide : {e}",
            code="mapping_invalid",
        ) from e
