"""The ICOPE STEP 1 reference rules: answers → alerts, one small pure function per domain.

These follow ``shared/ICOPE_STEP1.md`` (WHO ICOPE Handbook 2019, French practice). Thresholds
marked *to confirm* come from ``mappings/icope_rules.yaml`` through :class:`Rules`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bot.models import Alerts, HearingTest, Step1Answers
from bot.wording import decimal

__all__ = ["Rules", "alerts_for", "explain", "load_rules"]

RULES_FILE = Path(__file__).resolve().parent.parent / "mappings" / "icope_rules.yaml"


class Rules(BaseModel):
    """Thresholds of the reference rules (see mappings/icope_rules.yaml for their meaning)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chair_rise_max_seconds: float = Field(14.0, gt=0)
    chair_rise_max_seconds_80_plus: float | None = Field(None, gt=0)
    weight_loss_threshold_kg: float = Field(3.0, ge=0)
    hearwho_fail_below: int = Field(50, ge=0, le=100)
    audiometry_pass_max_db: int = 35
    self_reported_hearing_problem_alerts: bool = True
    memory_complaint_alerts: bool = False


@cache
def load_rules(path: Path = RULES_FILE) -> Rules:
    """Read the thresholds file once per process."""
    return Rules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def cognition(a: Step1Answers, rules: Rules) -> bool:
    oriented = all(
        (
            a.orientation_year_ok,
            a.orientation_month_ok,
            a.orientation_weekday_ok,
            a.orientation_day_ok,
            a.orientation_place_ok,
        )
    )
    return (
        not oriented
        or a.words_recalled < 3
        or (rules.memory_complaint_alerts and a.memory_complaint)
    )


def chair_rise_limit(rules: Rules, age: int | None) -> float:
    if age is not None and age >= 80 and rules.chair_rise_max_seconds_80_plus is not None:
        return rules.chair_rise_max_seconds_80_plus
    return rules.chair_rise_max_seconds


def mobilite(a: Step1Answers, rules: Rules, age: int | None = None) -> bool:
    return a.chair_rise_seconds is None or a.chair_rise_seconds > chair_rise_limit(rules, age)


def nutrition(a: Step1Answers, rules: Rules) -> bool:
    return a.weight_loss_kg > rules.weight_loss_threshold_kg or a.appetite_loss


def vision(a: Step1Answers, rules: Rules) -> bool:
    return a.vision_problem


def audition(a: Step1Answers, rules: Rules) -> bool:
    match a.hearing_test:
        case HearingTest.WHISPER:
            return not a.hearing_whisper_passed
        case HearingTest.HEARWHO:
            assert a.hearing_score is not None  # guaranteed by Step1Answers' validator
            return a.hearing_score < rules.hearwho_fail_below
        case HearingTest.AUDIOMETRY:
            assert a.hearing_audiometry_db is not None
            return a.hearing_audiometry_db > rules.audiometry_pass_max_db
        case _:
            return rules.self_reported_hearing_problem_alerts and a.hearing_problem_reported


def psychologie(a: Step1Answers, rules: Rules) -> bool:
    return a.mood_down or a.mood_little_interest


def alerts_for(answers: Step1Answers, rules: Rules | None = None, age: int | None = None) -> Alerts:
    """The alerts the reference rules give for these answers (age only matters for mobility)."""
    r = rules or load_rules()
    return Alerts(
        cognition=cognition(answers, r),
        mobilite=mobilite(answers, r, age),
        nutrition=nutrition(answers, r),
        vision=vision(answers, r),
        audition=audition(answers, r),
        psychologie=psychologie(answers, r),
    )


def explain(
    domain: str, a: Step1Answers, rules: Rules | None = None, age: int | None = None
) -> str:
    """The facts behind a domain's reference result, in French, for a reviewer."""
    r = rules or load_rules()
    match domain:
        case "cognition":
            wrong = [
                label
                for label, ok in (
                    ("année", a.orientation_year_ok),
                    ("mois", a.orientation_month_ok),
                    ("jour de la semaine", a.orientation_weekday_ok),
                    ("date du jour", a.orientation_day_ok),
                    ("lieu", a.orientation_place_ok),
                )
                if not ok
            ]
            orient = f"orientation fausse : {', '.join(wrong)}" if wrong else "orientation correcte"
            return f"{a.words_recalled}/3 mots rappelés, {orient}"
        case "mobilite":
            if a.chair_rise_seconds is None:
                return "lever de chaise non réalisé"
            limit = chair_rise_limit(r, age)
            return f"lever de chaise {decimal(a.chair_rise_seconds)} s (seuil {decimal(limit)} s)"
        case "nutrition":
            appetite = "perte d'appétit" if a.appetite_loss else "pas de perte d'appétit"
            return f"perte de poids {decimal(a.weight_loss_kg)} kg, {appetite}"
        case "vision":
            return "problème de vision déclaré" if a.vision_problem else "aucun problème de vision"
        case "audition":
            match a.hearing_test:
                case HearingTest.WHISPER:
                    res = "réussi" if a.hearing_whisper_passed else "échoué"
                    return f"test du chuchotement {res}"
                case HearingTest.HEARWHO:
                    return (
                        f"score hearWHO {a.hearing_score}/100 (échec sous {r.hearwho_fail_below})"
                    )
                case HearingTest.AUDIOMETRY:
                    return f"audiométrie {a.hearing_audiometry_db} dB (seuil {r.audiometry_pass_max_db} dB)"
                case _:
                    said = "déclare" if a.hearing_problem_reported else "ne déclare pas"
                    return f"aucun test, {said} de problème d'audition"
        case "psychologie":
            parts = []
            if a.mood_down:
                parts.append("humeur triste")
            if a.mood_little_interest:
                parts.append("perte d'intérêt")
            return ", ".join(parts) or "ni tristesse ni perte d'intérêt"
    raise ValueError(f"unknown domain {domain!r}")
