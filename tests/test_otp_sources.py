"""The other code sources (prompt, TOTP), the mapping rules, and the choice made by the settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from pydantic import SecretStr

from bot.config import PROJECT_ROOT, Settings
from bot.errors import OtpSetupError, SystemException
from bot.otp import (
    ImapCodeSource,
    OtpEmailRules,
    PromptCodeSource,
    TotpCodeSource,
    load_otp_email_rules,
    otp_source_from_settings,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def typed(*answers: str) -> tuple[Callable[[str], str], list[str]]:
    """An ``ask`` function answering in turn with ``answers``, and the list of questions asked."""
    questions: list[str] = []
    pending = list(answers)

    def ask(question: str) -> str:
        questions.append(question)
        if not pending:
            raise EOFError
        return pending.pop(0)

    return ask, questions


def settings(**changes: object) -> Settings:
    return Settings(_env_file=None, **changes)  # type: ignore[call-arg]


# --- prompt ----------------------------------------------------------------------------------


def test_prompt_asks_in_french_and_returns_the_typed_code() -> None:
    ask, questions = typed(" 123 456 ")

    assert PromptCodeSource(account="bot", ask=ask, say=print).code_for(NOW) == "123456"
    assert questions == ["Code de connexion e-parcours reçu par e-mail du compte « bot » : "]


def test_prompt_refuses_an_empty_code_and_asks_again() -> None:
    ask, questions = typed("", "   ", "654321")
    said: list[str] = []

    assert PromptCodeSource(ask=ask, say=said.append).code_for(NOW) == "654321"
    assert len(questions) == 3
    assert said == [
        "Le code ne peut pas être vide (2 essai(s) restant(s)).",
        "Le code ne peut pas être vide (1 essai(s) restant(s)).",
    ]


def test_prompt_refuses_what_is_not_a_code() -> None:
    ask, _questions = typed("12345", "abcdef", "1234567")
    said: list[str] = []

    with pytest.raises(SystemException) as raised:
        PromptCodeSource(ask=ask, say=said.append).code_for(NOW)

    assert raised.value.code == "otp_unavailable"
    assert "3 essais" in raised.value.message
    assert all(s.startswith("Ce n'est pas un code de connexion valide") for s in said)


def test_prompt_without_a_terminal_raises_otp_unavailable() -> None:
    ask, _questions = typed()

    with pytest.raises(SystemException, match="Aucun terminal") as raised:
        PromptCodeSource(ask=ask).code_for(NOW)

    assert raised.value.code == "otp_unavailable"


# --- totp ------------------------------------------------------------------------------------


def test_totp_code_is_the_one_the_target_expects() -> None:
    secret = pyotp.random_base32()

    code = TotpCodeSource(SecretStr(secret)).code_for(datetime.now(UTC))

    assert pyotp.TOTP(secret).verify(code, valid_window=1)


def test_invalid_totp_secret_is_refused_at_start() -> None:
    with pytest.raises(OtpSetupError) as raised:
        TotpCodeSource(SecretStr("pas du base32 !"))

    assert raised.value.code == "otp_config"


# --- mapping rules ---------------------------------------------------------------------------


def test_target_mapping_describes_the_code_email() -> None:
    rules = load_otp_email_rules(PROJECT_ROOT / "mappings" / "target.yaml")

    assert rules.subject_contains == "code de connexion"
    assert rules.find_code("Votre code de connexion est : 048213\nRéférence : 9F3A21BC") == "048213"


def test_mapping_without_otp_email_section_gives_the_defaults(tmp_path: Path) -> None:
    mapping = tmp_path / "target.yaml"
    mapping.write_text("login:\n  heading: Connexion\n", encoding="utf-8")

    assert load_otp_email_rules(mapping) == OtpEmailRules()
    assert load_otp_email_rules(tmp_path / "absent.yaml") == OtpEmailRules()


def test_code_pattern_with_two_groups_is_refused() -> None:
    with pytest.raises(ValueError, match="au plus un groupe"):
        OtpEmailRules(code_pattern=r"(\d{3})-(\d{3})")


# --- settings --------------------------------------------------------------------------------


def test_no_second_factor_gives_no_source() -> None:
    assert otp_source_from_settings(settings(otp_source="none")) is None


def test_imap_source_is_built_from_the_settings() -> None:
    source = otp_source_from_settings(
        settings(
            otp_source="imap",
            imap_user="robot@cabinet.test",
            imap_password=SecretStr("x"),
            imap_port=993,
            imap_tls=True,
            imap_move_to="Codes utilisés",
            otp_timeout_seconds=90,
        )
    )

    assert isinstance(source, ImapCodeSource)
    assert (source.port, source.tls, source.move_to, source.timeout) == (
        993,
        True,
        "Codes utilisés",
        90,
    )
    assert source.address == "robot@cabinet.test"  # codes are sent to the mailbox's address
    assert source.rules.subject_contains == "code de connexion"


def test_otp_address_overrides_the_mailbox_address() -> None:
    source = otp_source_from_settings(
        settings(
            otp_source="imap",
            imap_user="robots@cabinet.test",
            imap_password=SecretStr("x"),
            otp_address="Robot-2@Cabinet.test",
        )
    )

    assert isinstance(source, ImapCodeSource)
    assert source.address == "robot-2@cabinet.test"


def test_imap_without_password_nor_keyring_entry_is_a_clear_configuration_error() -> None:
    with pytest.raises(OtpSetupError) as raised:
        otp_source_from_settings(settings(otp_source="imap", imap_user="robot@cabinet.test"))

    assert raised.value.code == "otp_config"
    assert "ICOPE_BOT_IMAP_PASSWORD" in raised.value.message


def test_imap_without_mailbox_user_is_a_clear_configuration_error() -> None:
    with pytest.raises(OtpSetupError, match="ICOPE_BOT_IMAP_USER"):
        otp_source_from_settings(settings(otp_source="imap"))


def test_totp_without_secret_is_a_clear_configuration_error() -> None:
    with pytest.raises(OtpSetupError, match="ICOPE_BOT_TOTP_SECRET"):
        otp_source_from_settings(settings(otp_source="totp"))


def test_prompt_source_names_the_account() -> None:
    ask, questions = typed("777777")
    source = otp_source_from_settings(settings(otp_source="prompt", username="bot"), ask=ask)

    assert source is not None
    assert source.code_for(NOW) == "777777"
    assert "« bot »" in questions[0]
