"""Rechercher un usager: the search form, and its results (same screen, paginated)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Self

from bot.pages.screen import Screen, TableRow, id_from_url

if TYPE_CHECKING:
    from bot.pages.dossier import DossierPage
    from bot.pages.session import TargetSession
    from bot.pages.usager_form import UsagerFormPage

__all__ = ["ResultsPage", "SearchPage", "UsagerRow"]


@dataclass(frozen=True)
class UsagerRow:
    """One usager as a results table shows it (strict traits typed, the rest as shown)."""

    birth_name: str
    used_name: str
    first_names: str
    birth_date: date | None
    sex: str  # the Identity.sex code when recognised, else the text shown
    birth_insee: str
    ins: str | None
    link: str | None  # the address of the dossier

    @property
    def dossier_id(self) -> str | None:
        return id_from_url(self.link) if self.link else None


def usager_rows(screen: Screen, rows: list[TableRow]) -> list[UsagerRow]:
    """Typed rows of a usager table (search results, potential doubles)."""
    formats = screen.texts.formats
    sexes = {text: code for code, text in screen.texts.usager_form.options["sex"].items()}
    return [
        UsagerRow(
            birth_name=r["birth_name"],
            used_name=r["used_name"],
            first_names=r["first_names"],
            birth_date=formats.parse_date(r["birth_date"]),
            sex=sexes.get(r["sex"], r["sex"]),
            birth_insee=r["birth_insee"].upper(),
            ins=r["ins"].replace(" ", "").upper() or None,
            link=r.link,
        )
        for r in rows
    ]


class SearchPage(Screen):
    """Rechercher un usager."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.search
        self.heading_text = self.t.heading
        super().__init__(session)
        labels = self.t.labels
        self.fields = {key: self.label(labels[key]) for key in labels}
        self.search_button = self.button(self.t.buttons["search"])
        self.create_link = self.link(self.t.links["create"])

    def search(
        self,
        *,
        birth_date: date | None = None,
        birth_name: str | None = None,
        first_name: str | None = None,
        ins: str | None = None,
    ) -> ResultsPage:
        """Search with these criteria (the others emptied); the results screen follows."""
        criteria = {
            "birth_date": self.texts.formats.format_date(birth_date) if birth_date else None,
            "birth_name": birth_name,
            "first_name": first_name,
            "ins": ins,
        }
        typed: dict[str, str] = {}
        for key, value in criteria.items():
            text = self.t.labels[key]
            shown = self.require("label", text) if value is not None else self.state().control(text)
            if value is None and (shown is None or not shown.value):
                continue  # nothing to type, nothing stale to clear
            typed[key] = value or ""
        # From the same read as the fields: typing changes no button, and a read after the
        # typing would be one more whole-screen round trip per search (four per item).
        self.require("button", self.t.buttons["search"])
        labels = {self.t.labels[key]: key for key in typed}
        for text in self.fill_in_one({text: typed[key] for text, key in labels.items()}):
            with self.acting(f"saisie du critère « {text} »"):
                self.fields[labels[text]].first.fill(typed[labels[text]])
        with self.acting("recherche d'usager"):
            self.search_button.first.click()
        self.changed()
        return self.session.expect(ResultsPage)

    def open_create_form(self) -> UsagerFormPage:
        """Créer un usager (after a search found nobody)."""
        from bot.pages.usager_form import UsagerFormPage

        self.require("link", self.t.links["create"])
        with self.acting("ouverture du formulaire de création d'usager"):
            self.create_link.first.click()
        return self.session.expect(UsagerFormPage)


class ResultsPage(SearchPage):
    """The search screen showing results (a table, or the "no result" message)."""

    def __init__(self, session: TargetSession) -> None:
        super().__init__(session)
        columns = self.t.columns
        self.results_header = self.page.get_by_role(
            "columnheader", name=columns["birth_name"], exact=True
        )
        self.no_result = self.page.get_by_text(self.t.texts["no_result"])

    def wait_loaded(self) -> Self:
        # The results (a table, or the "no result" message) come with the screen: wait for
        # them, then read the screen once; its heading is checked in that read, which the
        # rows and the next search use too (one round trip fewer than a wait for each).
        self._state = self.session.wait_for(
            self.results_header.or_(self.no_result), "attente des résultats de la recherche"
        )
        if not self.state().has("heading", self.heading_text):
            raise self.session.diagnose(
                f"attente de l'écran « {self.heading_text} »", expected=self.heading_text
            )
        self.url = self.page.url
        return self

    def rows(self) -> list[UsagerRow]:
        """The usagers on this page of results."""
        if self.t.texts["no_result"] in self.state().text():
            return []
        required = ("birth_name", "first_names", "birth_date", "sex", "birth_insee")
        return usager_rows(self, self.read_table(self.t.columns, required, self.t.links["open"]))

    def has_next_page(self) -> bool:
        return self.state().has("link", self.t.links["next_page"])

    def next_page(self) -> ResultsPage:
        self.follow(self.t.links["next_page"])
        return self.session.expect(ResultsPage)

    def open(self, row: UsagerRow) -> DossierPage:
        """Open a usager's dossier (from any page of the results)."""
        from bot.pages.dossier import DossierPage

        if row.link is None:
            raise ValueError("row without a dossier link")
        return self.session.goto(row.link, DossierPage)
