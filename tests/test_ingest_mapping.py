"""The export format lives in mappings/icope_et_moi.yaml: validated, and enough to read another app."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.ingest import MAPPING_FILE, ExportMapping, ingest_file, load_mapping, normalize_header
from bot.models import HearingTest, ItemState, Sex
from bot.workqueue import WorkQueue


def _shipped() -> dict[str, Any]:
    return yaml.safe_load(MAPPING_FILE.read_text(encoding="utf-8"))


def test_the_shipped_mapping_is_valid_and_covers_every_model_field() -> None:
    mapping = load_mapping()
    assert mapping.columns["identity.birth_date"].header == "Date de naissance"
    assert len(mapping.columns) == 38


def test_headers_compare_without_case_accents_spaces_or_punctuation() -> None:
    assert normalize_header("Date d'évaluation") == normalize_header(" DATE_D_EVALUATION ")
    assert normalize_header("Né(e) le") == "neele"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda m: m["columns"].update({"identity.shoe_size": {"header": "Pointure"}}), "inconnus"),
        (lambda m: m["columns"].pop("identity.birth_date"), "identity.birth_date"),
        (
            lambda m: m["columns"]["identity.sex"]["aliases"].append("Nom de naissance"),
            "l'en-tête « Nom de naissance » est donné pour",
        ),
        (
            lambda m: m["values"]["booleans"]["false"].append("oui"),
            "« oui » veut dire à la fois true et false",
        ),
        (lambda m: m["columns"]["identity.sex"].update({"invert": True}), "invert"),
        (lambda m: m["columns"].pop("app_alerts.vision"), "alertes de l'application sans colonne"),
        (lambda m: m["columns"]["identity.sex"].update({"colour": "red"}), "colour"),
        (lambda m: m.update({"names_separator": "[,"}), "expression régulière"),
    ],
    ids=[
        "unknown-field",
        "required-field-unmapped",
        "alias-twice",
        "synonym-twice",
        "invert-on-code",
        "alert-unmapped",
        "unknown-key",
        "bad-regex",
    ],
)
def test_a_broken_mapping_is_refused_with_the_reason(change: Any, complaint: str) -> None:
    raw = _shipped()
    change(raw)
    with pytest.raises(ValidationError, match=re.escape(complaint)):
        ExportMapping.model_validate(raw)


OTHER_APP = """
name: another app's export, mapped without code
reference_prefix: "DGC-"
date_formats: ["%d.%m.%Y"]
values:
  booleans: {"true": ["Coché", "x"], "false": ["Non coché", "-"]}
  not_done: ["Abandon"]
  sex: {F: ["Madame"], M: ["Monsieur"], I: ["?"]}
  hearing_test: {aucun: ["-"], chuchotement: ["voix"], hearwho: ["appli"], audiometrie: ["audio"]}
  domains: {cognition: ["COG"], mobilite: ["LOC"], nutrition: ["NUT"], vision: ["VIS"],
            audition: ["AUD"], psychologie: ["PSY"]}
columns:
  source_id: {header: "N°"}
  assessed_on: {header: "Quand"}
  identity.birth_name: {header: "NOM"}
  identity.first_names: {header: "PRENOMS"}
  identity.sex: {header: "Civilité"}
  identity.birth_date: {header: "Naissance"}
  identity.birth_insee: {header: "Lieu"}
  consent_sharing: {header: "RGPD"}
  answers.orientation_year_ok: {header: "Erreur année", invert: true}
  answers.orientation_month_ok: {header: "Erreur mois", invert: true}
  answers.orientation_weekday_ok: {header: "Erreur jour semaine", invert: true}
  answers.orientation_day_ok: {header: "Erreur date", invert: true}
  answers.orientation_place_ok: {header: "Erreur lieu", invert: true}
  answers.words_recalled: {header: "Mots", values: {"3/3": "3", "2/3": "2", "1/3": "1", "0/3": "0"}}
  answers.chair_rise_seconds: {header: "Chaise"}
  answers.weight_loss_kg: {header: "Kg perdus"}
  answers.appetite_loss: {header: "Appétit"}
  answers.vision_problem: {header: "Yeux"}
  answers.hearing_test: {header: "Audition test"}
  answers.hearing_score: {header: "Score", required: false}
  answers.hearing_problem_reported: {header: "Gêne"}
  answers.mood_down: {header: "Triste"}
  answers.mood_little_interest: {header: "Intérêt"}
  app_alerts: {header: "Alertes"}
"""

OTHER_CSV = (
    "N°,Quand,NOM,PRENOMS,Civilité,Naissance,Lieu,RGPD,Erreur année,Erreur mois,"
    "Erreur jour semaine,Erreur date,Erreur lieu,Mots,Chaise,Kg perdus,Appétit,Yeux,"
    "Audition test,Score,Gêne,Triste,Intérêt,Alertes\n"
    '77,02.05.2025,Testicope,"Jeanne, Marie",Madame,12.05.1940,75115,Coché,-,-,-,x,-,2/3,'
    '"12,5",0,-,x,appli,45,-,-,x,"COG, VIS, AUD, PSY"\n'
    "78,03.05.2025,Essai,Paul,Monsieur,01.01.1950,2A004,Coché,-,-,-,-,-,3/3,Abandon,4,-,-,-,,"
    "x,-,-,LOC / NUT / AUD\n"
)


def test_another_apps_export_is_read_through_its_own_mapping_only(
    tmp_path: Path, work_queue: WorkQueue
) -> None:
    mapping_file = tmp_path / "autre_app.yaml"
    mapping_file.write_text(OTHER_APP, encoding="utf-8")
    export = tmp_path / "autre.csv"
    export.write_text(OTHER_CSV, encoding="utf-8")

    summary = ingest_file(export, work_queue, load_mapping(mapping_file))
    assert (summary.read, summary.new, summary.invalid) == (2, 2, 0), work_queue.items()

    first = work_queue.get("DGC-77").assessment
    assert first is not None
    assert first.assessed_on == date(2025, 5, 2)
    assert first.identity.first_names == ("Jeanne", "Marie")
    assert first.identity.sex is Sex.F
    assert first.answers.orientation_day_ok is False  # "Erreur date: x", inverted
    assert first.answers.orientation_year_ok is True
    assert first.answers.words_recalled == 2
    assert first.answers.chair_rise_seconds == 12.5
    assert first.answers.hearing_test is HearingTest.HEARWHO
    assert first.answers.hearing_score == 45
    assert first.app_alerts.positive() == ["cognition", "vision", "audition", "psychologie"]

    second = work_queue.get("DGC-78").assessment
    assert second is not None
    assert second.answers.chair_rise_seconds is None  # "Abandon"
    assert second.answers.hearing_problem_reported is True
    assert second.identity.birth_insee == "2A004"
    assert second.app_alerts.positive() == ["mobilite", "nutrition", "audition"]
    assert work_queue.counts()[ItemState.PENDING] == 2
