"""Alerts concordance across the app, the target and the reference rules; read-back checks."""

from __future__ import annotations

from bot.concordance import compare_alerts, compare_readback
from bot.icope import Rules, alerts_for
from tests.fixtures.queue import make_answers as answers

RULES = Rules()


def test_three_agreeing_sources_are_concordant() -> None:
    a = answers(vision_problem=True)
    ref = alerts_for(a, RULES)
    result = compare_alerts(ref, ref, ref, a, RULES)
    assert result.agree
    assert result.reason() == "Alertes concordantes"
    assert result.details() == ""


def test_a_mobility_alert_missing_in_the_target_is_explained() -> None:
    a = answers(chair_rise_seconds=16.0)
    ref = alerts_for(a, RULES)
    target = ref.model_copy(update={"mobilite": False})
    result = compare_alerts(ref, target, ref, a, RULES)
    assert not result.agree
    assert result.reason() == "Alertes discordantes : Mobilité"
    assert result.details() == (
        "Mobilité : alerte dans ICOPE et Moi, pas dans l'e-parcours ; "
        "la règle de référence donne une alerte (lever de chaise 16 s (seuil 14 s))"
    )


def test_an_app_alert_that_the_rules_do_not_give_is_flagged() -> None:
    a = answers()
    ref = alerts_for(a, RULES)
    app = ref.model_copy(update={"nutrition": True})
    result = compare_alerts(app, ref, ref, a, RULES)
    assert [c.domain for c in result.differences()] == ["nutrition"]
    assert "alerte dans ICOPE et Moi, pas dans l'e-parcours" in result.details()
    assert "pas d'alerte (perte de poids 0 kg" in result.details()


def test_when_app_and_target_agree_against_the_rules_it_still_needs_review() -> None:
    a = answers(words_recalled=2)
    ref = alerts_for(a, RULES)
    both = ref.model_copy(update={"cognition": False})
    result = compare_alerts(both, both, ref, a, RULES)
    assert not result.agree
    assert result.details().startswith(
        "Cognition : pas d'alerte dans ICOPE et Moi et dans l'e-parcours"
    )


def test_result_records_alerts_by_source() -> None:
    a = answers(mood_down=True)
    ref = alerts_for(a, RULES)
    result = compare_alerts(ref, ref, ref, a, RULES).as_result()
    assert result["target"]["psychologie"] is True
    assert set(result) == {"app", "target", "reference"}


def test_readback_finds_every_mis_entered_field() -> None:
    source = answers(chair_rise_seconds=12.5)
    saved = source.model_copy(update={"chair_rise_seconds": 125.0, "appetite_loss": True})
    diffs = compare_readback(source, saved)
    assert [(d.field, d.entered, d.read_back) for d in diffs] == [
        ("chair_rise_seconds", 12.5, 125.0),
        ("appetite_loss", False, True),
    ]
    assert compare_readback(source, source) == []
