"""The e-parcours' own ICOPE STEP 1 rules: saved answers → one alert per domain.

The sandbox is "the other system": it re-implements the screening rules from the ICOPE handbook
instead of importing icope-bot's, so a disagreement between the two is a real finding.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sandbox.config import DOMAINS, Thresholds

__all__ = ["HEARING_KINDS", "Step1", "compute_alerts"]

#: Hearing screening kinds, as stored (same codes as the ICOPE et Moi export mapping).
HEARING_KINDS: tuple[str, ...] = ("aucun", "chuchotement", "hearwho", "audiometrie")


class Step1(BaseModel):
    """The answers of a saved STEP 1, as the e-parcours stores them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory_complaint: bool
    orientation_year_ok: bool
    orientation_month_ok: bool
    orientation_weekday_ok: bool
    orientation_day_ok: bool
    orientation_place_ok: bool
    words_recalled: int = Field(ge=0, le=3)
    chair_rise_seconds: float | None = None  # None: the test was not done
    weight_loss_kg: float = Field(ge=0)
    appetite_loss: bool
    vision_problem: bool
    hearing_test: str = "aucun"
    hearing_whisper_passed: bool | None = None
    hearing_score: int | None = None
    hearing_audiometry_db: int | None = None
    hearing_problem_reported: bool
    mood_down: bool
    mood_little_interest: bool


def _cognition(s: Step1, t: Thresholds) -> bool:
    orientation = (
        s.orientation_year_ok,
        s.orientation_month_ok,
        s.orientation_weekday_ok,
        s.orientation_day_ok,
        s.orientation_place_ok,
    )
    memory = t.memory_complaint_alerts and s.memory_complaint
    return not all(orientation) or s.words_recalled < 3 or memory


def _mobilite(s: Step1, t: Thresholds) -> bool:
    return s.chair_rise_seconds is None or s.chair_rise_seconds > t.chair_rise_max_seconds


def _nutrition(s: Step1, t: Thresholds) -> bool:
    return s.weight_loss_kg > t.weight_loss_threshold_kg or s.appetite_loss


def _vision(s: Step1, t: Thresholds) -> bool:
    return s.vision_problem


def _audition(s: Step1, t: Thresholds) -> bool:
    if s.hearing_test == "chuchotement":
        return not s.hearing_whisper_passed
    if s.hearing_test == "hearwho":
        return s.hearing_score is None or s.hearing_score < t.hearwho_fail_below
    if s.hearing_test == "audiometrie":
        return s.hearing_audiometry_db is None or s.hearing_audiometry_db > t.audiometry_pass_max_db
    return t.self_reported_hearing_problem_alerts and s.hearing_problem_reported


def _psychologie(s: Step1, t: Thresholds) -> bool:
    return s.mood_down or s.mood_little_interest


_RULES = {
    "cognition": _cognition,
    "mobilite": _mobilite,
    "nutrition": _nutrition,
    "vision": _vision,
    "audition": _audition,
    "psychologie": _psychologie,
}


def compute_alerts(
    step1: Step1, thresholds: Thresholds | None = None, *, inverted: str | None = None
) -> dict[str, bool]:
    """Alert (True) or not for each of the six domains; ``inverted`` flips one (fault knob)."""
    t = thresholds or Thresholds()
    return {d: _RULES[d](step1, t) != (d == inverted) for d in DOMAINS}
