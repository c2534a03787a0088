"""Identity, INS keys, answers validation and alerts helpers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from bot.models import (
    Alerts,
    HearingTest,
    Identity,
    Step1Answers,
    ins_key,
    is_valid_ins,
    normalize_trait,
)
from tests.fixtures.answers import step1_answers


def with_key(first13: str) -> str:
    return f"{first13}{ins_key(first13):02d}"


@pytest.mark.parametrize(
    ("first13", "key"),
    [
        ("2690299341732", 85),  # 97 - (2690299341732 mod 97)
        ("150122A123456", 17),  # Corsica 2A counts as 19
        ("150122B123456", 44),  # Corsica 2B counts as 18
    ],
)
def test_ins_key(first13: str, key: int) -> None:
    assert ins_key(first13) == key


def test_corsican_ins_keys_differ_from_the_plain_digits() -> None:
    assert ins_key("150122A123456") == 97 - int("1501219123456") % 97
    assert ins_key("150122B123456") == 97 - int("1501218123456") % 97


@pytest.mark.parametrize(
    ("matricule", "valid"),
    [
        (with_key("2690299341732"), True),
        (with_key("150122A123456"), True),
        (with_key("150122B123456"), True),
        ("269029934173284", False),  # wrong key
        ("26902993417", False),  # too short
        ("2690299341732855", False),  # too long
        ("969029934173285", False),  # first digit is not a sex code
        ("15012" + "2C" + "123456" + "00", False),
    ],
)
def test_is_valid_ins(matricule: str, valid: bool) -> None:
    assert is_valid_ins(matricule) is valid


IDENTITY: dict[str, Any] = {
    "birth_name": "Le Guen",
    "first_names": ("Anne-Marie", "Louise"),
    "birth_date": date(1948, 4, 3),
    "sex": "F",
    "birth_insee": "29019",
}


def test_identity_accepts_a_valid_ins_and_normalises_it() -> None:
    ident = Identity(
        **IDENTITY, ins=with_key("2480429019123")[:13] + " " + with_key("2480429019123")[13:]
    )
    assert ident.ins == with_key("2480429019123")


def test_identity_refuses_an_ins_with_a_wrong_key() -> None:
    with pytest.raises(ValidationError, match="clé de contrôle"):
        Identity(**IDENTITY, ins="248042901912300")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_insee", "2901", "5 caractères"),
        ("birth_name", "1234", "aucune lettre"),
        ("birth_date", date(1850, 1, 1), "antérieure à 1900"),
        ("first_names", (), "at least 1"),
    ],
)
def test_identity_explains_bad_traits(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Identity(**{**IDENTITY, field: value})


def test_strict_traits_compare_as_the_rniv_says() -> None:
    a = Identity(**IDENTITY)
    b = Identity(**{**IDENTITY, "birth_name": "LE GUEN", "first_names": ("ANNE MARIE",)})
    assert a.strict_traits() == b.strict_traits()
    assert normalize_trait("d'Hérouville-Œillet") == "D HEROUVILLE OEILLET"


BASE_ANSWERS: dict[str, Any] = step1_answers(chair_rise_seconds=None)


@pytest.mark.parametrize(
    "hearing",
    [
        {"hearing_test": HearingTest.HEARWHO},  # a test without its result
        {"hearing_test": HearingTest.NONE, "hearing_score": 60},  # a result without its test
        {"hearing_test": HearingTest.WHISPER, "hearing_audiometry_db": 30},  # the wrong result
    ],
)
def test_hearing_result_must_match_the_test_kind(hearing: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="audition"):
        Step1Answers(**(BASE_ANSWERS | hearing))


@pytest.mark.parametrize(
    ("field", "value"),
    [("words_recalled", 4), ("words_recalled", -1), ("chair_rise_seconds", -2.0)],
)
def test_answers_out_of_range_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Step1Answers(**{**BASE_ANSWERS, field: value})


def test_alerts_round_trip_through_domain_lists() -> None:
    alerts = Alerts.from_domains({"vision", "audition"})
    assert alerts.positive() == ["vision", "audition"]
    assert Alerts.from_domains(alerts.positive()) == alerts
    with pytest.raises(ValueError, match="inconnus"):
        Alerts.from_domains({"humeur"})
