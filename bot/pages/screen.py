"""What every page object shares: "the page has loaded", Playwright errors as BotErrors, tables.

A page object (:class:`Screen`) builds its locators once in ``__init__`` from the mapping's texts
(roles and accessible names, never CSS). Its only check is that its heading shows; everything it
sees otherwise it reports (values, rows) and lets the flow decide. Playwright's errors become
:class:`bot.errors.SystemException` with a code, ``raise … from e``:

- ``session_lost`` (:class:`SessionExpired`): the login page came back;
- ``server_error``: the tool's error page shows;
- ``ui_changed``: a mapped text is not on a screen that has loaded;
- ``timeout``: nothing expected came in time; ``navigation``: the browser failed otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urljoin, urlparse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import SessionExpired, SystemException
from bot.pages.aria import AriaNode, parse_snapshot

if TYPE_CHECKING:
    from bot.pages.mapping import TargetMapping
    from bot.pages.session import TargetSession

__all__ = ["Screen", "SessionExpired", "TableRow", "id_from_url", "ui_changed"]


def ui_changed(screen: str, text: str, kind: str = "") -> SystemException:
    what = f"{kind} « {text} »" if kind else f"« {text} »"
    return SystemException(
        f"L'écran « {screen} » ne montre pas {what} : l'outil e-parcours a peut-être changé. "
        "Lancez « icope-bot check-target » et mettez à jour le fichier de correspondance.",
        code="ui_changed",
    )


def id_from_url(url: str) -> str:
    """The last segment of a URL's path: the tool's id of a dossier or an evaluation."""
    return urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]


def clean(text: str) -> str:
    """A screen text with its white space folded (inner_text keeps line breaks)."""
    return " ".join(text.split())


@dataclass(frozen=True)
class TableRow:
    """One row of a table: cell texts by mapping key, and the target of its action link."""

    cells: dict[str, str]
    link: str | None  # absolute URL of the row's link (open / consult), None without one

    def __getitem__(self, key: str) -> str:
        return self.cells.get(key, "")


class Screen:
    """Base of the page objects: one screen of the target, found by its heading."""

    #: Human name of the screen for messages (its heading text by default).
    heading_text: str = ""

    def __init__(self, session: TargetSession) -> None:
        self.session = session
        self.page: Page = session.page
        self.texts: TargetMapping = session.mapping
        self.heading = self.page.get_by_role("heading", name=self.heading_text, exact=True)
        self._state: AriaNode | None = None
        #: The address the screen was loaded at (the browser moves on, this stays).
        self.url = ""

    # --- the page has loaded -------------------------------------------------------------------

    def wait_loaded(self) -> Self:
        """Wait for this screen's heading; raise what the screen shows instead."""
        self.session.wait_for_screen(self.heading, self.heading_text)
        self.url = self.page.url
        return self

    def read_loaded(self) -> Self:
        """After a navigation that waited for the page's load event: read the screen once, and
        its heading says it is this one (the read then answers the screen's checks, where a
        wait for the heading would be one more round trip)."""
        if not self.state().has("heading", self.heading_text):
            what = f"attente de l'écran « {self.heading_text} »"
            raise self.session.diagnose(what, expected=self.heading_text)
        self.url = self.page.url
        return self

    def is_showing(self) -> bool:
        return self.heading.is_visible()

    def shown_in(self, shown: AriaNode) -> bool:
        """Whether this screen's heading is in ``shown`` (what a wait saw): then it has loaded,
        without asking the browser again."""
        if not shown.has("heading", self.heading_text):
            return False
        self.url = self.page.url
        return True

    # --- Playwright errors → BotErrors ---------------------------------------------------------

    @contextmanager
    def acting(self, what: str) -> Iterator[None]:
        """Run Playwright calls; translate their errors (``what`` says what was being done)."""
        try:
            yield
        except PlaywrightTimeoutError as e:
            raise self.session.diagnose(f"{what} (écran « {self.heading_text} »)") from e
        except PlaywrightError as e:
            raise SystemException(
                f"Le navigateur a échoué pendant : {what} (écran « {self.heading_text} »).",
                code="navigation",
            ) from e

    def required(self, locator: Locator, text: str, kind: str = "") -> Locator:
        """The locator, or ui_changed when the loaded screen has no such element."""
        with self.acting(f"recherche de « {text} »"):
            if locator.count() == 0:
                raise ui_changed(self.heading_text, text, kind)
        return locator

    # --- the screen read in one go ----------------------------------------------------------------

    def state(self) -> AriaNode:
        """The screen as assistive technologies see it (one round trip; kept until an action)."""
        if self._state is None:
            with self.acting("lecture de l'écran"):
                tree = parse_snapshot(self._body.aria_snapshot())
                modal = self.texts.info_modal.dialog
                if tree.has("dialog", modal):
                    # The page under the message is inert: invisible to the snapshot.
                    self.session.clear_info_modal()
                    tree = parse_snapshot(self._body.aria_snapshot())
            self._state = tree
        return self._state

    def changed(self) -> None:
        """Forget the screen read: an action changed it."""
        self._state = None

    @property
    def _body(self) -> Locator:
        # The whole document: no structure of the page is assumed.
        return self.page.locator("body")

    def require(self, kind: str, text: str) -> AriaNode:
        """The element of this role (or the control of this label), ui_changed when absent."""
        tree = self.state()
        node = tree.control(text) if kind == "label" else tree.find(kind, text)
        if node is None:
            raise ui_changed(self.heading_text, text, _KIND_WORDS.get(kind, ""))
        return node

    def label(self, text: str) -> Locator:
        return self.page.get_by_label(text, exact=True)

    def button(self, text: str) -> Locator:
        return self.page.get_by_role("button", name=text, exact=True)

    def link(self, text: str) -> Locator:
        return self.page.get_by_role("link", name=text, exact=True)

    def follow(self, text: str) -> None:
        """Click a link and wait until the browser is on its address (pagination)."""
        href = self.require("link", text).url
        with self.acting(f"clic sur « {text} »"):
            self.link(text).first.click()
            if href:
                target = urljoin(self.page.url, href)
                self.page.wait_for_url(lambda url: _same_page(url, target))
        self.changed()

    def fill_in_one(self, values: Mapping[str, str | bool]) -> list[str]:
        """Give controls their values in one browser call: label → text (a text field), option
        text (a list) or checked (a check box). The labels it left alone are returned, for the
        caller to fill one by one as before: no single enabled, shown control of that label,
        another kind of control, or a value the control did not keep (each is read back in
        the same call).

        A plain form takes a value set by script and the input/change events a person's typing
        would send (what Playwright's ``fill`` and ``select_option`` send too); one call per
        form instead of one per field, each with its own checks, is most of a form's cost.
        """
        if not values:
            return []
        with self.acting("saisie du formulaire"):
            left: list[str] = self.page.evaluate(_FILL_IN_ONE, [[k, v] for k, v in values.items()])
        self.changed()
        return left

    def screenshot(self, path: Path, *, locator: Locator | None = None) -> Path:
        """A screenshot of the page (or of one element) into ``path``; the info message closed."""
        if self._state is None:
            # A read of the screen since its last action closed any message already: the
            # evidence of a normal entry is taken right after one, and saves a round trip.
            self.session.clear_info_modal()
        with self.acting("capture d'écran"):
            if locator is None:
                self.page.screenshot(path=path, full_page=True)
            else:
                locator.screenshot(path=path)
        return path

    # --- tables --------------------------------------------------------------------------------

    def read_table(
        self, columns: dict[str, str], required: tuple[str, ...], link_text: str | None = None
    ) -> list[TableRow]:
        """Rows of the table whose column headers are ``columns`` (key → header text)."""
        first = columns[required[0]]
        tables = [t for t in self.state().find_all("table") if t.has("columnheader", first)]
        if not tables:
            raise ui_changed(self.heading_text, first, "la colonne")
        table = tables[0]
        headers = [h.name for h in table.find_all("columnheader")]
        for key in required:
            if columns[key] not in headers:
                raise ui_changed(self.heading_text, columns[key], "la colonne")
        index = {key: headers.index(text) for key, text in columns.items() if text in headers}
        rows: list[TableRow] = []
        for row in table.find_all("row"):
            cells = [c.text() for c in row.find_all(_CELLS)]
            if not cells:  # the header row
                continue
            values = {k: cells[j] for k, j in index.items() if j < len(cells)}
            href = None
            if link_text is not None:
                link = row.find("link", link_text)
                if link is None:
                    raise ui_changed(self.heading_text, link_text, "le lien")
                href = link.url
            rows.append(TableRow(values, urljoin(self.page.url, href) if href else None))
        return rows


