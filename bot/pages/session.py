"""One logged-in session on the target, in one browser context.

The session owns what is common to every screen: logging in (password, then the one-time code
from :mod:`bot.otp`), the information message that may cover any page (closed centrally by a
Playwright locator handler), the main menu, and telling what a screen shows when it is not the
one expected (login page → :class:`SessionExpired`, the tool's error page → ``server_error``).

The browser context keeps the session cookies: one login serves every item of a worker until
the tool ends the session; the flow then calls :meth:`TargetSession.log_in_again`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from playwright.sync_api import BrowserContext, Dialog, Locator
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import SystemException
from bot.locks import FileLocks, LockProvider, LockTimeout, QueueLock, lock_folder
from bot.logs import logger
from bot.pages.aria import AriaNode, parse_snapshot
from bot.pages.mapping import TargetMapping, load_mapping
from bot.pages.screen import Screen, SessionExpired, clean

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.otp import OtpSource
    from bot.pages.home import HomePage
    from bot.pages.search import SearchPage

__all__ = ["TargetSession"]

S = TypeVar("S", bound=Screen)

#: Information messages closed in a row while waiting for one screen before giving up.
_MODALS_IN_A_ROW = 3


class TargetSession:
    """The bot's session on the e-parcours tool: one context, one page, logged in on demand."""

    def __init__(
        self,
        context: BrowserContext,
        settings: Settings,
        *,
        mapping: TargetMapping | None = None,
        otp: OtpSource | None = None,
        untraced: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
        locks: LockProvider | None = None,
    ) -> None:
        self.context = context
        self.settings = settings
        #: Where "one login per account at a time" is held: the run passes its queue, so the
        #: lock spans every machine sharing a PostgreSQL queue; file locks otherwise.
        self.locks = locks or FileLocks(lock_folder(settings.queue_path))
        self.mapping = mapping or load_mapping(settings.mapping)
        #: None until the first login: then the source ``otp`` or the settings choose.
        self._otp = otp
        self._otp_chosen = otp is not None
        #: Page object classes to use instead of the standard ones (tests sabotage one); each
        #: value subclasses its key.
        self.screen_types: dict[type[Screen], type[Screen]] = {}
        #: Wraps every login; a runner that traces pauses the trace with it (no password in it).
        self.untraced = untraced
        #: Where the main menu's "usagers" link led (learnt on its first use).
        self._search_url: str | None = None
        #: Logins done by this session (the first one included).
        self.logins = 0
        #: Whether the last login went through the one-time code screen.
        self.last_login_used_code = False
        context.set_default_timeout(settings.timeout_ms)
        context.set_default_navigation_timeout(settings.timeout_ms)
        self.page = context.pages[0] if context.pages else context.new_page()
        m = self.mapping
        self.info_modal = self.page.get_by_role("dialog", name=m.info_modal.dialog, exact=True)
        close = m.info_modal.buttons["close"]
        # The tool may put an information message over any page: Playwright closes it before
        # any action or wait that it would block.
        self.page.add_locator_handler(
            self.info_modal,
            lambda dialog: dialog.get_by_role("button", name=close, exact=True).click(),
        )
        #: Browser dialogs (alert/confirm/prompt) refused: their texts, latest last.
        self.refused_dialogs: list[str] = []
        # Never accept a dialog the mapping does not declare (Playwright's default dismisses
        # them silently, and the bot would wait out its timeout): refuse it and say so.
        self.page.on("dialog", self._on_dialog)
        self.login_heading = self._heading(m.login.heading)
        self.otp_heading = self._heading(m.otp.heading)
        self.home_heading = self._heading(m.home.heading)
        self.error_heading = self._heading(m.errors.server)
        self.navigation = self.page.get_by_role("navigation", name=m.common.navigation, exact=True)

    def _on_dialog(self, dialog: Dialog) -> None:
        """Accept only the confirmation the mapping declares (step1.confirmation.text)."""
        expected = clean(self.mapping.step1.confirmation.get("text", ""))
        message = clean(dialog.message)
        try:
            if expected and dialog.type == "confirm" and message == expected:
                dialog.accept()
                return
            self.refused_dialogs.append(message)
            logger.warning("Fenêtre du navigateur refusée ({}) : non prévue", dialog.type)
            dialog.dismiss()
        except PlaywrightError:
            pass  # the page went away with its dialog: nothing left to answer

    def _heading(self, text: str) -> Locator:
        return self.page.get_by_role("heading", name=text, exact=True)

    # --- page objects ----------------------------------------------------------------------------

    def screen(self, cls: type[S]) -> S:
        """The page object of a screen (not waited for)."""
        chosen = self.screen_types.get(cls, cls)
        if not issubclass(chosen, cls):  # the dict cannot say so: each value replaces its key
            raise TypeError(f"{chosen.__name__} must subclass {cls.__name__}")
        return chosen(self)

    def expect(self, cls: type[S]) -> S:
        """The page object of the screen the browser is on, once it has loaded."""
        return self.screen(cls).wait_loaded()

    def goto(self, url: str, cls: type[S]) -> S:
        """Open an address the tool gave earlier (a dossier, an evaluation) and wait for it."""
        self._go(url)  # waits for the page's load event
        return self.screen(cls).read_loaded()

    def _go(self, url: str) -> None:
        try:
            self.page.goto(url)
        except PlaywrightTimeoutError as e:
            raise self.diagnose("ouverture d'une page") from e
        except PlaywrightError as e:
            raise SystemException(
                "Le navigateur n'a pas pu ouvrir une page de l'e-parcours.", code="navigation"
            ) from e

    # --- login -------------------------------------------------------------------------------------

    def ensure_logged_in(self) -> None:
        """Be on a logged-in screen of the tool: open its address, log in when it asks."""
        try:
            self.page.goto(self.settings.base_url)
            self.home_heading.or_(self.login_heading).or_(self.navigation).first.wait_for()
        except PlaywrightTimeoutError as e:
            raise self.diagnose("ouverture de l'e-parcours") from e
        except PlaywrightError as e:
            raise SystemException(
                f"L'e-parcours ne répond pas à l'adresse {self.settings.base_url}.",
                code="navigation",
            ) from e
        if self.login_heading.is_visible():
            self.log_in()

    def log_in_again(self) -> None:
        """After the tool ended the session: log in again (from its login page when shown)."""
        logger.info("Session e-parcours terminée : nouvelle connexion")
        if self.login_heading.is_visible():
            self.log_in()
        else:
            self.ensure_logged_in()

    def home(self) -> HomePage:
        """The home page, logged in."""
        from bot.pages.home import HomePage

        self.ensure_logged_in()
        if not self.home_heading.is_visible():
            self.page.goto(self.settings.base_url)
        return self.expect(HomePage)

    def open_search(self) -> SearchPage:
        """The usager search screen (logging in first when needed).

        The first time through the main menu; then straight at the address its link led to:
        each item starts there, from a blank page (the runner empties it between items), and
        going through the menu would load the home page first.
        """
        from bot.pages.search import SearchPage

        search = self.screen(SearchPage)
        if self._search_url is not None:
            self._go(self._search_url)  # waits for the page's load event: read it at once
            shown = search.state()
            if search.shown_in(shown):
                return search
            if shown.has("heading", self.mapping.login.heading):
                self.log_in()  # the session ended between two items: as through the menu
                return self.goto(self._search_url, SearchPage)
            if shown.has("heading", self.mapping.errors.server):
                raise self.diagnose("ouverture de la recherche d'usager", search.heading_text)
            self._search_url = None  # the address leads elsewhere now: through the menu
            search.changed()
        links = self.mapping.common.links
        menu_link = self.navigation.get_by_role("link", name=links["usagers"], exact=True)
        if menu_link.count() == 0:  # not on a logged-in screen (or the menu changed)
            self.ensure_logged_in()
            search.required(menu_link, links["usagers"], "le lien du menu")
        with search.acting("ouverture de la recherche d'usager"):
            menu_link.first.click()
        search.wait_loaded()
        self._search_url = search.url
        return search

    def log_in(self) -> None:
        """Log in from the login page shown (password, then the one-time code when asked)."""
        from bot.pages.login import LoginPage

        login = self.expect(LoginPage)
        otp = self._otp_source()
        # One login at a time per account, across workers and processes: a new login makes the
        # tool invalidate the code it e-mailed for the previous one, and both codes would land
        # in the same mailbox.
        try:
            with self._login_lock(), self.untraced():
                started = datetime.now(UTC)
                if otp is None:
                    login.log_in(self.settings.username, self._password())
                else:
                    code_page = login.log_in_expecting_code(
                        self.settings.username, self._password()
                    )
                    code_page.enter_code(otp.code_for(started))
        except LockTimeout as e:
            raise SystemException(
                "Un autre robot se connecte au même compte e-parcours depuis trop longtemps : "
                "nouvel essai plus tard.",
                code="login_busy",
            ) from e
        self.logins += 1
        self.last_login_used_code = otp is not None
        logger.info("Connecté à l'e-parcours (connexion n° {})", self.logins)

    def _login_lock(self) -> QueueLock:
        timeout = self.settings.otp_timeout_seconds + self.settings.timeout_ms / 1000 * 4
        return self.locks.lock(
            "login", self.settings.base_url, self.settings.username, timeout=timeout
        )

    def _otp_source(self) -> OtpSource | None:
        if not self._otp_chosen:
            from bot.otp import otp_source_from_settings

            self._otp = otp_source_from_settings(self.settings)
            self._otp_chosen = True
        return self._otp

    def _password(self) -> str:
        return self.settings.robot_password().get_secret_value()

    # --- what the screen shows -----------------------------------------------------------------

    def wait_for_screen(self, heading: Locator, name: str) -> AriaNode:
        """Wait for a screen's heading; raise what shows instead (login, error page…). Returns
        the whole screen as read (ARIA)."""
        what = f"attente de l'écran « {name} »"
        shown = self.first_shown(
            heading,
            what,
            expected=name,
            failed=f"Le navigateur a échoué en attendant l'écran « {name} ».",
        )
        if not shown.has("heading", name):
            raise self.diagnose(what, expected=name)
        return shown

    def wait_for(self, locator: Locator, what: str) -> AriaNode:
        """Wait for an element of the current screen; raise what shows instead (login page,
        error page) without waiting for the timeout. Returns the whole screen as read (ARIA)."""
        shown = self.first_shown(locator, what, failed=f"Le navigateur a échoué pendant : {what}.")
        m = self.mapping
        if shown.has("heading", m.login.heading) or shown.has("heading", m.errors.server):
            raise self.diagnose(what)
        return shown

    def first_shown(
        self, locator: Locator, what: str, *, failed: str, expected: str | None = None
    ) -> AriaNode:
        """Wait until ``locator`` shows, or the login page, or the tool's error page, and read
        the whole screen then: its ARIA snapshot, under a ``document`` root (the caller tells
        them apart, and its page object keeps it as its read of the screen).

        One browser round trip for the wait, the answer and the screen's read, where a wait,
        a visibility check and a read cost three, on every screen of every item. The page has
        been parsed to its end first (DOMContentLoaded: the client already knows it, no round
        trip), so no row of a table below the awaited element is missed. The information
        message, which makes the page under it inert, is closed and the wait goes on.
        """
        anything = locator.or_(self.login_heading).or_(self.error_heading).or_(self.info_modal)
        screen = self.page.locator("body").filter(has=anything)
        for _ in range(_MODALS_IN_A_ROW):
            try:
                self.page.wait_for_load_state("domcontentloaded")
                shown = parse_snapshot(screen.aria_snapshot())
            except PlaywrightTimeoutError as e:
                raise self.diagnose(what, expected=expected) from e
            except PlaywrightError as e:
                raise SystemException(failed, code="navigation") from e
            if not shown.has("dialog", self.mapping.info_modal.dialog):
                return shown
            self.clear_info_modal()
        raise self.diagnose(what, expected=expected)

    def diagnose(self, what: str, expected: str | None = None) -> SystemException:
        """The error that explains why ``what`` did not happen, from what the screen shows."""
        try:
            if self.login_heading.is_visible():
                return SessionExpired(
                    "La session e-parcours a pris fin (retour à la page de connexion) pendant : "
                    f"{what}."
                )
            if self.error_heading.is_visible():
                return SystemException(
                    f"L'e-parcours a répondu par une erreur interne pendant : {what}.",
                    code="server_error",
                )
            shown = [clean(h) for h in self.page.get_by_role("heading", level=1).all_inner_texts()]
        except PlaywrightError:
            shown = []
        if expected is not None and shown:
            known = {s.get("heading") for s in self.mapping.screens().values()}
            if shown[0] in known:
                return SystemException(
                    f"L'écran « {expected} » attendu n'est pas apparu : l'e-parcours affiche "
                    f"l'écran « {shown[0]} ».",
                    code="navigation",
                )
            # An unknown title is not quoted: on a real tool it may carry a usager's name.
            return SystemException(
                f"L'écran « {expected} » attendu n'est pas apparu : l'e-parcours affiche un "
                "écran au titre inconnu. Lancez « icope-bot check-target » et mettez à jour le "
                "fichier de correspondance.",
                code="ui_changed",
            )
        return SystemException(
            f"L'e-parcours n'a pas répondu à temps ({self.settings.timeout_ms / 1000:g} s) "
            f"pendant : {what}.",
            code="timeout",
        )

    @property
    def url(self) -> str:
        """The address the page shows now (the flow checks whose record it is before evidence)."""
        return self.page.url

    def screenshot(self, path: Path) -> Path:
        """The whole page as it is now, into ``path`` (failure evidence: nothing closed first)."""
        self.page.screenshot(path=path, full_page=True)
        return path

    def clear_info_modal(self) -> None:
        """Close the information message if it shows (before a screenshot)."""
        try:
            if self.info_modal.is_visible():
                # Waiting for it to go lets the locator handler close it.
                self.info_modal.wait_for(state="hidden")
        except PlaywrightError as e:
            raise SystemException(
                "Le message d'information de l'e-parcours n'a pas pu être fermé.",
                code="ui_changed",
            ) from e

    def text_shows(self, text: str) -> bool:
        """Whether a message (substring) is visible on the current screen."""
        return self.page.get_by_text(re.compile(re.escape(text))).first.is_visible()

    def close(self) -> None:
        """Close the session's page (the context belongs to the caller)."""
        with contextlib.suppress(PlaywrightError):  # the browser is already gone
            self.page.close()
