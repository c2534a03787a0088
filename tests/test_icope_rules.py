"""The STEP 1 reference rules, domain by domain, at every boundary."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import icope
from bot.icope import Rules, alerts_for, explain
from bot.models import DOMAINS, HearingTest, Step1Answers
from tests.fixtures.queue import make_answers

RULES = Rules()

answers = make_answers  # a STEP 1 with no alert, the changes of the case applied


def test_all_negative_answers_give_no_alert() -> None:
    assert alerts_for(answers(), RULES).positive() == []


@pytest.mark.parametrize(
    ("overrides", "alert"),
    [
        ({}, False),
        ({"words_recalled": 2}, True),
        ({"words_recalled": 0}, True),
        ({"orientation_year_ok": False}, True),
        ({"orientation_month_ok": False}, True),
        ({"orientation_weekday_ok": False}, True),
        ({"orientation_day_ok": False}, True),
        ({"orientation_place_ok": False}, True),
        ({"memory_complaint": True}, False),  # to confirm: off by default in icope_rules.yaml
    ],
)
def test_cognition(overrides: dict[str, Any], alert: bool) -> None:
    assert icope.cognition(answers(**overrides), RULES) is alert


def test_memory_complaint_alerts_when_configured() -> None:
    rules = Rules(memory_complaint_alerts=True)
    assert icope.cognition(answers(memory_complaint=True), rules) is True


@pytest.mark.parametrize(
    ("seconds", "age", "alert"),
    [
        (14.0, 70, False),
        (14.1, 70, True),
        (0.0, 70, False),
        (None, 70, True),  # not completed
        (15.0, 85, True),  # no 80+ threshold configured by default
    ],
)
def test_mobilite(seconds: float | None, age: int, alert: bool) -> None:
    assert icope.mobilite(answers(chair_rise_seconds=seconds), RULES, age) is alert


@pytest.mark.parametrize(
    ("seconds", "age", "alert"), [(16.0, 80, False), (16.1, 80, True), (15.0, 79, True)]
)
def test_mobilite_threshold_for_80_plus_when_configured(
    seconds: float, age: int, alert: bool
) -> None:
    rules = Rules(chair_rise_max_seconds_80_plus=16.0)
    assert icope.mobilite(answers(chair_rise_seconds=seconds), rules, age) is alert


@pytest.mark.parametrize(
    ("kg", "appetite", "alert"),
    [
        (0.0, False, False),
        (3.0, False, False),
        (3.1, False, True),
        (0.0, True, True),
        (8.0, True, True),
    ],
)
def test_nutrition(kg: float, appetite: bool, alert: bool) -> None:
    assert icope.nutrition(answers(weight_loss_kg=kg, appetite_loss=appetite), RULES) is alert


@pytest.mark.parametrize(("problem", "alert"), [(False, False), (True, True)])
def test_vision(problem: bool, alert: bool) -> None:
    assert icope.vision(answers(vision_problem=problem), RULES) is alert


@pytest.mark.parametrize(
    ("hearing", "alert"),
    [
        ({"hearing_test": HearingTest.NONE}, False),
        ({"hearing_test": HearingTest.NONE, "hearing_problem_reported": True}, True),
        ({"hearing_test": HearingTest.WHISPER, "hearing_whisper_passed": True}, False),
        ({"hearing_test": HearingTest.WHISPER, "hearing_whisper_passed": False}, True),
        ({"hearing_test": HearingTest.HEARWHO, "hearing_score": 50}, False),
        ({"hearing_test": HearingTest.HEARWHO, "hearing_score": 49}, True),
        ({"hearing_test": HearingTest.HEARWHO, "hearing_score": 90}, False),
        ({"hearing_test": HearingTest.AUDIOMETRY, "hearing_audiometry_db": 35}, False),
        ({"hearing_test": HearingTest.AUDIOMETRY, "hearing_audiometry_db": 36}, True),
        # a test was done: the self-reported problem no longer decides
        (
            {
                "hearing_test": HearingTest.WHISPER,
                "hearing_whisper_passed": True,
                "hearing_problem_reported": True,
            },
            False,
        ),
    ],
)
def test_audition(hearing: dict[str, Any], alert: bool) -> None:
    assert icope.audition(answers(**hearing), RULES) is alert


def test_self_reported_hearing_problem_can_be_switched_off() -> None:
    rules = Rules(self_reported_hearing_problem_alerts=False)
    assert icope.audition(answers(hearing_problem_reported=True), rules) is False


@pytest.mark.parametrize(
    ("down", "interest", "alert"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_psychologie(down: bool, interest: bool, alert: bool) -> None:
    assert icope.psychologie(answers(mood_down=down, mood_little_interest=interest), RULES) is alert


def test_rules_file_loads_and_matches_documented_defaults() -> None:
    assert icope.load_rules() == Rules()


def test_rules_file_refuses_unknown_keys(tmp_path: Any) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("chair_rise_max_secs: 14\n", encoding="utf-8")
    with pytest.raises(ValueError, match="chair_rise_max_secs"):
        icope.load_rules(bad)


def test_explain_gives_the_facts_behind_each_domain() -> None:
    a = answers(chair_rise_seconds=16.0, words_recalled=2, orientation_day_ok=False)
    assert explain("mobilite", a, RULES) == "lever de chaise 16 s (seuil 14 s)"
    assert explain("cognition", a, RULES) == "2/3 mots rappelés, orientation fausse : date du jour"
    for domain in DOMAINS:
        assert explain(domain, a, RULES)


# --- monotonicity: a worse answer never removes an alert -----------------------------------

answer_strategy = st.builds(
    Step1Answers,
    orientation_year_ok=st.booleans(),
    orientation_month_ok=st.booleans(),
    orientation_weekday_ok=st.booleans(),
    orientation_day_ok=st.booleans(),
    orientation_place_ok=st.booleans(),
    words_recalled=st.integers(0, 3),
    chair_rise_seconds=st.one_of(st.none(), st.floats(0, 60, allow_nan=False)),
    weight_loss_kg=st.floats(0, 20, allow_nan=False),
    appetite_loss=st.booleans(),
    vision_problem=st.booleans(),
    hearing_test=st.just(HearingTest.HEARWHO),
    hearing_score=st.integers(0, 100),
    mood_down=st.booleans(),
    mood_little_interest=st.booleans(),
)


@given(answer_strategy, st.integers(0, 3), st.floats(0, 30, allow_nan=False), st.integers(0, 100))
def test_worse_answers_never_remove_an_alert(
    a: Step1Answers, fewer_words: int, slower: float, lower_score: int
) -> None:
    before = alerts_for(a, RULES)
    worse = a.model_copy(
        update={
            "words_recalled": min(a.words_recalled, fewer_words),
            "chair_rise_seconds": None
            if a.chair_rise_seconds is None
            else a.chair_rise_seconds + slower,
            "weight_loss_kg": a.weight_loss_kg + slower,
            "hearing_score": min(a.hearing_score or 0, lower_score),
            "orientation_place_ok": False if not a.orientation_place_ok else a.orientation_place_ok,
        }
    )
    after = alerts_for(worse, RULES)
    for domain in DOMAINS:
        assert getattr(after, domain) >= getattr(before, domain), domain


@given(answer_strategy)
def test_an_alert_is_raised_exactly_when_a_domain_rule_says_so(a: Step1Answers) -> None:
    alerts = alerts_for(a, RULES)
    assert alerts.cognition == (
        a.words_recalled < 3
        or not a.orientation_year_ok
        or not a.orientation_month_ok
        or not a.orientation_weekday_ok
        or not a.orientation_day_ok
        or not a.orientation_place_ok
    )
    assert alerts.psychologie == (a.mood_down or a.mood_little_interest)
