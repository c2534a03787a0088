"""The app factory: ``create_app(config)`` builds one sandbox e-parcours (Flask-tutorial style)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.auth import SESSION_COOKIE, CsrfRefused, LoginRequired, hash_password, load_session
from sandbox.config import SandboxConfig
from sandbox.db import Store
from sandbox.demo import load_demo_usagers
from sandbox.routes import auth, evaluations, exports, testing, usagers
from sandbox.runtime import FaultState, Runtime, render
from sandbox.seed import seed_year

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"

# Requests that faults and sessions leave alone: files, and the tests' own control routes.
_UNTOUCHED = ("/static/", "/__test__/", "/favicon.ico")
# The alerts fragment is part of a page, not a page: it gets latency but no 500/slow/modal.
_FRAGMENT_SUFFIX = "/alertes"


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """A ready sandbox app: storage opened, accounts hashed, routes and fault middleware in."""
    config = config or SandboxConfig()
    store = Store(config.db_path)
    for account in config.accounts:
        salt = secrets.token_bytes(16)
        store.put_account(
            account.username, salt, hash_password(account.password.get_secret_value(), salt)
        )
    rt = Runtime(config=config, store=store, faults=FaultState(config.faults))
    if config.demo_data:
        load_demo_usagers(store)
    if config.seed_year is not None and not store.counts()["step1"]:
        seed_year(store, config.seed_year, per_month=config.seed_per_month)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="e-parcours (bac à sable)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, usagers, evaluations, exports):
        app.include_router(module.router)
    if config.test_endpoints:
        app.include_router(testing.router)

    @app.middleware("http")
    async def faults_and_session(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(_UNTOUCHED):
            return await call_next(request)
        faults = rt.faults
        delay = faults.latency_seconds()
        is_page = not path.endswith(_FRAGMENT_SUFFIX)
        if is_page and faults.fires(faults.current.slow_rate):
            delay += faults.current.slow_seconds
        if delay:
            await asyncio.sleep(delay)  # injected latency is the point of this knob
        load_session(rt, request, counted=True)
        if is_page and faults.fires(faults.current.error_rate):
            response: Response = render(request, "errors/500.html", status=500)
        else:
            response = await call_next(request)
        if request.state.new_session:
            response.set_cookie(
                SESSION_COOKIE, request.state.new_session, httponly=True, samesite="lax", path="/"
            )
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.endswith(_FRAGMENT_SUFFIX):
            return Response(status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/connexion?suivant={quote(target)}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return render(request, "errors/403.html", status=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return render(request, "errors/404.html", status=404)
        return render(request, "errors/500.html", status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return render(request, "errors/404.html", status=404)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        return render(request, "errors/500.html", status=500)

    return app
