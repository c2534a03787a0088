"""step1.controls: how each yes/no question is shown, declared in the mapping (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.errors import MappingError
from bot.pages.mapping import load_mapping
from tests.fixtures.sandbox import MAPPINGS


def with_controls(tmp_path: Path, controls: object) -> Path:
    data = yaml.safe_load((MAPPINGS / "target.yaml").read_text(encoding="utf-8"))
    data["step1"]["controls"] = controls
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_standard_mapping_keeps_radio_groups_answered_oui_non() -> None:
    step1 = load_mapping(MAPPINGS / "target.yaml").step1

    assert step1.controls == {}
    assert step1.control_of("memory_complaint").role == "radiogroup"
    assert step1.answer_texts("memory_complaint") == ("Oui", "Non")


@pytest.mark.parametrize("path", sorted((MAPPINGS / "variants").glob("*.yaml")), ids=str)
def test_every_variant_mapping_loads(path: Path) -> None:
    load_mapping(path)


def test_a_question_has_its_own_answer_texts_and_a_kind_gives_the_role(tmp_path: Path) -> None:
    controls = {
        "orientation_day_ok": {"kind": "radio", "yes": "Correct", "no": "Incorrect"},
        "vision_problem": {"kind": "select"},
        "chair_rise_done": {"kind": "not_done_box"},
    }
    mapping = load_mapping(with_controls(tmp_path, controls))
    step1 = mapping.step1

    assert step1.answer_texts("orientation_day_ok") == ("Correct", "Incorrect")
    assert step1.answer_texts("vision_problem") == ("Oui", "Non")
    assert step1.control_of("vision_problem").role == "combobox"
    assert step1.control_of("chair_rise_done").role == "checkbox"
    # check-target checks the answers' texts, not the kinds (not a text of the screen).
    assert mapping.screens()["step1"]["controls"] == {
        "orientation_day_ok": {"yes": "Correct", "no": "Incorrect"},
        "vision_problem": {},
        "chair_rise_done": {},
    }


@pytest.mark.parametrize(
    ("controls", "said"),
    [
        ({"memory_complain": {"kind": "select"}}, "question(s) inconnue(s) : memory_complain"),
        ({"vision_problem": {"kind": "toggle"}}, "kind"),
        ({"chair_rise_done": {"kind": "not_done_box", "yes": "Oui"}}, "pas de réponses"),
    ],
)
def test_a_wrong_declaration_is_refused_and_named(
    tmp_path: Path, controls: object, said: str
) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(with_controls(tmp_path, controls))

    assert said in raised.value.message


def test_unquoted_yes_and_no_keys_written_by_hand_are_read_as_meant(tmp_path: Path) -> None:
    path = tmp_path / "target.yaml"
    text = (MAPPINGS / "target.yaml").read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "\nstep1:\n",
            "\nstep1:\n  controls:\n    orientation_day_ok: {kind: radio, yes: Correct, no: Incorrect}\n",
            1,
        ),
        encoding="utf-8",
    )
    assert "controls" in path.read_text(encoding="utf-8")

    step1 = load_mapping(path).step1

    assert step1.answer_texts("orientation_day_ok") == ("Correct", "Incorrect")
