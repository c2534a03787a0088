"""Drawing fictitious usagers and their STEP 1 answers, and writing them as an app's cells."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from bot.icope import Rules
from bot.models import DOMAINS, HearingTest, Sex, Step1Answers, ins_key
from bot.sample._names import (
    ABROAD,
    BIRTH_PLACES,
    CITIES,
    FEMALE_NAMES,
    MALE_NAMES,
    STREETS,
    SURNAMES,
)

TARGET_RATES: dict[str, float] = {
    "vision": 0.60,
    "cognition": 0.50,
    "audition": 0.42,
    "psychologie": 0.32,
    "mobilite": 0.25,
    "nutrition": 0.13,
}
TARGET_ANY = 0.84


ERROR_KINDS: tuple[str, ...] = (
    "impossible_date",  # Date de naissance 31/02/1950
    "future_assessment",  # Date d'évaluation next year
    "unknown_yes_no",  # Perte d'appétit « Peut-être »
    "words_recalled_5",  # Mots rappelés 5
    "negative_seconds",  # Lever de chaise -3
    "ins_bad_key",  # INS with a wrong control key
    "ins_wrong_length",  # INS with 14 characters
    "missing_birth_name",  # Nom de naissance empty
    "hearing_result_without_test",  # Test d'audition Aucun but Score hearWHO 80
    "hearwho_140",  # Score hearWHO 140
    "unknown_sex",  # Sexe « X »
    "unreadable_number",  # Lever de chaise « douze »
    "empty_mandatory",  # Orientation : année correcte empty
    "insee_wrong_length",  # Code INSEE lieu de naissance « 751 »
    "unknown_hearing_test",  # Test d'audition « Audiogramme tonal »
    "unreadable_date",  # Date d'évaluation « hier »
)

_HEARING_KINDS = (
    (HearingTest.NONE, 0.40),
    (HearingTest.WHISPER, 0.25),
    (HearingTest.HEARWHO, 0.25),
    (HearingTest.AUDIOMETRY, 0.10),
)
_HEARING_LABELS = {
    HearingTest.NONE: "Aucun",
    HearingTest.WHISPER: "Chuchotement",
    HearingTest.HEARWHO: "hearWHO",
    HearingTest.AUDIOMETRY: "Audiométrie",
}


@dataclass(frozen=True)
class Person:
    """A fictitious usager."""

    birth_name: str
    first_names: tuple[str, ...]
    sex: Sex
    birth_date: date
    birth_insee: str
    used_name: str | None = None
    used_first_name: str | None = None
    ins: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


def _any_alert_share(p0: float, rates: dict[str, float]) -> float:
    """Share with ≥ 1 alert when p0 of people are robust and the rest draw each domain."""
    none_rest = 1.0
    for r in rates.values():
        none_rest *= 1 - min(r / (1 - p0), 1.0)
    return 1 - (p0 + (1 - p0) * none_rest)


def _robust_share(rates: dict[str, float], target_any: float) -> float:
    """The share of robust people (no alert at all) that gives ``target_any`` (bisection)."""
    lo, hi = 0.0, 1 - max(rates.values()) - 1e-9
    for _ in range(60):
        mid = (lo + hi) / 2
        if _any_alert_share(mid, rates) > target_any:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class Generator:
    def __init__(self, rng: random.Random, as_of: date, rules: Rules) -> None:
        self.rng = rng
        self.as_of = as_of
        self.rules = rules
        self.p0 = _robust_share(TARGET_RATES, TARGET_ANY)
        self.used_ids: set[str] = set()

    # --- people ---------------------------------------------------------------------------
    def person(self, assessed_on: date) -> Person:
        rng = self.rng
        sex = Sex.F if rng.random() < 0.58 else Sex.M
        pool = FEMALE_NAMES if sex is Sex.F else MALE_NAMES
        k = rng.choices((1, 2, 3), weights=(0.45, 0.4, 0.15))[0]
        first_names = tuple(rng.sample(pool, k))
        birth = self.birth_date(assessed_on)
        return self.dress(
            Person(
                birth_name=rng.choice(SURNAMES),
                first_names=first_names,
                sex=sex,
                birth_date=birth,
                birth_insee=self.birth_place(),
            )
        )

    def birth_date(self, assessed_on: date) -> date:
        """A birth date giving an age of 60 to 95 on the assessment date."""
        age = self.rng.randint(60, 95)
        try:
            anniversary = assessed_on.replace(year=assessed_on.year - age)
        except ValueError:  # 29 February
            anniversary = assessed_on.replace(year=assessed_on.year - age, day=28)
        return anniversary - timedelta(days=self.rng.randint(0, 364))

    def birth_place(self) -> str:
        return (
            self.rng.choice(ABROAD) if self.rng.random() < 0.08 else self.rng.choice(BIRTH_PLACES)
        )

    def dress(self, p: Person) -> Person:
        """Used traits, INS and contact, drawn for a person's strict traits."""
        rng = self.rng
        used_name = None
        if p.sex is Sex.F and rng.random() < 0.45:
            used_name = rng.choice([n for n in SURNAMES if n != p.birth_name])
        used_first = None
        if len(p.first_names) > 1 and rng.random() < 0.1:
            used_first = p.first_names[1]
        ins = self.ins(p) if rng.random() < 0.3 else None
        phone = None
        if rng.random() < 0.85:
            prefix = "06 39 98" if rng.random() < 0.7 else "01 99 00"
            phone = f"{prefix} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
        email = None
        if rng.random() < 0.45:
            local = f"{_ascii(p.first_names[0])}.{_ascii(used_name or p.birth_name)}"
            email = f"{local}{rng.randint(1, 99)}@example.org"
        postcode, city = rng.choice(CITIES)
        address = f"{rng.randint(1, 120)} {rng.choice(STREETS)}, {postcode} {city}"
        return replace(
            p,
            used_name=used_name,
            used_first_name=used_first,
            ins=ins,
            phone=phone,
            email=email,
            address=address,
        )

    def ins(self, p: Person) -> str:
        """A NIR-shaped fictitious matricule with a valid key (order number 000: never real)."""
        sex = "1" if p.sex is Sex.M else "2"
        place = p.birth_insee
        first13 = f"{sex}{p.birth_date:%y}{p.birth_date:%m}{place}000"
        return f"{first13}{ins_key(first13):02d}"

    def app_id(self) -> str:
        while True:
            candidate = f"{self.rng.getrandbits(40):010x}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    # --- answers ----------------------------------------------------------------------------
    def alerted(self) -> set[str]:
        if self.rng.random() < self.p0:
            return set()
        return {d for d, r in TARGET_RATES.items() if self.rng.random() < min(r / (1 - self.p0), 1)}

    def answers(self, alerted: set[str]) -> Step1Answers:
        rng, rules = self.rng, self.rules
        a: dict[str, Any] = {}
        # cognition: fewer than 3 words, and/or an orientation answer wrong
        orient = ["year", "month", "weekday", "day", "place"]
        wrong: set[str] = set()
        words = 3
        if "cognition" in alerted:
            if rng.random() < 0.75:
                words = rng.choice((0, 1, 1, 2, 2, 2))
            if words == 3 or rng.random() < 0.35:
                wrong = set(rng.sample(orient, rng.choice((1, 1, 2))))
        for o in orient:
            a[f"orientation_{o}_ok"] = o not in wrong
        a["words_recalled"] = words
        a["memory_complaint"] = rng.random() < (0.35 if "cognition" in alerted else 0.1)
        # mobility: five chair rises, too slow or not completed
        limit = rules.chair_rise_max_seconds
        if "mobilite" in alerted:
            a["chair_rise_seconds"] = (
                None if rng.random() < 0.3 else round(rng.uniform(limit + 0.1, limit + 12), 1)
            )
        else:
            a["chair_rise_seconds"] = round(rng.uniform(7.0, limit - 0.1), 1)
        # nutrition: weight loss above the threshold and/or appetite loss
        kg = rules.weight_loss_threshold_kg
        if "nutrition" in alerted:
            heavy = rng.random() < 0.6
            a["weight_loss_kg"] = round(rng.uniform(kg + 0.5, kg + 6), 1) if heavy else 0.0
            a["appetite_loss"] = (not heavy) or rng.random() < 0.4
        else:
            a["weight_loss_kg"] = round(rng.uniform(0.5, kg), 1) if rng.random() < 0.25 else 0.0
            a["appetite_loss"] = False
        a["vision_problem"] = "vision" in alerted
        # hearing: the test kind decides which result is filled
        test = rng.choices([k for k, _ in _HEARING_KINDS], [w for _, w in _HEARING_KINDS])[0]
        bad = "audition" in alerted
        a["hearing_test"] = test
        a["hearing_problem_reported"] = bad if test is HearingTest.NONE else rng.random() < 0.3
        if test is HearingTest.WHISPER:
            a["hearing_whisper_passed"] = not bad
        elif test is HearingTest.HEARWHO:
            fail = rules.hearwho_fail_below
            a["hearing_score"] = rng.randint(15, fail - 1) if bad else rng.randint(fail, 100)
        elif test is HearingTest.AUDIOMETRY:
            db = rules.audiometry_pass_max_db
            a["hearing_audiometry_db"] = rng.randint(db + 1, db + 40) if bad else rng.randint(0, db)
        # mood: feeling down and/or little interest
        if "psychologie" in alerted:
            a["mood_down"], a["mood_little_interest"] = rng.choice(
                ((True, False), (False, True), (True, True))
            )
        else:
            a["mood_down"] = a["mood_little_interest"] = False
        return Step1Answers(**a)

    def assessment_date(self) -> date:
        return self.as_of - timedelta(days=self.rng.randint(180, 540))


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _ascii(name: str) -> str:
    from bot.models import normalize_trait

    return normalize_trait(name).lower().replace(" ", "")


