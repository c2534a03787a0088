"""The sandbox e-parcours protects what it holds like the real tool must: no session, no page;
no CSRF token, no change. The routes are enumerated from the app itself, so a screen added later
is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIRouter

from sandbox.app import create_app
from sandbox.config import SandboxConfig
from sandbox.server import RunningSandbox
from tests.fixtures.eparcours_http import EParcoursClient, step1_form, usager_form
from tests.fixtures.sandbox import BOT_PASSWORD, BOT_USER, add_usager

#: What a visitor may reach without a session: the login screens (and the root redirect).
PUBLIC_PAGES = {("GET", "/"), ("GET", "/connexion"), ("GET", "/connexion/code")}
#: Forms that need no logged-in session but still need the CSRF token of the visitor's session.
PUBLIC_FORMS = {("POST", "/connexion"), ("POST", "/connexion/code"), ("POST", "/deconnexion")}


def app_routes(app: object) -> list[tuple[str, str]]:
    """(method, path) of every route of the app but the tests' control routes."""
    return sorted(
        (method, path)
        for path, methods in _walk(app.router.routes)  # type: ignore[attr-defined]
        if not path.startswith("/__test__")
        for method in methods
        if method != "HEAD"
    )


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.165 keeps included routers whole
            sub = prefix + route.include_context.prefix
            yield from _walk(route.original_router.routes, sub)
        elif isinstance(getattr(route, "app", None), APIRouter):
            yield from _walk(route.app.routes, prefix + route.path)


@pytest.fixture
def dossier(sandbox: RunningSandbox) -> dict[str, int]:
    """A usager with one STEP 1: real ids for the routes' parameters."""
    usager_id = add_usager(sandbox, birth_name="CONFIDENTIEL")
    with EParcoursClient(sandbox.base_url) as client:
        client.log_in(BOT_USER, BOT_PASSWORD)
        evaluation_id = client.save_step1(usager_id, step1_form())
    return {"usager_id": usager_id, "evaluation_id": evaluation_id}


def _concrete(path: str, ids: dict[str, int]) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: str(ids[m.group(1)]) if m.group(1) in ids else "step1", path
    )


@pytest.fixture
def visitor(sandbox: RunningSandbox) -> Iterator[EParcoursClient]:
    with EParcoursClient(sandbox.base_url) as client:
        yield client


def test_every_page_sends_a_visitor_without_session_to_the_login_page(
    sandbox: RunningSandbox, dossier: dict[str, int], visitor: EParcoursClient
) -> None:
    pages = [
        (m, p) for m, p in app_routes(sandbox.app) if m == "GET" and (m, p) not in PUBLIC_PAGES
    ]
    assert ("GET", "/usagers/{usager_id}") in pages  # the enumeration sees the screens

    for _, path in pages:
        url = _concrete(path, dossier)
        answer = visitor.get(url)
        if path.endswith("/alertes"):  # a fragment the page loads: refused, not redirected
            assert answer.status_code == 401, url
        else:
            assert answer.status_code == 303, url
            assert answer.headers["location"].startswith("/connexion?suivant="), url
        assert "CONFIDENTIEL" not in answer.text, url


def test_every_form_refuses_a_visitor_without_session_and_changes_nothing(
    sandbox: RunningSandbox, dossier: dict[str, int], visitor: EParcoursClient
) -> None:
    before = sandbox.counts()
    forms = [(m, p) for m, p in app_routes(sandbox.app) if m == "POST"]
    assert ("POST", "/usagers/nouveau") in forms

    for _, path in forms:
        url = _concrete(path, dossier)
        data = usager_form(7) if "usagers/nouveau" in path else step1_form()
        answer = visitor.post(url, data)
        # no session: the login page, or the CSRF refusal (the visitor has no token)
        assert answer.status_code in (303, 403), url
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/connexion"), url
    assert sandbox.counts() == before


@pytest.mark.parametrize("token", [None, "", "forged-token-0123456789", "é"])
def test_every_form_refuses_a_missing_or_forged_csrf_token_with_403(
    sandbox: RunningSandbox, dossier: dict[str, int], token: str | None
) -> None:
    with EParcoursClient(sandbox.base_url) as client:
        client.log_in(BOT_USER, BOT_PASSWORD)
        before = sandbox.counts()
        for _, path in [(m, p) for m, p in app_routes(sandbox.app) if m == "POST"]:
            data = usager_form(8) if "usagers/nouveau" in path else step1_form()
            if path == "/connexion":
                data = {"username": BOT_USER, "password": BOT_PASSWORD}
            if token is not None:
                data["csrf_token"] = token
            answer = client.post(_concrete(path, dossier), data)
            assert answer.status_code == 403, (path, answer.status_code)
        assert sandbox.counts() == before
        # still logged in: not even the logout form worked without the token
        assert client.get("/accueil").status_code == 200


def test_forms_work_with_the_session_token(sandbox: RunningSandbox) -> None:
    """The refusals above are the token's doing: with it, the same forms go through."""
    with EParcoursClient(sandbox.base_url) as client:
        client.log_in(BOT_USER, BOT_PASSWORD)
        usager_id = client.create_usager(usager_form(9))
        client.save_step1(usager_id, step1_form())
    assert sandbox.counts()["step1"] == 1


def test_the_session_cookie_is_http_only_and_same_site(sandbox: RunningSandbox) -> None:
    with EParcoursClient(sandbox.base_url) as client:
        answer = client.get("/connexion")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_login_never_redirects_to_another_site(sandbox: RunningSandbox) -> None:
    with EParcoursClient(sandbox.base_url) as client:
        page = client.get("/connexion")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/connexion",
            {
                "username": BOT_USER,
                "password": BOT_PASSWORD,
                "csrf_token": token,
                "suivant": "//example.org/piege",
            },
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/accueil"


def test_the_test_control_routes_exist_only_when_asked_for(tmp_path: Path) -> None:
    app = create_app(SandboxConfig(db_path=tmp_path / "e.db", demo_data=False, otp_mode="none"))
    paths = [path for path, _ in _walk(app.router.routes)]
    assert "/usagers" in paths
    assert not [p for p in paths if p.startswith("/__test__")]