#: The script of :meth:`Screen.fill_in_one`. A control's label is its accessible name as
#: ``get_by_label`` matches it (aria-labelledby, aria-label, else its <label>s), spaces folded.
_FILL_IN_ONE = """
(pairs) => {
  const fold = (s) => (s || "").replace(/\\s+/g, " ").trim();
  const nameOf = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      return fold(by.split(/\\s+/).map((id) => {
        const l = document.getElementById(id);
        return l ? l.textContent : "";
      }).join(" "));
    }
    const aria = el.getAttribute("aria-label");
    if (aria && aria.trim()) return fold(aria);
    return fold(Array.from(el.labels || []).map((l) => l.textContent).join(" "));
  };
  const typed = new Set(["text", "search", "tel", "email", "url"]);
  const controls = Array.from(document.querySelectorAll("input, select, textarea")).filter(
    (el) => !el.disabled && !el.closest("[inert]") && el.getClientRects().length > 0
  );
  const send = (el) => {
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const left = [];
  for (const [label, value] of pairs) {
    const found = controls.filter((el) => nameOf(el) === label);
    const el = found.length === 1 ? found[0] : null;
    if (el && el.tagName === "SELECT" && !el.multiple && typeof value === "string") {
      const options = Array.from(el.options).filter((o) => fold(o.label) === value);
      if (options.length === 1) {
        if (!options[0].selected) {
          options[0].selected = true;
          send(el);
        }
        if (options[0].selected) continue;
      }
    } else if (el && el.type === "checkbox" && typeof value === "boolean") {
      if (el.checked !== value) el.click();
      if (el.checked === value) continue;
    } else if (el && !el.readOnly && typeof value === "string"
               && (el.tagName === "TEXTAREA" || typed.has(el.type))) {
      if (el.value !== value) {
        const proto = el.tagName === "TEXTAREA" ? HTMLTextAreaElement : HTMLInputElement;
        Object.getOwnPropertyDescriptor(proto.prototype, "value").set.call(el, value);
        send(el);
      }
      if (el.value === value) continue;
    }
    left.push(label);
  }
  return left;
}
"""

_CELLS = frozenset({"cell", "gridcell"})
_KIND_WORDS = {
    "label": "le champ",
    "button": "le bouton",
    "link": "le lien",
    "radiogroup": "la question",
    "checkbox": "la case",
    "tab": "l'onglet",
    "columnheader": "la colonne",
    "group": "la section",
    "region": "la zone",
}


def _same_page(url: str, target: str) -> bool:
    a, b = urlparse(url), urlparse(target)
    return (a.path, sorted(a.query.split("&"))) == (b.path, sorted(b.query.split("&")))


def first_word(text: str) -> str:
    """The first name of a list of first names ("Marie Anne" → "Marie")."""
    parts = re.split(r"[\s,;]+", text.strip())
    return parts[0] if parts else ""
