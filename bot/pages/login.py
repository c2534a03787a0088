"""The login screens: password, then the one-time code (second factor)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import Locator

from bot.errors import CredentialsError, OtpSetupError, SystemException
from bot.pages.screen import Screen

if TYPE_CHECKING:
    from bot.pages.session import TargetSession

__all__ = ["LoginPage", "OtpPage"]


def _not_titled(session: TargetSession, *titles: str) -> Locator:
    """Any page heading other than these: the browser has moved on to another screen."""
    pattern = re.compile("^(?:" + "|".join(re.escape(t) for t in titles) + ")$")
    return session.page.get_by_role("heading", level=1).filter(has_not_text=pattern)


class LoginPage(Screen):
    """Connexion: identifiant + mot de passe."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.login
        self.heading_text = self.t.heading
        super().__init__(session)
        self.username = self.label(self.t.labels["username"])
        self.password = self.label(self.t.labels["password"])
        self.submit_button = self.button(self.t.buttons["submit"])
        self.bad_credentials = self.page.get_by_text(self.t.texts["bad_credentials"])
        self.locked = self.page.get_by_text(self.t.texts["locked"])

    def log_in(self, username: str, password: str) -> None:
        """Log in on a target without second factor; returns on the first logged-in screen."""
        if self._submit(username, password):
            raise OtpSetupError(
                "L'e-parcours demande un code de connexion : choisissez une source de code "
                "(ICOPE_BOT_OTP_SOURCE = imap, prompt ou totp)."
            )

    def log_in_expecting_code(self, username: str, password: str) -> OtpPage:
        """Log in with password; the tool then asks for the one-time code."""
        if not self._submit(username, password):
            raise OtpSetupError(
                "L'e-parcours n'a pas demandé de code de connexion alors qu'une source de code "
                "est configurée (ICOPE_BOT_OTP_SOURCE) : vérifiez la configuration."
            )
        return self.session.expect(OtpPage)

    def _submit(self, username: str, password: str) -> bool:
        """Fill and send the form; True when the code screen follows."""
        m = self.texts
        for locator, text in (
            (self.username, self.t.labels["username"]),
            (self.password, self.t.labels["password"]),
            (self.submit_button, self.t.buttons["submit"]),
        ):
            self.required(locator, text)
        otp_heading = self.session.otp_heading
        refused = self.bad_credentials.or_(self.locked)
        send_failed = (
            self.page.get_by_role("heading", name=m.otp_send_failed.heading, exact=True)
            if m.otp_send_failed
            else otp_heading
        )
        moved_on = _not_titled(self.session, self.t.heading)
        with self.acting("connexion"):
            self.username.fill(username)
            self.password.fill(password)
            self.submit_button.click()
            refused.or_(moved_on).first.wait_for()
        # An authentication refusal is a configuration error: trying again item after item
        # only spends the tool's failed-login allowance and locks the robot's account (two runs
        # did, for 15 minutes). The runner halts at once on it and gives the item back.
        if self.locked.first.is_visible():
            raise CredentialsError(
                "Le compte e-parcours du robot est verrouillé après trop d'essais : le traitement "
                "est arrêté. Attendez la fin du verrouillage ou contactez l'administrateur de "
                "l'outil, puis relancez.",
                code="account_locked",
            )
        if self.bad_credentials.first.is_visible():
            raise CredentialsError(
                "L'e-parcours refuse l'identifiant ou le mot de passe du robot : le traitement "
                "est arrêté sans nouvel essai, pour ne pas verrouiller le compte. Corrigez "
                "ICOPE_BOT_USERNAME / ICOPE_BOT_PASSWORD (ou le trousseau), puis relancez.",
                code="credentials_refused",
            )
        if m.otp_send_failed and send_failed.is_visible():
            raise SystemException(
                "L'e-parcours n'a pas pu envoyer le code de connexion par e-mail.",
                code="otp_unavailable",
            )
        if self.session.error_heading.is_visible():
            raise self.session.diagnose("connexion")
        return otp_heading.is_visible()


class OtpPage(Screen):
    """Vérification en deux étapes: the one-time code."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.otp
        self.heading_text = self.t.heading
        super().__init__(session)
        self.code = self.label(self.t.labels["code"])
        self.submit_button = self.button(self.t.buttons["submit"])
        self.wrong_code = self.page.get_by_text(self.t.texts["wrong_code"])

    def enter_code(self, code: str) -> None:
        """Send the code; returns on the first logged-in screen."""
        self.required(self.code, self.t.labels["code"])
        self.required(self.submit_button, self.t.buttons["submit"])
        moved_on = _not_titled(self.session, self.t.heading)
        with self.acting("saisie du code de connexion"):
            self.code.fill(code)
            self.submit_button.click()
            self.wrong_code.or_(moved_on).first.wait_for()
        if self.wrong_code.first.is_visible() or self.session.login_heading.is_visible():
            # Back on the password page: too many wrong codes, or the code expired.
            raise SystemException(
                "L'e-parcours a refusé le code de connexion (code erroné, expiré ou déjà utilisé).",
                code="otp_rejected",
            )
        if self.session.error_heading.is_visible():
            raise self.session.diagnose("saisie du code de connexion")
