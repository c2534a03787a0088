"""Server-side validation of the two big forms: the usager identity and the STEP 1.

Each parser returns the clean values and a dict ``field name → French error message``; the page
shows each message next to its field and re-fills the form with what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sandbox.config import Professional
from sandbox.identity import ins_key_ok, normalize, parse_date, parse_decimal, strict_key
from sandbox.rules import HEARING_KINDS, Step1

__all__ = ["IDENTITY_STATUSES", "Step1Header", "parse_step1", "parse_usager", "usager_record"]

IDENTITY_STATUSES = ("provisoire", "recuperee", "validee", "qualifiee")
MODES = ("hetero", "auto")

_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ \-'’][^\W\d_]+)*$")
_REQUIRED = "Ce champ est obligatoire"
_ANSWER = "Veuillez répondre Oui ou Non"

STEP1_BOOLEANS = (
    "memory_complaint",
    "orientation_year_ok",
    "orientation_month_ok",
    "orientation_weekday_ok",
    "orientation_day_ok",
    "orientation_place_ok",
    "appetite_loss",
    "vision_problem",
    "hearing_problem_reported",
    "mood_down",
    "mood_little_interest",
)


def _text(form: Mapping[str, Any], name: str) -> str:
    return " ".join(str(form.get(name) or "").split())


def _birth_date_error(value: date | None, raw: str) -> str | None:
    if not raw:
        return _REQUIRED
    if value is None:
        return "Date invalide : saisissez-la au format jj/mm/aaaa"
    if value.year < 1900 or value > date.today():
        return "La date de naissance n'est pas plausible"
    return None


def parse_usager(form: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The typed identity values (always, for re-filling) and the errors found."""
    values = {
        name: _text(form, name)
        for name in (
            "birth_name",
            "used_name",
            "first_names",
            "used_first_name",
            "sex",
            "birth_date",
            "birth_insee",
            "ins",
            "address",
            "phone",
            "email",
            "identity_status",
        )
    }
    values["consent"] = "on" if form.get("consent") else ""
    values["identity_status"] = values["identity_status"] or "provisoire"
    errors: dict[str, str] = {}
    for name in ("birth_name", "used_name", "used_first_name"):
        if values[name] and not _NAME_RE.match(values[name]):
            errors[name] = "Seules les lettres, espaces, traits d'union et apostrophes sont admis"
    if not values["birth_name"]:
        errors["birth_name"] = _REQUIRED
    if not values["first_names"]:
        errors["first_names"] = _REQUIRED
    elif not all(_NAME_RE.match(p) for p in values["first_names"].split(" ")):
        errors["first_names"] = "Prénoms séparés par des espaces, lettres uniquement"
    if values["sex"] not in ("F", "M", "I"):
        errors["sex"] = "Choisissez le sexe"
    birth_error = _birth_date_error(parse_date(values["birth_date"]), values["birth_date"])
    if birth_error:
        errors["birth_date"] = birth_error
    values["birth_insee"] = values["birth_insee"].upper()
    if not values["birth_insee"]:
        errors["birth_insee"] = _REQUIRED
    elif not re.fullmatch(r"(?:\d{2}|2A|2B)\d{3}", values["birth_insee"]):
        errors["birth_insee"] = "Le code INSEE comporte 5 caractères (99xxx pour l'étranger)"
    values["ins"] = values["ins"].replace(" ", "").upper()
    if values["ins"] and not ins_key_ok(values["ins"]):
        errors["ins"] = "Matricule INS invalide : 15 caractères et clé de contrôle exacte"
    if values["phone"] and not re.fullmatch(r"(?:\+33 ?|0)[1-9](?:[ .]?\d{2}){4}", values["phone"]):
        errors["phone"] = "Numéro de téléphone invalide (ex. : 06 12 34 56 78)"
    if values["email"] and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", values["email"]):
        errors["email"] = "Adresse de courriel invalide"
    if values["identity_status"] not in IDENTITY_STATUSES:
        errors["identity_status"] = "Statut inconnu"
    if not values["consent"]:
        errors["consent"] = "Le consentement de l'usager au partage d'informations est obligatoire"
    return values, errors


def usager_record(values: dict[str, str], created_by: str) -> dict[str, Any]:
    """Validated identity values (see parse_usager) as a row of the usagers table."""
    first_names = values["first_names"].split(" ")
    birth = parse_date(values["birth_date"])
    if birth is None:
        raise ValueError("usager_record takes validated values (birth date jj/mm/aaaa)")
    used_first = values.get("used_first_name") or ""
    return {
        **{k: (values.get(k) or None) for k in ("used_name", "used_first_name", "ins")},
        **{k: (values.get(k) or None) for k in ("address", "phone", "email")},
        "birth_name": values["birth_name"],
        "first_names": values["first_names"],
        "sex": values["sex"],
        "birth_date": birth.isoformat(),
        "birth_insee": values["birth_insee"].upper(),
        "consent": 1 if values.get("consent") else 0,
        "identity_status": values.get("identity_status") or "provisoire",
        "strict_key": strict_key(
            values["birth_name"],
            first_names[0],
            birth.isoformat(),
            values["sex"],
            values["birth_insee"],
        ),
        "names_norm": f"|{normalize(values['birth_name'])}|{normalize(values.get('used_name') or '')}|",
        "first_names_norm": "|"
        + "|".join(normalize(p) for p in [*first_names, used_first] if p)
        + "|",
        "created_by": created_by,
    }


@dataclass(frozen=True)
class Step1Header:
    """Date, mode and effecteur of a STEP 1."""

    assessed_on: date
    mode: str
    effecteur: Professional


def _yes_no(form: Mapping[str, Any], name: str, errors: dict[str, str]) -> bool:
    value: object = form.get(name)
    if value not in ("oui", "non"):
        errors[name] = _ANSWER
        return False
    return value == "oui"


