"""Logging in to the sandbox: password, lock-out, CSRF, idle expiry, logout."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import DEMO_PASSWORD, LoginFn, submit_login

pytestmark = pytest.mark.browser


def test_good_password_opens_the_home_page_with_the_professional(
    page: Page, login: LoginFn
) -> None:
    login(page)
    expect(page.get_by_text("Dr Claire Martin").first).to_be_visible()
    menu = page.get_by_role("navigation", name="Menu principal")
    for link in ("Usagers", "Exports"):
        expect(menu.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()


def test_session_cookie_is_httponly_and_samesite(page: Page, login: LoginFn) -> None:
    login(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "EPARCOURS_SESSION")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"


def test_wrong_password_stays_on_login_with_a_message(page: Page, sandbox: RunningSandbox) -> None:
    submit_login(page, sandbox, "demo", "pas-le-bon")
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect")
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()


def test_fifth_failure_locks_the_account_even_for_the_right_password(
    page: Page, sandbox: RunningSandbox
) -> None:
    for _ in range(5):
        submit_login(page, sandbox, "demo", "pas-le-bon")
    expect(page.get_by_role("alert")).to_contain_text("Compte verrouillé")
    submit_login(page, sandbox, "demo", DEMO_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Compte verrouillé")
    sandbox.advance_clock(16 * 60)  # the lock lasts 15 minutes
    submit_login(page, sandbox, "demo", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Accueil", exact=True)).to_be_visible()


def test_a_success_resets_the_failure_count(page: Page, sandbox: RunningSandbox) -> None:
    for _ in range(4):
        submit_login(page, sandbox, "demo", "pas-le-bon")
    submit_login(page, sandbox, "demo", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Accueil", exact=True)).to_be_visible()
    page.context.clear_cookies()
    submit_login(page, sandbox, "demo", "pas-le-bon")
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect")


def test_form_posted_without_or_with_a_wrong_csrf_token_is_refused(
    sandbox: RunningSandbox,
) -> None:
    with httpx.Client(base_url=sandbox.base_url) as client:
        page = client.get("/connexion").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        credentials = {"username": "demo", "password": DEMO_PASSWORD}
        missing = client.post("/connexion", data=credentials)
        wrong = client.post("/connexion", data=credentials | {"csrf_token": "x" * 43})
        good = client.post("/connexion", data=credentials | {"csrf_token": token.group(1)})
    assert missing.status_code == wrong.status_code == 403
    assert "<h1>Requête refusée</h1>" in missing.text
    assert good.status_code == 303
    assert good.headers["location"] == "/accueil"


def test_pages_need_a_login_and_come_back_after_it(page: Page, sandbox: RunningSandbox) -> None:
    page.goto(f"{sandbox.base_url}/exports")
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    page.get_by_label("Identifiant", exact=True).fill("demo")
    page.get_by_label("Mot de passe", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()  # the form keeps ?suivant=/exports
    expect(page.get_by_role("heading", name="Exports", exact=True)).to_be_visible()


def test_idle_session_expires_to_login_with_a_message(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.advance_clock(21 * 60)
    logged_in_page.get_by_role("navigation", name="Menu principal").get_by_role(
        "link", name="Usagers"
    ).click()
    expect(logged_in_page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(logged_in_page.get_by_role("status")).to_have_text("Votre session a expiré")


def test_activity_keeps_the_session_alive(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    for _ in range(2):
        sandbox.advance_clock(15 * 60)
        logged_in_page.goto(f"{sandbox.base_url}/usagers")
        expect(logged_in_page.get_by_role("heading", name="Rechercher un usager")).to_be_visible()


def test_logout_ends_the_session(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    logged_in_page.get_by_role("button", name="Déconnexion").click()
    expect(logged_in_page.get_by_role("status")).to_have_text("Vous êtes déconnecté(e).")
    logged_in_page.goto(f"{sandbox.base_url}/usagers")
    expect(logged_in_page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
