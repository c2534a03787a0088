"""Typed data that crosses icope-bot's boundaries: identity, STEP 1 answers, alerts, assessments.

Pure pydantic v2 models; no I/O here. Field names are English code names; French domain words
(usager, effecteur) and the six domain codes of ICOPE (``cognition``, ``mobilite``, ``nutrition``,
``vision``, ``audition``, ``psychologie``) stay French, as in the e-parcours tool.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "DOMAINS",
    "DOMAIN_LABELS",
    "HEARING_RESULT_FIELDS",
    "INS_OIDS",
    "PROGRAMME_MIN_AGE",
    "STEP1_CONDITIONAL",
    "STEP1_DECIMALS",
    "STEP1_INTEGERS",
    "STEP1_YES_NO_ANSWERS",
    "Alerts",
    "HearingTest",
    "Identity",
    "ItemState",
    "NameRules",
    "SelfAssessment",
    "Sex",
    "Step1Answers",
    "ins_key",
    "is_valid_ins",
    "normalize_trait",
]

#: The six ICOPE domains, in the order the STEP 1 form shows them.
DOMAINS: tuple[str, ...] = (
    "cognition",
    "mobilite",
    "nutrition",
    "vision",
    "audition",
    "psychologie",
)
DOMAIN_LABELS: dict[str, str] = {
    "cognition": "Cognition",
    "mobilite": "Mobilité",
    "nutrition": "Nutrition",
    "vision": "Vision",
    "audition": "Audition",
    "psychologie": "Psychologie",
}

INS_OIDS: dict[str, str] = {
    "1.2.250.1.213.1.4.8": "NIR",
    "1.2.250.1.213.1.4.9": "NIA",
    "1.2.250.1.213.1.4.10": "NIR-TEST",
    "1.2.250.1.213.1.4.11": "NIR-DEMO",
}

_INS_RE = re.compile(r"^[12378]\d{4}(?:\d{2}|2A|2B)\d{6}\d{2}$")


def ins_key(first13: str) -> int:
    """The 2-digit key of an INS/NIR: 97 − (first 13 characters mod 97).

    Corsica's department (characters 6–7) counts as 19 for ``2A`` and 18 for ``2B``.
    """
    s = first13.upper()
    s = s[:5] + {"2A": "19", "2B": "18"}.get(s[5:7], s[5:7]) + s[7:]
    if len(s) != 13 or not s.isdigit():
        raise ValueError(f"an INS starts with 13 digits, got {first13!r}")
    return 97 - (int(s) % 97)


def is_valid_ins(matricule: str) -> bool:
    """True when a 15-character INS matricule is well formed and its key matches."""
    m = matricule.replace(" ", "").upper()
    if not _INS_RE.match(m):
        return False
    return ins_key(m[:13]) == int(m[13:])


def normalize_trait(value: str) -> str:
    """Normalise a strict identity trait for comparison, as the RNIV says.

    Upper case, no diacritics, hyphens and apostrophes read as spaces, runs of spaces folded.
    ``"Le Guen-d'Hérouville"`` and ``"LE GUEN D HEROUVILLE"`` compare equal.
    """
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_only = (
        ascii_only.replace("Œ", "OE").replace("œ", "oe").replace("Æ", "AE").replace("æ", "ae")
    )
    spaced = re.sub(r"[-‐‑'’`´]", " ", ascii_only.upper())
    return " ".join(spaced.split())


class Sex(StrEnum):
    F = "F"
    M = "M"
    I = "I"  # noqa: E741 - "indéterminé", the RNIV's own letter


class HearingTest(StrEnum):
    """How hearing was screened; the kind decides which result field is filled."""

    NONE = "aucun"  # no test: the self-reported problem decides
    WHISPER = "chuchotement"  # whisper test at ~0.6 m: passed or not
    HEARWHO = "hearwho"  # digits-in-noise app score /100
    AUDIOMETRY = "audiometrie"  # screening audiometry, dB HL


#: The answer field each hearing test fills; the other result fields stay empty.
HEARING_RESULT_FIELDS: dict[HearingTest, str] = {
    HearingTest.WHISPER: "hearing_whisper_passed",
    HearingTest.HEARWHO: "hearing_score",
    HearingTest.AUDIOMETRY: "hearing_audiometry_db",
}


class ItemState(StrEnum):
    """Every state a work item can be in. Each item is in exactly one."""

    INVALID = "invalid"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    RETRY_WAIT = "retry_wait"
    DONE = "done"
    NEEDS_REVIEW = "needs_review"
    FAILED = "failed"
    APPROVED = "approved"
    REJECTED = "rejected"


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

#: ICOPE screens people aged 60 and over: a younger person is out of the programme (a person
#: decides), not an impossible value.
PROGRAMME_MIN_AGE = 60
#: The earliest birth year taken as real (older = a typing error, e.g. 1850 for 1950).
EARLIEST_BIRTH_YEAR = 1900


class NameRules(BaseModel):
    """What the target accepts in a name (``rules.names`` in mappings/target.yaml).

    Applied at ingestion, so a name the e-parcours would refuse is quarantined with its column
    named instead of costing a browser trip per item.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: one name (a birth name, or one first name): letters, then words joined by one separator
    pattern: str = r"^[^\W\d_]+(?:[ \-'’][^\W\d_]+)*$"
    #: what the pattern allows, in the words of a message to a person
    allowed: str = "les lettres, les espaces, les traits d'union et les apostrophes"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"rules.names.pattern n'est pas une expression régulière : {e}") from e
        return v

    def problem(self, name: str) -> str | None:
        """Why the target would refuse this name, in French; None when it accepts it."""
        if re.fullmatch(self.pattern, name):
            return None
        return f"le nom « {name} » serait refusé par l'e-parcours (seuls sont admis {self.allowed})"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identity(_Frozen):
    """A usager's identity: RNIV strict traits, used traits, optional INS, contact."""

    birth_name: Name  # nom de naissance
    # prénoms de naissance, in order (civil status rarely lists more than 4 or 5)
    first_names: tuple[Name, ...] = Field(min_length=1, max_length=10)
    used_name: Name | None = None  # nom utilisé
    used_first_name: Name | None = None  # prénom utilisé
    birth_date: date
    sex: Sex
    birth_insee: str = Field(max_length=10)  # code INSEE du lieu de naissance (99xxx abroad)
    ins: str | None = Field(
        default=None, max_length=30
    )  # matricule INS, 15 characters, key checked
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=254)  # RFC 5321's limit
    address: str | None = Field(default=None, max_length=300)

    @field_validator("birth_name", "used_name")
    @classmethod
    def _name_has_letters(cls, v: str | None) -> str | None:
        if v is not None and not re.search(r"[^\W\d_]", v):
            raise ValueError(f"le nom « {v} » ne contient aucune lettre")
        return v

    @field_validator("birth_insee")
    @classmethod
    def _insee_code(cls, v: str) -> str:
        v = v.strip().upper()
        if not re.fullmatch(r"(?:\d{2}|2A|2B)\d{3}", v):
            raise ValueError(f"le code INSEE du lieu de naissance « {v} » doit avoir 5 caractères")
        return v

    @field_validator("ins")
    @classmethod
    def _ins_key(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        m = v.replace(" ", "").upper()
        if not is_valid_ins(m):
            raise ValueError(f"le matricule INS « {m} » est invalide (clé de contrôle fausse)")
        return m

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth(cls, v: date) -> date:
        if v.year < EARLIEST_BIRTH_YEAR:
            raise ValueError(
                f"la date de naissance {v:%d/%m/%Y} est antérieure à {EARLIEST_BIRTH_YEAR} : "
                "erreur de saisie ?"
            )
        if v > date.today():
            raise ValueError(f"la date de naissance {v:%d/%m/%Y} est dans le futur")
        return v

    @property
    def first_name(self) -> str:
        """Premier prénom de naissance."""
        return self.first_names[0]

    def strict_traits(self) -> tuple[str, str, date, Sex, str]:
        """The traits compared for identity matching, normalised."""
        return (
            normalize_trait(self.birth_name),
            normalize_trait(self.first_name),
            self.birth_date,
            self.sex,
            self.birth_insee,
        )


class Step1Answers(_Frozen):
    """Every answer of an ICOPE STEP 1, typed, domain by domain."""

    # cognition
    memory_complaint: bool = False  # memory complaint worsened in the last 6 months
    orientation_year_ok: bool
    orientation_month_ok: bool
    orientation_weekday_ok: bool
    orientation_day_ok: bool
    orientation_place_ok: bool
    words_recalled: int = Field(ge=0, le=3)
    # mobilite: seconds for five chair rises; None when the test was not completed
    chair_rise_seconds: float | None = Field(default=None, ge=0, le=300)
    # nutrition
    weight_loss_kg: float = Field(default=0.0, ge=0, le=100)  # unintentional, last 3 months
    appetite_loss: bool
    # vision
    vision_problem: bool
    # audition
    hearing_test: HearingTest = HearingTest.NONE
    hearing_whisper_passed: bool | None = None
    hearing_score: int | None = Field(default=None, ge=0, le=100)
    hearing_audiometry_db: int | None = Field(default=None, ge=-10, le=120)
    hearing_problem_reported: bool = False
    # psychologie
    mood_down: bool
    mood_little_interest: bool

    @model_validator(mode="after")
    def _hearing_result_matches_test(self) -> Self:
        expected = HEARING_RESULT_FIELDS.get(self.hearing_test)
        for name in HEARING_RESULT_FIELDS.values():
            value = getattr(self, name)
            if name == expected and value is None:
                raise ValueError(f"test d'audition « {self.hearing_test} » sans résultat")
            if name != expected and value is not None:
                raise ValueError(
                    f"un résultat d'audition ({name}) est donné pour le test « {self.hearing_test} »"
                )
        return self

    @property
    def chair_rise_completed(self) -> bool:
        return self.chair_rise_seconds is not None


def _answers_typed(*types: object) -> tuple[str, ...]:
    return tuple(n for n, f in Step1Answers.model_fields.items() if f.annotation in types)


# The STEP 1 field groups, read off Step1Answers' own types (form order): ingestion, the form,
# the read-back and the reviewer's file all use these instead of their own lists.
#: Answers given as Oui/Non.
STEP1_YES_NO_ANSWERS = _answers_typed(bool, bool | None)
#: Answers that are whole numbers.
STEP1_INTEGERS = _answers_typed(int, int | None)
#: Answers that are decimal numbers (seconds, kilograms).
STEP1_DECIMALS = _answers_typed(float, float | None)
#: Answers that exist only for some other answer (the chair rise done, the hearing test chosen):
#: a form shows them once their trigger is answered.
STEP1_CONDITIONAL = ("chair_rise_seconds", *HEARING_RESULT_FIELDS.values())


class Alerts(_Frozen):
    """One yes/no per ICOPE domain: True means a positive screen (STEP 2 to do)."""

    cognition: bool
    mobilite: bool
    nutrition: bool
    vision: bool
    audition: bool
    psychologie: bool

    def positive(self) -> list[str]:
        """The alerted domain codes, in form order."""
        return [d for d in DOMAINS if getattr(self, d)]

    def as_dict(self) -> dict[str, bool]:
        return {d: getattr(self, d) for d in DOMAINS}

    @classmethod
    def from_domains(cls, alerted: set[str] | list[str]) -> Alerts:
        unknown = set(alerted) - set(DOMAINS)
        if unknown:
            raise ValueError(f"domaines inconnus : {sorted(unknown)}")
        return cls(**{d: d in alerted for d in DOMAINS})


class SelfAssessment(_Frozen):
    """One ICOPE et Moi auto-évaluation, as exported by the app and validated."""

    reference: str = Field(min_length=1, max_length=64)  # unique queue reference
    source_id: str | None = Field(default=None, max_length=48)  # the app's own assessment id
    assessed_on: date
    identity: Identity
    consent_sharing: bool  # consent to share information with the care team
    answers: Step1Answers
    app_alerts: Alerts  # what ICOPE et Moi itself reported

    @field_validator("assessed_on")
    @classmethod
    def _not_in_future(cls, v: date) -> date:
        if v > date.today():
            raise ValueError(f"la date d'évaluation {v:%d/%m/%Y} est dans le futur")
        return v

    @model_validator(mode="after")
    def _born_before_assessed(self) -> Self:
        if self.identity.birth_date > self.assessed_on:
            raise ValueError(
                f"la date de naissance {self.identity.birth_date:%d/%m/%Y} est postérieure à la "
                f"date d'évaluation {self.assessed_on:%d/%m/%Y}"
            )
        return self

    def out_of_programme(self) -> str | None:
        """Why a person must look at this assessment before it is entered (French), or None.

        Possible but outside ICOPE (aged under 60 on the assessment date): not invalid, since the
        date of birth may be right, but not for the bot to decide.
        """
        age = self.age_on_assessment()
        if age < PROGRAMME_MIN_AGE:
            return (
                f"la personne avait {age} ans à la date d'évaluation : ICOPE s'adresse aux "
                f"personnes de {PROGRAMME_MIN_AGE} ans et plus (date de naissance à vérifier)"
            )
        return None

    def age_on_assessment(self) -> int:
        b, d = self.identity.birth_date, self.assessed_on
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))

    def content_hash(self) -> str:
        """A stable hash of identity, date and answers (not the reference): detects conflicts."""
        payload = self.model_dump(mode="json", exclude={"reference", "source_id"})
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()
