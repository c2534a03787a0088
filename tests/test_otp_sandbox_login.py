"""End to end: the sandbox e-mails a login code over SMTP, the bot reads it over IMAP, Chromium logs in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from bot.otp import ImapCodeSource
from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import BOT_PASSWORD, BOT_USER, target_texts

pytestmark = pytest.mark.browser


def log_in_with_emailed_code(page: Page, sandbox: RunningSandbox, codes: ImapCodeSource) -> None:
    """Password, then the code from the mailbox, as the bot's login page object will do."""
    texts = target_texts()
    login_started = datetime.now(UTC)
    page.goto(f"{sandbox.base_url}/connexion")
    page.get_by_label(texts["login"]["labels"]["username"], exact=True).fill(BOT_USER)
    page.get_by_label(texts["login"]["labels"]["password"], exact=True).fill(BOT_PASSWORD)
    page.get_by_role("button", name=texts["login"]["buttons"]["submit"], exact=True).click()
    expect(page.get_by_role("heading", name=texts["otp"]["heading"], exact=True)).to_be_visible()

    code = codes.code_for(login_started)

    page.get_by_label(texts["otp"]["labels"]["code"], exact=True).fill(code)
    page.get_by_role("button", name=texts["otp"]["buttons"]["submit"], exact=True).click()


def test_bot_logs_in_with_the_code_emailed_by_the_sandbox(
    page: Page, email_otp_sandbox: RunningSandbox, sandbox_bot_codes: ImapCodeSource
) -> None:
    log_in_with_emailed_code(page, email_otp_sandbox, sandbox_bot_codes)

    expect(
        page.get_by_role("heading", name=target_texts()["home"]["heading"], exact=True)
    ).to_be_visible()


def test_next_login_uses_the_fresh_code_not_the_used_one(
    page: Page, email_otp_sandbox: RunningSandbox, sandbox_bot_codes: ImapCodeSource
) -> None:
    log_in_with_emailed_code(page, email_otp_sandbox, sandbox_bot_codes)
    page.context.clear_cookies()

    # The sandbox refuses a used code: reaching the home page again proves the new one was read.
    log_in_with_emailed_code(page, email_otp_sandbox, sandbox_bot_codes)

    expect(
        page.get_by_role("heading", name=target_texts()["home"]["heading"], exact=True)
    ).to_be_visible()