def _int_in(
    form: Mapping[str, Any], name: str, low: int, high: int, errors: dict[str, str]
) -> int | None:
    raw = _text(form, name)
    if not raw:
        errors[name] = _REQUIRED
        return None
    if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
        errors[name] = f"Saisissez un nombre entier entre {low} et {high}"
        return None
    return int(raw)


def _decimal_in(
    form: Mapping[str, Any], name: str, high: float, errors: dict[str, str]
) -> float | None:
    raw = _text(form, name)
    if not raw:
        errors[name] = _REQUIRED
        return None
    value = parse_decimal(raw)
    if value is None or value > high:
        errors[name] = f"Saisissez un nombre entre 0 et {high:g} (virgule ou point admis)"
        return None
    return value


def parse_step1(
    form: Mapping[str, Any], professionals: list[Professional], birth_date: date
) -> tuple[Step1Header | None, Step1 | None, dict[str, str]]:
    """The header and answers of a posted STEP 1 form, or the errors that prevent saving it."""
    errors: dict[str, str] = {}
    raw_date = _text(form, "assessed_on")
    assessed_on = parse_date(raw_date)
    if not raw_date:
        errors["assessed_on"] = _REQUIRED
    elif assessed_on is None:
        errors["assessed_on"] = "Date invalide : saisissez-la au format jj/mm/aaaa"
    elif assessed_on > date.today():
        errors["assessed_on"] = "La date de l'évaluation ne peut pas être dans le futur"
    elif assessed_on < birth_date:
        errors["assessed_on"] = "La date de l'évaluation précède la date de naissance"
    mode = str(form.get("mode") or "")
    if mode not in MODES:
        errors["mode"] = "Choisissez le mode de l'évaluation"
    effecteur = next((p for p in professionals if p.rpps == form.get("effecteur")), None)
    if effecteur is None:
        errors["effecteur"] = "Choisissez l'effecteur"

    answers: dict[str, Any] = {name: _yes_no(form, name, errors) for name in STEP1_BOOLEANS}
    answers["words_recalled"] = _int_in(form, "words_recalled", 0, 3, errors)
    answers["weight_loss_kg"] = _decimal_in(form, "weight_loss_kg", 100, errors)
    chair_done = _yes_no(form, "chair_rise_done", errors)
    answers["chair_rise_seconds"] = (
        _decimal_in(form, "chair_rise_seconds", 300, errors) if chair_done else None
    )
    kind = str(form.get("hearing_test") or "")
    if kind not in HEARING_KINDS:
        errors["hearing_test"] = "Choisissez le test d'audition réalisé"
    answers["hearing_test"] = kind or "aucun"
    answers["hearing_whisper_passed"] = (
        _yes_no(form, "hearing_whisper_passed", errors) if kind == "chuchotement" else None
    )
    answers["hearing_score"] = (
        _int_in(form, "hearing_score", 0, 100, errors) if kind == "hearwho" else None
    )
    answers["hearing_audiometry_db"] = (
        _int_in(form, "hearing_audiometry_db", -10, 120, errors) if kind == "audiometrie" else None
    )
    if errors or assessed_on is None or effecteur is None:
        return None, None, errors
    return Step1Header(assessed_on, mode, effecteur), Step1(**answers), errors


@dataclass(frozen=True)
class Control:
    """One control of the STEP 1 form: its name, kind and when it shows."""

    name: str
    kind: str  # yesno | int | decimal | hearing
    shown_when: tuple[str, str] | None = None  # (other control, value) that reveals it
    low: int = 0
    high: int = 0
    group_hint: bool = False  # first of the orientation questions: show the hint above


#: The controls of each STEP 1 section, in screen order.
STEP1_LAYOUT: dict[str, tuple[Control, ...]] = {
    "cognition": (
        Control("memory_complaint", "yesno"),
        Control("orientation_year_ok", "yesno", group_hint=True),
        Control("orientation_month_ok", "yesno"),
        Control("orientation_weekday_ok", "yesno"),
        Control("orientation_day_ok", "yesno"),
        Control("orientation_place_ok", "yesno"),
        Control("words_recalled", "int", low=0, high=3),
    ),
    "mobilite": (
        Control("chair_rise_done", "yesno"),
        Control("chair_rise_seconds", "decimal", shown_when=("chair_rise_done", "oui")),
    ),
    "nutrition": (Control("weight_loss_kg", "decimal"), Control("appetite_loss", "yesno")),
    "vision": (Control("vision_problem", "yesno"),),
    "audition": (
        Control("hearing_test", "hearing"),
        Control("hearing_whisper_passed", "yesno", shown_when=("hearing_test", "chuchotement")),
        Control("hearing_score", "int", shown_when=("hearing_test", "hearwho"), high=100),
        Control(
            "hearing_audiometry_db",
            "int",
            shown_when=("hearing_test", "audiometrie"),
            low=-10,
            high=120,
        ),
        Control("hearing_problem_reported", "yesno"),
    ),
    "psychologie": (Control("mood_down", "yesno"), Control("mood_little_interest", "yesno")),
}


def step1_form_values(step1: Step1) -> dict[str, str]:
    """A saved STEP 1 as the form's raw values (what the read-only page and re-fills show)."""
    values: dict[str, str] = {}
    for name, value in step1.model_dump().items():
        if isinstance(value, bool):
            values[name] = "oui" if value else "non"
        elif value is None:
            values[name] = ""
        else:
            values[name] = (
                f"{value:g}".replace(".", ",") if isinstance(value, float) else str(value)
            )
    values["chair_rise_done"] = "non" if step1.chair_rise_seconds is None else "oui"
    return values
