"""The target mapping: the texts of the e-parcours screens, validated (``mappings/target.yaml``).

The YAML's header comment says how each group of texts is found on a screen (heading, labels,
radiogroups…). Screens and groups are fixed (an unknown one is a typo: refused); inside a group,
the keys the page objects use are required and extra keys are allowed (check-target lists them
all). Two optional sections are icope-bot's own, with defaults that fit the sandbox and the
French e-parcours tools:

- ``target``: ``sandbox: true`` marks a training target where ``check-target`` may create a
  throw-away usager (never set it for the real tool);
- ``formats``: how dates and decimal numbers are written on the screens;
- ``waived``: the texts ``check-target`` may leave unchecked, each with the reason (a message the
  tool shows only in a situation the read-only tour must not provoke). Any other text it cannot
  check makes the preflight fail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from bot.errors import MappingError
from bot.models import (
    DOMAINS,
    STEP1_YES_NO_ANSWERS,
    HearingTest,
    Identity,
    NameRules,
    Sex,
    Step1Answers,
)

__all__ = [
    "STEP1_YES_NO",
    "Formats",
    "OtpEmailRules",
    "QuestionControl",
    "QuestionKind",
    "TargetInfo",
    "TargetMapping",
    "load_mapping",
]


_Group = TypeVar("_Group", bound=Mapping[str, object])

#: A group of texts: key (used by the page objects) → text on the screen.
Texts: TypeAlias = dict[str, str]


def keys(*required: str) -> AfterValidator:
    """Annotation metadata: the group must hold these keys; other keys are allowed.

    Used as ``Annotated[Texts, keys("a", "b")]``: the type checker sees the group's type and
    pydantic runs the check, with one French message for every group of the file.
    """

    def check(group: _Group) -> _Group:
        missing = [k for k in required if k not in group]
        if missing:
            raise ValueError(f"clé(s) manquante(s) : {', '.join(missing)}")
        return group

    return AfterValidator(check)


# Option groups hold texts and sub-groups (value → text). Keys are optional for the TypedDict
# so that a missing one is reported by ``keys()`` like in every other group; extra keys are kept
# (check-target lists them).
@with_config(ConfigDict(extra="allow"))
class UsagerOptions(TypedDict, total=False):
    sex: dict[str, str]


@with_config(ConfigDict(extra="allow"))
class Step1Options(TypedDict, total=False):
    yes: str
    no: str
    mode: dict[str, str]
    hearing_test: dict[str, str]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommonTexts(_Section):
    navigation: str
    links: Annotated[Texts, keys("home", "usagers")]
    buttons: Texts = {}
    texts: Annotated[Texts, keys("session_expired")]


class LoginTexts(_Section):
    heading: str
    labels: Annotated[Texts, keys("username", "password")]
    buttons: Annotated[Texts, keys("submit")]
    texts: Annotated[Texts, keys("bad_credentials", "locked")]


class OtpTexts(_Section):
    heading: str
    labels: Annotated[Texts, keys("code")]
    buttons: Annotated[Texts, keys("submit")]
    texts: Annotated[Texts, keys("wrong_code", "expired", "too_many")]


class HeadingOnly(_Section):
    heading: str


class SearchTexts(_Section):
    heading: str
    labels: Annotated[Texts, keys("birth_name", "first_name", "birth_date", "ins")]
    buttons: Annotated[Texts, keys("search")]
    links: Annotated[Texts, keys("create", "open", "next_page")]
    texts: Annotated[Texts, keys("no_result")]
    columns: Annotated[
        Texts, keys("birth_name", "first_names", "birth_date", "sex", "birth_insee", "ins")
    ]


# The usager form has a label for every identity trait the bot may type.
_IDENTITY_LABELS = tuple(Identity.model_fields)


class UsagerFormTexts(_Section):
    heading: str
    labels: Annotated[Texts, keys(*_IDENTITY_LABELS)]
    checkboxes: Annotated[Texts, keys("consent")]
    options: Annotated[UsagerOptions, keys("sex")]
    buttons: Annotated[Texts, keys("submit")]

    def sex_option(self, sex: Sex) -> str:
        return self.options["sex"][sex.value]


class DuplicateTexts(_Section):
    heading: str
    buttons: Annotated[Texts, keys("cancel")]
    links: Texts = {}


class DossierTexts(_Section):
    heading: str
    tabs: Annotated[Texts, keys("evaluations")]
    links: Annotated[Texts, keys("new_evaluation", "consult")]
    columns: Annotated[Texts, keys("date", "type", "mode")]
    texts: Annotated[Texts, keys("type_step1")]


class ChooserTexts(_Section):
    heading: str
    links: Annotated[Texts, keys("step1")]


#: The form's labelled inputs: its header, then every answer that is not Oui/Non.
_STEP1_LABELS = (
    "assessed_on",
    "mode",
    "effecteur",
    *(n for n in Step1Answers.model_fields if n not in STEP1_YES_NO_ANSWERS),
)
#: The STEP 1 questions answered Oui/Non (radio groups on the form, Oui/Non when read back),
#: with the form's own "chair rise done?" that reveals the duration.
STEP1_YES_NO = (*STEP1_YES_NO_ANSWERS, "chair_rise_done")


#: How a yes/no question of the STEP 1 form is shown (``step1.controls``): a radio group (the
#: default), a drop-down, a checkbox ticked for "yes", or a "not done" box ticked for "no".
QuestionKind = Literal["radio", "select", "checkbox", "not_done_box"]


class QuestionControl(_Section):
    """One yes/no question's control, when it is not a radio group answered options.yes/no."""

    kind: QuestionKind = "radio"
    #: The answers' texts for this question (radio or drop-down); empty: options.yes / options.no.
    yes: str = ""
    no: str = ""

    @model_validator(mode="before")
    @classmethod
    def _unquoted_yes_no(cls, data: Any) -> Any:
        """YAML reads an unquoted ``yes:`` / ``no:`` key as true / false: take them as meant."""
        if isinstance(data, dict):
            names = {True: "yes", False: "no"}
            return {names.get(k, k) if isinstance(k, bool) else k: v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _texts_fit_the_kind(self) -> QuestionControl:
        if self.kind in ("checkbox", "not_done_box") and (self.yes or self.no):
            raise ValueError(
                f"une case à cocher ({self.kind}) n'a pas de réponses à nommer (yes / no)"
            )
        return self

    @property
    def role(self) -> str:
        """The ARIA role of the question's control."""
        return {"radio": "radiogroup", "select": "combobox"}.get(self.kind, "checkbox")


class Step1Texts(_Section):
    heading: str
    sections: Annotated[Texts, keys(*DOMAINS)]
    labels: Annotated[Texts, keys(*_STEP1_LABELS)]
    radiogroups: Annotated[Texts, keys(*STEP1_YES_NO)]
    options: Annotated[Step1Options, keys("yes", "no", "mode", "hearing_test")]
    buttons: Annotated[Texts, keys("save")]
    texts: Texts = {}
    #: Controls the form has beyond the answers (label → the value the bot leaves or chooses);
    #: any other control stops the entry before saving, and any other rubric of a saved STEP 1
    #: goes to a person. Optional: an older mapping without it expects no extra field.
    extra_fields: Texts = {}
    #: The confirmation the tool asks after "save": ``text`` (what the browser's confirm() or
    #: the page's dialog says) and, for a page dialog, ``button`` (the one that confirms). Any
    #: other dialog is refused, never accepted. Empty: the tool asks nothing.
    confirmation: Texts = {}
    #: How each yes/no question is shown when not as a radio group (key: a radiogroups key).
    #: Optional: a question left out is a radio group answered options.yes / options.no.
    controls: dict[str, QuestionControl] = {}

    @field_validator("controls")
    @classmethod
    def _known_questions(cls, v: dict[str, QuestionControl]) -> dict[str, QuestionControl]:
        unknown = sorted(set(v) - set(STEP1_YES_NO))
        if unknown:
            raise ValueError(
                f"question(s) inconnue(s) : {', '.join(unknown)} (attendu : une clé de radiogroups)"
            )
        return v

    def control_of(self, field: str) -> QuestionControl:
        """How a yes/no question is shown (a radio group by default)."""
        return self.controls.get(field) or _RADIO

    def answer_texts(self, field: str) -> tuple[str, str]:
        """The texts of "yes" and "no" for this question (radio group or drop-down)."""
        control = self.control_of(field)
        return control.yes or self.yes, control.no or self.no

    @property
    def yes(self) -> str:
        return self.options["yes"]

    @property
    def no(self) -> str:
        return self.options["no"]

    def mode_option(self, mode: str) -> str:
        return self.options["mode"][mode]

    def hearing_option(self, kind: HearingTest) -> str:
        return self.options["hearing_test"][kind.value]

    def label_of(self, field: str) -> str:
        """The form's text for a field (label or radiogroup name), for messages."""
        return self.labels.get(field) or self.radiogroups.get(field) or field


_RADIO = QuestionControl()


class AlertsTexts(_Section):
    region: str
    loading: str = ""
    domains: Annotated[Texts, keys(*DOMAINS)]
    status: Annotated[Texts, keys("alert", "no_alert")]
    step2: str = ""


class EvaluationTexts(_Section):
    heading: str
    terms: Annotated[
        Texts, keys("assessed_on", "mode", "effecteur", *STEP1_YES_NO, *_STEP1_LABELS[3:])
    ]
    values: Annotated[Texts, keys("yes", "no", "not_done")]
    texts: Texts = {}
    #: Rubrics of the saved evaluation that are not answers (its status…): read past. Any rubric
    #: neither here, in ``terms`` nor in ``step1.extra_fields`` goes to a person.
    other_terms: Texts = {}
    alerts: AlertsTexts


class ExportsTexts(_Section):
    heading: str
    links: Texts = {}
    #: The evaluations CSV behind links.evaluations_csv: header by column key, "Type" cells.
    file_columns: Texts = {}
    file_values: Texts = {}


class InfoModalTexts(_Section):
    dialog: str
    buttons: Annotated[Texts, keys("close")]


class ErrorTexts(_Section):
    server: str
    forbidden: str = ""
    not_found: str = ""


class TargetInfo(_Section):
    """icope-bot's own facts about the target (optional section ``target:``)."""

    name: str = ""
    #: A training target: check-target may create a throw-away usager and STEP 1 there.
    sandbox: bool = False


class TargetRules(_Section):
    """What the target accepts in its fields (optional section ``rules:``): ingestion applies
    them, so a value the tool would refuse is quarantined before any browser trip."""

    names: NameRules = NameRules()


class Formats(_Section):
    """How the screens write dates and decimal numbers (optional section ``formats:``)."""

    date: str = "%d/%m/%Y"
    decimal_separator: str = ","

    def format_date(self, value: dt.date) -> str:
        return value.strftime(self.date)

    def parse_date(self, text: str) -> dt.date | None:
        try:
            return dt.datetime.strptime(text.strip(), self.date).date()
        except ValueError:
            return None

    def format_decimal(self, value: float | int) -> str:
        return format(value, ".10g").replace(".", self.decimal_separator)

    def parse_decimal(self, text: str) -> float | None:
        try:
            return float(text.strip().replace(self.decimal_separator, ".").replace(" ", ""))
        except ValueError:
            return None


class OtpEmailRules(BaseModel):
    """How to recognise the target's code e-mail: the ``otp_email:`` section of the target mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_contains: str = ""  # case-insensitive; empty = any subject
    sender_contains: str = ""  # case-insensitive, on the From header; empty = any sender
    code_pattern: str = r"\b(\d{6})\b"  # first group (or whole match) is the code

    @field_validator("code_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as e:
            raise ValueError(f"motif de code invalide : {e}") from e
        if compiled.groups > 1:
            raise ValueError("le motif de code doit avoir au plus un groupe (le code)")
        return v

    def find_code(self, text: str) -> str | None:
        """The first code in ``text``, or None."""
        found = re.search(self.code_pattern, text)
        if found is None:
            return None
        return found.group(1) if found.re.groups else found.group(0)


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
    rules: TargetRules = TargetRules()
    #: ``screen.group.key`` → why check-target may leave that text unchecked (French).
    waived: dict[str, str] = {}

    def screens(self) -> dict[str, dict[str, Any]]:
        """Screen → group → key → text, as in the file (check-target walks it)."""
        skip = {"otp_email", "target", "formats", "rules", "waived"}
        # The export file's column names and values are read in the downloaded file
        # (bot/evaluation), not on a screen.
        not_shown = {"exports": {"file_columns", "file_values"}}
        screens = {
            name: {g: v for g, v in value.items() if g not in not_shown.get(name, ())}
            for name, value in self.model_dump(exclude_none=True).items()
            if name not in skip
        }
        # A question's kind is how to find it, not a text: only its answers' texts are shown.
        screens["step1"]["controls"] = {
            name: {k: control[k] for k in ("yes", "no") if control[k]}
            for name, control in screens["step1"].get("controls", {}).items()
        }
        return screens

    @model_validator(mode="after")
    def _waived_texts_exist(self) -> TargetMapping:
        # A waiver naming no text (a typo, a renamed key) would silently waive nothing.
        known = set(_paths(self.screens()))
        unknown = sorted(set(self.waived) - known)
        if unknown:
            raise ValueError(f"waived : texte(s) inconnu(s) : {', '.join(unknown)}")
        empty = sorted(path for path, reason in self.waived.items() if not reason.strip())
        if empty:
            raise ValueError(f"waived : raison manquante pour {', '.join(empty)}")
        return self


def _paths(section: dict[str, Any], prefix: str = "") -> list[str]:
    """``screen.group.key`` of every text (the path check-target reports)."""
    out: list[str] = []
    for name, value in section.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, str):
            out.append(path)
        elif isinstance(value, dict):
            out.extend(_paths(value, path))
    return out


@cache
def _load(path: Path, mtime: float) -> TargetMapping:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return TargetMapping.model_validate(data)


def load_mapping(path: Path) -> TargetMapping:
    """Read and validate a target mapping; MappingError (``mapping_invalid``) when it is wrong."""
    try:
        return _load(path.resolve(), path.stat().st_mtime)
    except FileNotFoundError as e:
        raise MappingError(f"Fichier de correspondance de la cible introuvable : {path}") from e
    except (yaml.YAMLError, ValidationError) as e:
        raise MappingError(
            f"Le fichier de correspondance de la cible {path.name} est invalide : {e}"
        ) from e
