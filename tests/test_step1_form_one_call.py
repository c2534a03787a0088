"""The STEP 1 form filled in one browser call (issue 14): every kind of control — radio groups,
drop-downs, check boxes, typed dates and numbers, the questions an answer reveals, a field the
mapping adds — is set and read back, and the e-parcours saves exactly the intended STEP 1; a
control the one call cannot tell apart is filled one by one, as before.

Real Chromium against the sandbox, switched to the UI variant that shows each question kind,
with that variant's mapping; the STEP 1 the sandbox keeps is what is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext

from bot.models import Step1Answers
from bot.pages.evaluation import EvaluationPage
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage, form_values
from sandbox.server import RunningSandbox
from tests.fixtures.answers import step1_answers
from tests.fixtures.flows import make_flow_settings, open_new_step1
from tests.fixtures.sandbox import MAPPINGS

pytestmark = pytest.mark.browser

OpenForm = Callable[..., Step1FormPage]

PLACE = "Lieu de l'évaluation"
ASSESSED_ON = date(2025, 3, 14)

#: Both answers of each question kind, and every conditional field: a control left unset, set
#: to the wrong answer or not revealed shows in the saved STEP 1.
CASES = {
    # Radio groups answered Oui / Non; drop-downs (mode, effecteur, hearing test); a date, a
    # decimal and a number typed; the duration and the hearWHO score revealed by their trigger.
    "radio-hearwho": (
        "standard",
        step1_answers(
            memory_complaint=True,
            orientation_month_ok=False,
            words_recalled=1,
            chair_rise_seconds=12.5,
            weight_loss_kg=3.5,
            hearing_test="hearwho",
            hearing_score=42,
            mood_down=True,
        ),
    ),
    # The chair rise not done (its duration stays hidden); the whisper test revealed as a radio
    # group.
    "radio-whisper": (
        "standard",
        step1_answers(
            chair_rise_seconds=None,
            vision_problem=True,
            hearing_test="chuchotement",
            hearing_whisper_passed=False,
        ),
    ),
    # Every yes/no question a drop-down (kind: select), the revealed whisper question too.
    "select": (
        "yesno_select",
        step1_answers(
            orientation_year_ok=False,
            appetite_loss=True,
            hearing_test="chuchotement",
            hearing_whisper_passed=True,
            mood_little_interest=True,
        ),
    ),
    # Radio groups answered "Correct" / "Incorrect", "Incorrect" first.
    "radio-own-texts": (
        "yesno_swapped",
        step1_answers(orientation_day_ok=False, orientation_place_ok=False),
    ),
    # The "Non réalisé" box (kind: not_done_box) left unticked, the duration typed.
    "box-done": (
        "chair_not_done",
        step1_answers(
            chair_rise_seconds=17.25, hearing_test="audiometrie", hearing_audiometry_db=35
        ),
    ),
    # The same box ticked: the test not done, no duration.
    "box-not-done": ("chair_not_done", step1_answers(chair_rise_seconds=None)),
}


@pytest.fixture
def open_form(browser: Browser, sandbox: RunningSandbox, tmp_path: Path) -> Iterator[OpenForm]:
    """``open_form(variant, **step1_keys)``: a blank STEP 1 form of a new usager, the sandbox
    switched to that UI variant and the session's mapping that variant's (plus these keys)."""
    contexts: list[BrowserContext] = []

    def _open(variant: str, **step1: Any) -> Step1FormPage:
        sandbox.set_faults(ui_variant=variant)
        name = "target.yaml" if variant == "standard" else f"variants/{variant}.yaml"
        data = yaml.safe_load((MAPPINGS / name).read_text(encoding="utf-8"))
        data["step1"].update(step1)
        mapping = tmp_path / f"{variant}.yaml"
        mapping.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        context = browser.new_context()
        contexts.append(context)
        session = TargetSession(
            context, make_flow_settings(sandbox.base_url, tmp_path, mapping=mapping)
        )
        session.ensure_logged_in()
        form: Step1FormPage = open_new_step1(session, sandbox, "FORMULAIRE")
        return form

    yield _open
    for context in contexts:
        context.close()


def _fill(form: Step1FormPage, answers: dict[str, Any]) -> dict[str, Any]:
    """Fill the form as the flow does; the values its inputs must hold."""
    effecteur = form.effecteur_choices()[0]
    typed = Step1Answers.model_validate(answers)
    form.fill(typed, assessed_on=ASSESSED_ON, mode="auto", effecteur=effecteur)
    return form.header_values(ASSESSED_ON, "auto", effecteur) | form_values(typed)


def _saved(form: Step1FormPage, sandbox: RunningSandbox) -> dict[str, Any]:
    assert isinstance(form.save(), EvaluationPage), form.errors()
    (saved,) = sandbox.step1s()
    assert saved["date"] == ASSESSED_ON.isoformat()
    assert saved["mode"] == "auto"
    answers: dict[str, Any] = saved["answers"]
    return answers


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_call_sets_every_kind_of_control_and_the_saved_step1_is_the_intended_one(
    case: str, open_form: OpenForm, sandbox: RunningSandbox
) -> None:
    variant, answers = CASES[case]
    form = open_form(variant)

    expected = _fill(form, answers)

    assert form.filled_one_by_one == []  # nothing left to the field-by-field path
    assert form.read_fields(list(expected)) == expected  # what the flow checks before saving
    saved = _saved(form, sandbox)
    assert {key: saved.get(key) for key in answers} == answers


def test_a_field_the_mapping_adds_is_set_in_the_same_call(
    open_form: OpenForm, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(extra_field="required")
    form = open_form("standard", extra_fields={PLACE: "Domicile"})
    answers = step1_answers(memory_complaint=True)

    _fill(form, answers)

    assert form.filled_one_by_one == []
    saved = _saved(form, sandbox)
    assert saved["place"] == "Domicile"
    assert {key: saved.get(key) for key in answers} == answers


def test_a_control_the_one_call_cannot_tell_apart_is_filled_one_by_one(
    open_form: OpenForm, sandbox: RunningSandbox
) -> None:
    form = open_form("standard")
    # A second text box of the same name, outside the form: the one call does not guess which
    # is meant, Playwright's own fill takes the first (the form's), as before.
    form.page.evaluate(
        """(label) => {
            const box = document.createElement("input");
            box.setAttribute("aria-label", label);
            document.body.append(box);
        }""",
        form.t.labels["words_recalled"],
    )
    answers = step1_answers(words_recalled=2, chair_rise_seconds=9.5)

    expected = _fill(form, answers)

    assert form.filled_one_by_one == ["words_recalled"]
    assert form.read_fields(list(expected)) == expected
    saved = _saved(form, sandbox)
    assert {key: saved.get(key) for key in answers} == answers
