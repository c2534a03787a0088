"""Login (password, then the second factor), logout and the home page."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import datetime

import pyotp
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sandbox.auth import (
    check_login_code,
    new_login_code,
    password_ok,
    read_form,
    require_user,
    send_login_code,
    start_session,
)
from sandbox.runtime import render, runtime

router = APIRouter()


def _next_path(value: object) -> str:
    """Where to go after login: a local path only (never another site)."""
    text = str(value or "")
    if text.startswith("/") and not text.startswith("//") and not text.startswith("/connexion"):
        return text
    return "/accueil"


@router.get("/")
async def root(request: Request) -> Response:
    return RedirectResponse("/accueil", status_code=303)


@router.get("/connexion")
async def login_page(request: Request, suivant: str = "") -> Response:
    if request.state.session.get("username"):
        return RedirectResponse(_next_path(suivant), status_code=303)
    return render(request, "auth/login.html", {"suivant": suivant, "username": ""})


@router.post("/connexion")
async def login(request: Request) -> Response:
    rt = runtime(request)
    form = await read_form(request)
    t = rt.texts()["login"]
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    suivant = str(form.get("suivant") or "")
    page = {"suivant": suivant, "username": username}
    row = rt.store.account(username)
    now = rt.clock.timestamp()
    locked_message = (
        f"{t['locked']} après {rt.config.lockout_after} tentatives infructueuses. "
        f"Réessayez dans {rt.config.lockout_minutes} minutes ou contactez votre administrateur."
    )
    if row and row["locked_until"] and row["locked_until"] > now:
        return render(request, "auth/login.html", {**page, "error": locked_message}, status=403)
    if not password_ok(rt, username, password):
        if row:
            failures = row["failures"] + 1
            locked = failures >= rt.config.lockout_after
            until = now + rt.config.lockout_minutes * 60 if locked else None
            rt.store.set_failures(username, 0 if locked else failures, until)
            if locked:
                return render(request, "auth/login.html", {**page, "error": locked_message}, 403)
        return render(request, "auth/login.html", {**page, "error": t["bad_credentials"]}, 401)
    rt.store.set_failures(username, 0, None)
    account = rt.account(username)
    assert account is not None  # password_ok found its row: accounts come from the config
    mode = rt.config.otp_mode
    if mode == "none":
        start_session(rt, request, username=username)
        return RedirectResponse(_next_path(suivant), status_code=303)
    if mode == "totp" and account.totp_secret is None:
        error = "Aucune application d'authentification n'est associée à ce compte."
        return render(request, "auth/login.html", {**page, "error": error}, status=403)
    attempt_id = None
    if mode == "email":
        attempt_id, code = new_login_code(rt, username)
        try:
            await asyncio.to_thread(send_login_code, rt, account, attempt_id, code)
        except (OSError, smtplib.SMTPException):
            return render(request, "auth/otp_send_failed.html", status=503)
    start_session(rt, request, pending_user=username, attempt_id=attempt_id)
    return RedirectResponse(f"/connexion/code?suivant={_next_path(suivant)}", status_code=303)


def _otp_context(request: Request, suivant: str) -> dict[str, object]:
    rt = runtime(request)
    session = request.state.session
    account = rt.account(session.get("pending_user"))
    email = account.email if account else ""
    local, _, domain = email.partition("@")
    return {
        "suivant": suivant,
        "mode": rt.config.otp_mode,
        "attempt_id": session.get("attempt_id"),
        "masked_email": f"{local[:2]}***@{domain}",
        "validity": rt.config.otp_validity_minutes,
    }


@router.get("/connexion/code")
async def otp_page(request: Request, suivant: str = "") -> Response:
    if not request.state.session.get("pending_user"):
        return RedirectResponse("/connexion", status_code=303)
    return render(request, "auth/otp.html", _otp_context(request, suivant))


@router.post("/connexion/code")
async def otp_check(request: Request) -> Response:
    rt = runtime(request)
    form = await read_form(request)
    session = request.state.session
    username = session.get("pending_user")
    if not username:
        return RedirectResponse("/connexion", status_code=303)
    t = rt.texts()["otp"]
    code = "".join(str(form.get("code") or "").split())
    suivant = str(form.get("suivant") or "")
    if rt.config.otp_mode == "email":
        outcome = check_login_code(rt, session.get("attempt_id") or "", code)
    else:
        account = rt.account(username)
        secret = account.totp_secret.get_secret_value() if account and account.totp_secret else ""
        now: datetime = rt.clock.now()
        if secret and pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1):
            outcome = "ok"
        else:
            failures = session["otp_failures"] + 1
            rt.store.update_session(session["id"], otp_failures=failures)
            outcome = "too_many" if failures >= rt.config.otp_max_attempts else "wrong"
    if outcome == "ok":
        start_session(rt, request, username=username)
        return RedirectResponse(_next_path(suivant), status_code=303)
    if outcome == "too_many":
        start_session(
            rt, request, flash=f"{t['too_many']}. Veuillez saisir à nouveau votre mot de passe."
        )
        return RedirectResponse("/connexion", status_code=303)
    if outcome == "expired":
        start_session(
            rt,
            request,
            flash=f"{t['expired']}. Veuillez vous reconnecter pour recevoir un nouveau code.",
        )
        return RedirectResponse("/connexion", status_code=303)
    context = {
        **_otp_context(request, suivant),
        "error": f"{t['wrong_code']}. Vérifiez le code reçu et réessayez.",
    }
    return render(request, "auth/otp.html", context, status=401)


@router.post("/deconnexion")
async def logout(request: Request) -> Response:
    rt = runtime(request)
    await read_form(request)
    start_session(rt, request, flash="Vous êtes déconnecté(e).")
    return RedirectResponse("/connexion", status_code=303)


@router.get("/accueil")
async def home(request: Request) -> Response:
    user = require_user(request)
    counts = runtime(request).store.counts()
    return render(request, "home.html", {"counts": counts, "user": user})
