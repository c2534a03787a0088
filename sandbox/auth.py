"""Who is logged in: password hashes, server-side sessions, CSRF tokens, login codes by e-mail."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from sandbox.config import Account
from sandbox.runtime import Runtime, runtime

__all__ = [
    "SESSION_COOKIE",
    "CsrfRefused",
    "LoginRequired",
    "hash_password",
    "load_session",
    "new_login_code",
    "read_form",
    "require_user",
    "send_login_code",
    "start_session",
]

SESSION_COOKIE = "EPARCOURS_SESSION"


class LoginRequired(Exception):
    """The request needs a logged-in professional and has none."""


class CsrfRefused(Exception):
    """A form was posted without this session's CSRF token."""


def hash_password(password: str, salt: bytes) -> bytes:
    """scrypt, with a cost that keeps a login near 50 ms."""
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def password_ok(rt: Runtime, username: str, password: str) -> bool:
    row = rt.store.account(username)
    if row is None:
        hash_password(password, b"no-such-account!")  # same cost: no timing hint of the username
        return False
    return hmac.compare_digest(hash_password(password, row["salt"]), row["pw_hash"])


def start_session(rt: Runtime, request: Request, **fields: Any) -> dict[str, Any]:
    """Replace the request's session by a fresh one (new id and CSRF token) holding ``fields``."""
    old = getattr(request.state, "session", None)
    if old:
        rt.store.delete_session(old["id"])
    session = rt.store.create_session(
        secrets.token_urlsafe(32), secrets.token_urlsafe(32), rt.clock.timestamp()
    )
    if fields:
        rt.store.update_session(session["id"], **fields)
        session.update(fields)
    request.state.session = session
    request.state.new_session = session["id"]
    return session


def load_session(rt: Runtime, request: Request, *, counted: bool) -> None:
    """Attach the session of the cookie to the request, expiring it when idle or worn out.

    An expired or unknown session is replaced by an anonymous one that carries the
    "Votre session a expiré" message for the login page.
    """
    request.state.new_session = None
    cookie = request.cookies.get(SESSION_COOKIE)
    session = rt.store.session(cookie) if cookie else None
    if cookie and session is None:
        start_session(rt, request, flash=rt.texts()["common"]["session_expired"])
        return
    if session is None:
        start_session(rt, request)
        return
    now = rt.clock.timestamp()
    logged = bool(session["username"] or session["pending_user"])
    idle = now - session["last_seen"] > rt.config.session_idle_minutes * 60
    limit = rt.faults.current.expire_session_after
    worn_out = counted and limit is not None and session["request_count"] >= limit
    if logged and (idle or worn_out):
        request.state.session = session
        start_session(rt, request, flash=rt.texts()["common"]["session_expired"])
        return
    if counted:
        rt.store.touch_session(session["id"], now)
        session["request_count"] += 1
    session["last_seen"] = now
    request.state.session = session


def require_user(request: Request) -> Account:
    """The logged-in professional; raises LoginRequired otherwise."""
    session = getattr(request.state, "session", None) or {}
    account = runtime(request).account(session.get("username"))
    if account is None:
        raise LoginRequired
    return account


async def read_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's; raises CsrfRefused otherwise."""
    form = await request.form()
    session = getattr(request.state, "session", None) or {}
    token = str(form.get("csrf_token") or "")
    # bytes: compare_digest refuses non-ASCII str, and a forged token may hold anything
    if not token or not hmac.compare_digest(token.encode(), session.get("csrf", "").encode()):
        raise CsrfRefused
    return form


def new_login_code(rt: Runtime, username: str) -> tuple[str, str]:
    """A fresh 6-digit code and its attempt id; earlier codes of this account stop working."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    attempt_id = secrets.token_hex(4).upper()
    rt.store.new_login_code(
        attempt_id, username, _code_hash(attempt_id, code), rt.clock.timestamp()
    )
    return attempt_id, code


def check_login_code(rt: Runtime, attempt_id: str, code: str) -> str:
    """``ok``, ``wrong``, ``too_many`` or ``expired``; a good code is used up."""
    row = rt.store.login_code(attempt_id)
    if row is None or row["used"] or row["superseded"]:
        return "expired"
    if rt.clock.timestamp() - row["created_at"] > rt.config.otp_validity_minutes * 60:
        return "expired"
    if hmac.compare_digest(_code_hash(attempt_id, code.strip()), row["code_hash"]):
        rt.store.update_login_code(attempt_id, used=1)
        return "ok"
    failures = row["failures"] + 1
    rt.store.update_login_code(attempt_id, failures=failures)
    return "too_many" if failures >= rt.config.otp_max_attempts else "wrong"


def _code_hash(attempt_id: str, code: str) -> str:
    return hashlib.sha256(f"{attempt_id}:{code}".encode()).hexdigest()


def send_login_code(rt: Runtime, account: Account, attempt_id: str, code: str) -> None:
    """E-mail the code to the account's address (raises OSError/SMTPException when it fails)."""
    minutes = rt.config.otp_validity_minutes
    msg = EmailMessage()
    msg["From"] = rt.config.mail_from
    msg["To"] = account.email
    msg["Subject"] = "Votre code de connexion e-parcours"
    msg["Date"] = format_datetime(rt.clock.now())
    msg["Message-ID"] = make_msgid(domain="sandbox.e-parcours.invalid")
    msg["X-Login-Attempt"] = attempt_id
    msg.set_content(
        f"Bonjour {account.display_name},\n\n"
        f"Votre code de connexion à e-parcours est : {code}\n\n"
        f"Ce code est valable {minutes} minutes et ne peut être utilisé qu'une seule fois.\n"
        f"Référence de la connexion : {attempt_id}\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, contactez votre administrateur.\n"
        "-- \ne-parcours (environnement bac à sable)\n"
    )
    with smtplib.SMTP(rt.config.smtp_host, rt.config.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)
