"""The sandbox's own STEP 1 rules, domain by domain, and their agreement with the reference rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.icope import alerts_for
from bot.models import Step1Answers
from sandbox.config import Thresholds
from sandbox.rules import Step1, compute_alerts
from tests.fixtures.sandbox import CLEAR_STEP1


def alerts(**changes: object) -> dict[str, bool]:
    return compute_alerts(Step1(**(CLEAR_STEP1 | changes)))


def test_clear_answers_give_no_alert() -> None:
    assert not any(alerts().values())


@pytest.mark.parametrize(
    ("changes", "domain", "expected"),
    [
        ({"orientation_year_ok": False}, "cognition", True),
        ({"orientation_place_ok": False}, "cognition", True),
        ({"words_recalled": 2}, "cognition", True),
        ({"memory_complaint": True}, "cognition", False),
        ({"chair_rise_seconds": 14.0}, "mobilite", False),
        ({"chair_rise_seconds": 14.1}, "mobilite", True),
        ({"chair_rise_seconds": None}, "mobilite", True),
        ({"weight_loss_kg": 3.0}, "nutrition", False),
        ({"weight_loss_kg": 3.5}, "nutrition", True),
        ({"appetite_loss": True}, "nutrition", True),
        ({"vision_problem": True}, "vision", True),
        ({"hearing_test": "hearwho", "hearing_score": 49}, "audition", True),
        ({"hearing_test": "hearwho", "hearing_score": 50}, "audition", False),
        ({"hearing_test": "audiometrie", "hearing_audiometry_db": 35}, "audition", False),
        ({"hearing_test": "audiometrie", "hearing_audiometry_db": 36}, "audition", True),
        ({"hearing_test": "chuchotement", "hearing_whisper_passed": False}, "audition", True),
        ({"hearing_test": "chuchotement", "hearing_whisper_passed": True}, "audition", False),
        ({"hearing_problem_reported": True}, "audition", True),
        (
            {"hearing_test": "hearwho", "hearing_score": 80, "hearing_problem_reported": True},
            "audition",
            False,
        ),
        ({"mood_down": True}, "psychologie", True),
        ({"mood_little_interest": True}, "psychologie", True),
    ],
)
def test_each_domain_alerts_as_the_handbook_says(
    changes: dict[str, object], domain: str, expected: bool
) -> None:
    result = alerts(**changes)
    assert result[domain] is expected
    assert not any(on for d, on in result.items() if d != domain)


def test_memory_complaint_alerts_only_when_configured() -> None:
    step1 = Step1(**(CLEAR_STEP1 | {"memory_complaint": True}))
    assert compute_alerts(step1, Thresholds(memory_complaint_alerts=True))["cognition"]


def test_inverted_domain_flips_only_that_domain() -> None:
    result = compute_alerts(Step1(**CLEAR_STEP1), inverted="vision")
    assert result == {d: d == "vision" for d in result}


_hearing = st.one_of(
    st.fixed_dictionaries({"hearing_test": st.just("aucun")}),
    st.fixed_dictionaries(
        {"hearing_test": st.just("chuchotement"), "hearing_whisper_passed": st.booleans()}
    ),
    st.fixed_dictionaries(
        {"hearing_test": st.just("hearwho"), "hearing_score": st.integers(0, 100)}
    ),
    st.fixed_dictionaries(
        {"hearing_test": st.just("audiometrie"), "hearing_audiometry_db": st.integers(-10, 120)}
    ),
)
_answers = st.fixed_dictionaries(
    {name: st.booleans() for name, value in CLEAR_STEP1.items() if isinstance(value, bool)}
    | {
        "words_recalled": st.integers(0, 3),
        "chair_rise_seconds": st.none()
        | st.floats(0, 300, allow_nan=False).map(lambda x: round(x, 1)),
        "weight_loss_kg": st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)),
    }
)


@settings(max_examples=200, deadline=None)
@given(answers=_answers, hearing=_hearing)
def test_sandbox_rules_agree_with_the_reference_rules(
    answers: dict[str, object], hearing: dict[str, object]
) -> None:
    values = answers | hearing
    reference = alerts_for(Step1Answers(**values)).as_dict()
    assert compute_alerts(Step1(**(CLEAR_STEP1 | values))) == reference
