"""Logging in: once per session, clear refusals, the second factor by e-mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext
from pydantic import SecretStr

from bot.errors import CredentialsError, OtpSetupError
from bot.otp import ImapCodeSource
from bot.pages.search import SearchPage
from bot.pages.session import TargetSession
from sandbox.server import RunningSandbox
from tests.fixtures.flows import make_flow_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    yield context
    context.close()


def test_one_login_serves_the_whole_session(target_session: TargetSession) -> None:
    logins = target_session.logins

    target_session.ensure_logged_in()
    search = target_session.open_search()
    target_session.ensure_logged_in()

    assert isinstance(search, SearchPage)
    assert target_session.logins == logins


def test_wrong_password_is_refused_in_words(
    fresh_context: BrowserContext, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = make_flow_settings(sandbox.base_url, tmp_path, password=SecretStr("faux"))
    session = TargetSession(fresh_context, settings)

    with pytest.raises(CredentialsError) as raised:
        session.ensure_logged_in()

    assert raised.value.code == "credentials_refused"
    assert "ICOPE_BOT_PASSWORD" in raised.value.message
    assert "faux" not in str(raised.value)


def test_missing_password_says_where_to_put_it(
    fresh_context: BrowserContext, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = make_flow_settings(
        sandbox.base_url, tmp_path, password=None, keyring_service="icope-bot-test-absent"
    )
    session = TargetSession(fresh_context, settings)

    with pytest.raises(CredentialsError) as raised:
        session.ensure_logged_in()

    assert raised.value.code == "credentials_missing"
    assert "ICOPE_BOT_PASSWORD" in raised.value.message


def test_login_with_the_code_emailed_by_the_tool(
    fresh_context: BrowserContext,
    email_otp_sandbox: RunningSandbox,
    sandbox_bot_codes: ImapCodeSource,
    tmp_path: Path,
) -> None:
    settings = make_flow_settings(email_otp_sandbox.base_url, tmp_path, otp_source="imap")
    session = TargetSession(fresh_context, settings, otp=sandbox_bot_codes)

    session.ensure_logged_in()

    assert session.logins == 1
    assert session.last_login_used_code
    assert isinstance(session.open_search(), SearchPage)


def test_code_asked_without_a_code_source_is_a_configuration_error(
    fresh_context: BrowserContext, email_otp_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = make_flow_settings(email_otp_sandbox.base_url, tmp_path, otp_source="none")
    session = TargetSession(fresh_context, settings)

    with pytest.raises(OtpSetupError) as raised:
        session.ensure_logged_in()

    assert raised.value.code == "otp_config"