def yes_no(v: bool) -> str:
    return "Oui" if v else "Non"


def _num(v: float) -> str:
    return f"{v:g}".replace(".", ",")


def export_cells(
    person: Person,
    assessed_on: date,
    app_id: str | None,
    answers: Step1Answers,
    alerts: dict[str, bool],
    consent: bool,
) -> dict[str, str]:
    """One row as field key → the text the app would write."""
    a = answers
    cells: dict[str, str] = {
        "source_id": app_id or "",
        "assessed_on": f"{assessed_on:%d/%m/%Y}",
        "identity.birth_name": person.birth_name,
        "identity.first_names": " ".join(person.first_names),
        "identity.used_name": person.used_name or "",
        "identity.used_first_name": person.used_first_name or "",
        "identity.sex": person.sex.value,
        "identity.birth_date": f"{person.birth_date:%d/%m/%Y}",
        "identity.birth_insee": person.birth_insee,
        "identity.ins": person.ins or "",
        "identity.phone": person.phone or "",
        "identity.email": person.email or "",
        "identity.address": person.address or "",
        "consent_sharing": yes_no(consent),
        "answers.memory_complaint": yes_no(a.memory_complaint),
        "answers.words_recalled": str(a.words_recalled),
        "answers.chair_rise_seconds": (
            "Non réalisé" if a.chair_rise_seconds is None else _num(a.chair_rise_seconds)
        ),
        "answers.weight_loss_kg": _num(a.weight_loss_kg),
        "answers.hearing_test": _HEARING_LABELS[a.hearing_test],
        "answers.hearing_whisper_passed": (
            "" if a.hearing_whisper_passed is None else yes_no(a.hearing_whisper_passed)
        ),
        "answers.hearing_score": "" if a.hearing_score is None else str(a.hearing_score),
        "answers.hearing_audiometry_db": (
            "" if a.hearing_audiometry_db is None else str(a.hearing_audiometry_db)
        ),
    }
    for name in (
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
    ):
        cells[f"answers.{name}"] = yes_no(getattr(a, name))
    for d in DOMAINS:
        cells[f"app_alerts.{d}"] = yes_no(alerts[d])
    cells["app_alerts"] = ", ".join(d.capitalize() for d in DOMAINS if alerts[d])
    return cells


