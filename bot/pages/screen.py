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
from collections.abc import Iterator, Mapping, Sequence
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

__all__ = ["Fill", "Screen", "SessionExpired", "TableRow", "id_from_url", "ui_changed"]


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
class Fill:
    """One control for :meth:`Screen.fill_controls` to set: found by its accessible ``name``
    (its label; a radio group's name), given ``value`` (a text typed, an option's text chosen,
    the text of the radio chosen in a group, or checked / unchecked for a check box)."""

    name: str
    value: str | bool
    #: The control's ARIA role when it matters (radiogroup, combobox, checkbox, textbox,
    #: spinbutton); empty: any control of that label, its kind told by the value.
    role: str = ""


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
        # The wait's read of the screen is this screen's read: no second round trip.
        self._state = self.session.wait_for_screen(self.heading, self.heading_text)
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

    def shown_in(self, shown: AriaNode, *, whole: bool = False) -> bool:
        """Whether this screen's heading is in ``shown`` (what a wait saw): then it has loaded,
        without asking the browser again. ``whole``: ``shown`` is a read of the whole screen
        (:meth:`TargetSession.first_shown`), kept as this screen's read."""
        if not shown.has("heading", self.heading_text):
            return False
        if whole:
            self._state = shown
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
        caller to fill one by one as before (see :meth:`fill_controls`)."""
        left = self.fill_controls([Fill(label, value) for label, value in values.items()])
        return [fill.name for fill in left]

    def fill_controls(self, fills: Sequence[Fill]) -> list[Fill]:
        """Give controls their values in one browser call, in order, and read each back in the
        same call once all are set. The fills it left alone are returned, for the caller to do
        one by one as before: no single enabled, shown control of that name and role, another
        kind of control, or a value the control did not keep.

        A plain form takes a value set by script and the input/change events a person's
        typing or click would send (what Playwright's ``fill``, ``select_option`` and ``check``
        send too); one call per form instead of one per field, each with its own checks, is
        most of a form's cost. The controls are looked for when their turn comes, so a control
        the page shows once an earlier answer is given (a conditional question) is found.
        """
        if not fills:
            return []
        entries = [[f.name, f.value, f.role] for f in fills]
        with self.acting("saisie du formulaire"):
            left: list[int] = self.page.evaluate(_FILL_IN_ONE, entries)
        self.changed()
        return [fills[i] for i in left]

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


#: The script of :meth:`Screen.fill_controls`: ``[name, value, role]`` entries in; the indexes
#: of those it left out. A control's name is its accessible name as ``get_by_label`` /
#: ``get_by_role(name=…)`` match it (aria-labelledby, aria-label, its <label>s, a fieldset's
#: legend), spaces folded. A role given must be the control's (a control with an explicit role
#: attribute is left to Playwright); "radiogroup" chooses the radio named ``value`` in the group.
_FILL_IN_ONE = """
(entries) => {
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
    if (el.tagName === "FIELDSET") {
      const legend = el.querySelector(":scope > legend");
      return legend ? fold(legend.textContent) : "";
    }
    return fold(Array.from(el.labels || []).map((l) => l.textContent).join(" "));
  };
  const shown = (el) => !el.disabled && !el.closest("[inert]") && el.getClientRects().length > 0;
  const typed = new Set(["text", "search", "tel", "email", "url", "number"]);
  const roleOf = (el) => {
    if (el.tagName === "SELECT") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (el.tagName === "TEXTAREA") return "textbox";
    if (el.type === "checkbox" || el.type === "radio") return el.type;
    if (el.type === "number") return "spinbutton";
    return typed.has(el.type) ? "textbox" : "";
  };
  const send = (el) => {
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const single = (found) => (found.length === 1 ? found[0] : null);
  // Each control is looked for when its turn comes: an earlier answer may have shown it.
  const find = (name, role) => {
    if (role === "radiogroup") {
      return single(Array.from(document.querySelectorAll("[role=radiogroup]")).filter(
        (el) => shown(el) && nameOf(el) === name));
    }
    return single(Array.from(document.querySelectorAll("input, select, textarea")).filter(
      (el) => shown(el) && nameOf(el) === name && (!role || roleOf(el) === role)
              && !el.hasAttribute("role")));
  };
  const optionOf = (el, value) => single(
    Array.from(el.options).filter((o) => !o.disabled && fold(o.label) === value));
  const radioOf = (group, value) => single(
    Array.from(group.querySelectorAll("input[type=radio]")).filter(
      (el) => shown(el) && !el.hasAttribute("role") && nameOf(el) === value));
  // Returns whether the control holds the value (setting it first when ``set``).
  const apply = (el, value, role, set) => {
    if (role === "radiogroup") {
      const radio = typeof value === "string" ? radioOf(el, value) : null;
      if (!radio) return false;
      if (set && !radio.checked) radio.click();
      return radio.checked;
    }
    if (el.tagName === "SELECT" && !el.multiple && typeof value === "string") {
      const option = optionOf(el, value);
      if (!option) return false;
      if (set && !option.selected) {
        option.selected = true;
        send(el);
      }
      return option.selected;
    }
    if (el.type === "checkbox" && typeof value === "boolean") {
      if (set && el.checked !== value) el.click();
      return el.checked === value;
    }
    if (!el.readOnly && typeof value === "string"
        && (el.tagName === "TEXTAREA" || typed.has(el.type))) {
      if (set && el.value !== value) {
        const proto = el.tagName === "TEXTAREA" ? HTMLTextAreaElement : HTMLInputElement;
        Object.getOwnPropertyDescriptor(proto.prototype, "value").set.call(el, value);
        send(el);
      }
      return el.value === value;
    }
    return false;
  };
  const left = new Set();
  const found = entries.map(([name, value, role], i) => {
    const el = find(name, role);
    if (!el || !apply(el, value, role, true)) left.add(i);
    return el;
  });
  // Read back once every value is set: a later answer may have changed an earlier one.
  entries.forEach(([name, value, role], i) => {
    const el = found[i];
    if (!left.has(i) && !(el.isConnected && shown(el) && apply(el, value, role, false))) {
      left.add(i);
    }
  });
  return Array.from(left).sort((a, b) => a - b);
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
