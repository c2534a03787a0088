"""The target mapping file: validated at load, with clear messages, both UI variants."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.errors import MappingError
from bot.pages.mapping import Formats, load_mapping
from tests.fixtures.sandbox import MAPPINGS


@pytest.mark.parametrize("name", ["target.yaml", "target_v2.yaml"])
def test_shipped_mappings_load(name: str) -> None:
    mapping = load_mapping(MAPPINGS / name)

    assert mapping.step1.label_of("words_recalled").startswith(("Nombre", "Mots"))
    assert set(mapping.evaluation.alerts.domains) == {
        "cognition",
        "mobilite",
        "nutrition",
        "vision",
        "audition",
        "psychologie",
    }


def write(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load((MAPPINGS / "target.yaml").read_text(encoding="utf-8"))
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_missing_text_the_bot_needs_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(write(tmp_path, {"step1.buttons.save": None}))

    assert raised.value.code == "mapping_invalid"
    assert "save" in raised.value.message


def test_a_misspelt_screen_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(write(tmp_path, {"dosier": {"heading": "Dossier"}}))

    assert "dosier" in raised.value.message


def test_extra_texts_inside_a_group_are_allowed(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, {"dossier.texts.no_evaluation": "Aucune évaluation"}))

    assert mapping.dossier.texts["no_evaluation"] == "Aucune évaluation"


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="introuvable"):
        load_mapping(tmp_path / "absent.yaml")


def test_dates_and_decimals_are_written_the_french_way() -> None:
    formats = Formats()

    assert formats.format_date(date(2025, 3, 4)) == "04/03/2025"
    assert formats.parse_date("04/03/2025") == date(2025, 3, 4)
    assert formats.parse_date("2025-03-04") is None
    assert [formats.format_decimal(v) for v in (14.0, 14.1, 3.05, 12)] == [
        "14",
        "14,1",
        "3,05",
        "12",
    ]
    assert formats.parse_decimal("12,5") == 12.5