def break_cell(kind: str, cells: dict[str, str], as_of: date) -> None:
    """Make one cell wrong the way ``kind`` says (see ERROR_KINDS)."""
    match kind:
        case "impossible_date":
            cells["identity.birth_date"] = "31/02/1950"
        case "future_assessment":
            cells["assessed_on"] = f"{max(as_of, date.today()) + timedelta(days=400):%d/%m/%Y}"
        case "unknown_yes_no":
            cells["answers.appetite_loss"] = "Peut-être"
        case "words_recalled_5":
            cells["answers.words_recalled"] = "5"
        case "negative_seconds":
            cells["answers.chair_rise_seconds"] = "-3"
        case "ins_bad_key":
            first13 = "2" + "5003" + "45234" + "000"
            cells["identity.ins"] = f"{first13}{(ins_key(first13) + 1) % 97:02d}"
        case "ins_wrong_length":
            cells["identity.ins"] = "25003452340004"
        case "missing_birth_name":
            cells["identity.birth_name"] = ""
        case "hearing_result_without_test":
            cells["answers.hearing_test"] = "Aucun"
            cells["answers.hearing_whisper_passed"] = ""
            cells["answers.hearing_audiometry_db"] = ""
            cells["answers.hearing_score"] = "80"
        case "hearwho_140":
            cells["answers.hearing_test"] = "hearWHO"
            cells["answers.hearing_whisper_passed"] = ""
            cells["answers.hearing_audiometry_db"] = ""
            cells["answers.hearing_score"] = "140"
        case "unknown_sex":
            cells["identity.sex"] = "X"
        case "unreadable_number":
            cells["answers.chair_rise_seconds"] = "douze"
        case "empty_mandatory":
            cells["answers.orientation_year_ok"] = ""
        case "insee_wrong_length":
            cells["identity.birth_insee"] = "751"
        case "unknown_hearing_test":
            cells["answers.hearing_test"] = "Audiogramme tonal"
        case "unreadable_date":
            cells["assessed_on"] = "hier"
        case _:
            raise ValueError(f"unknown error kind {kind!r}")
