"""The sandbox's second factor: a one-time code by e-mail (real SMTP, aiosmtpd) or TOTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr

from sandbox.config import Account
from sandbox.server import RunningSandbox, serve_in_thread
from tests.fixtures.sandbox import (
    DEMO_PASSWORD,
    Inbox,
    free_port,
    sandbox_test_config,
    submit_login,
)

pytestmark = pytest.mark.browser

DEMO_EMAIL = "demo@sandbox.e-parcours.invalid"
TOTP_SECRET = pyotp.random_base32()


@pytest.fixture(scope="module")
def email_server(
    smtp_inbox: Inbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    db = tmp_path_factory.mktemp("otp") / "email.db"
    with serve_in_thread(
        sandbox_test_config(db, otp_mode="email", smtp_port=smtp_inbox.port)
    ) as server:
        yield server


@pytest.fixture
def email_sandbox(email_server: RunningSandbox, smtp_inbox: Inbox) -> RunningSandbox:
    email_server.reset()
    smtp_inbox.messages.clear()
    return email_server


@pytest.fixture
def inbox(smtp_inbox: Inbox) -> Inbox:
    """The session's SMTP inbox, emptied by ``email_sandbox``."""
    return smtp_inbox


def enter_password(page: Page, server: RunningSandbox) -> None:
    submit_login(page, server, "demo", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Vérification en deux étapes")).to_be_visible()


def enter_code(page: Page, code: str) -> None:
    page.get_by_label("Code de vérification", exact=True).fill(code)
    page.get_by_role("button", name="Valider le code").click()


def expect_home(page: Page) -> None:
    expect(page.get_by_role("heading", name="Accueil", exact=True)).to_be_visible()


def test_code_sent_by_email_logs_in(
    page: Page, email_sandbox: RunningSandbox, inbox: Inbox
) -> None:
    enter_password(page, email_sandbox)
    [mail] = inbox.messages
    assert mail["To"] == DEMO_EMAIL
    assert mail["Subject"] == "Votre code de connexion e-parcours"
    assert parsedate_to_datetime(mail["Date"]).tzinfo is not None
    expect(page.get_by_text("Référence de la connexion")).to_contain_text(mail["X-Login-Attempt"])
    enter_code(page, inbox.code())
    expect_home(page)


def test_a_code_works_only_once(page: Page, email_sandbox: RunningSandbox, inbox: Inbox) -> None:
    enter_password(page, email_sandbox)
    first = inbox.code()
    enter_code(page, first)
    expect_home(page)
    page.get_by_role("button", name="Déconnexion").click()
    enter_password(page, email_sandbox)
    if inbox.code() != first:  # one chance in a million that the new code is the same
        enter_code(page, first)
        expect(page.get_by_role("alert")).to_contain_text("Code incorrect")


def test_a_new_login_invalidates_the_earlier_code(
    page: Page, email_sandbox: RunningSandbox, inbox: Inbox
) -> None:
    enter_password(page, email_sandbox)
    old = inbox.code()
    page.context.clear_cookies()
    enter_password(page, email_sandbox)
    new = inbox.code()
    assert inbox.messages[0]["X-Login-Attempt"] != inbox.messages[1]["X-Login-Attempt"]
    if new != old:
        enter_code(page, old)
        expect(page.get_by_role("alert")).to_contain_text("Code incorrect")
    enter_code(page, new)
    expect_home(page)


def test_expired_code_sends_back_to_login_with_a_message(
    page: Page, email_sandbox: RunningSandbox, inbox: Inbox
) -> None:
    enter_password(page, email_sandbox)
    email_sandbox.advance_clock(11 * 60)
    enter_code(page, inbox.code())
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Ce code a expiré")


def test_three_wrong_codes_go_back_to_the_password_step(
    page: Page, email_sandbox: RunningSandbox, inbox: Inbox
) -> None:
    enter_password(page, email_sandbox)
    wrong = f"{(int(inbox.code()) + 1) % 1_000_000:06d}"
    for _ in range(2):
        enter_code(page, wrong)
        expect(page.get_by_role("alert")).to_contain_text("Code incorrect")
    enter_code(page, wrong)
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Trop de codes incorrects")


def test_failed_mail_sending_shows_an_error_page(page: Page, tmp_path: Path) -> None:
    config = sandbox_test_config(tmp_path / "s.db", otp_mode="email", smtp_port=free_port())
    with serve_in_thread(config) as server:
        submit_login(page, server, "demo", DEMO_PASSWORD)
        expect(
            page.get_by_role("heading", name="Le code de connexion n'a pas pu être envoyé")
        ).to_be_visible()


@pytest.fixture(scope="module")
def totp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    account = Account(
        username="demo",
        password=SecretStr(DEMO_PASSWORD),
        email=DEMO_EMAIL,
        display_name="Dr Claire Martin",
        totp_secret=SecretStr(TOTP_SECRET),
    )
    db = tmp_path_factory.mktemp("otp") / "totp.db"
    with serve_in_thread(sandbox_test_config(db, otp_mode="totp", accounts=[account])) as server:
        yield server


def test_totp_code_logs_in(page: Page, totp_server: RunningSandbox) -> None:
    totp_server.reset()
    enter_password(page, totp_server)
    expect(page.get_by_text("application d'authentification")).to_be_visible()
    enter_code(page, pyotp.TOTP(TOTP_SECRET).now())
    expect_home(page)


def test_wrong_totp_code_is_refused(page: Page, totp_server: RunningSandbox) -> None:
    totp_server.reset()
    enter_password(page, totp_server)
    totp = pyotp.TOTP(TOTP_SECRET)
    now = datetime.now(UTC)
    valid = {totp.at(now + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    enter_code(page, wrong)
    expect(page.get_by_role("alert")).to_contain_text("Code incorrect")
