"""Dossier usager: its tabs, and the evaluations already recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from bot.pages.screen import Screen, id_from_url

if TYPE_CHECKING:
    from bot.pages.chooser import EvaluationChooserPage
    from bot.pages.evaluation import EvaluationPage
    from bot.pages.session import TargetSession

__all__ = ["CONTACT_TRAITS", "DossierPage", "EvaluationRow"]

#: Identity traits the dossier shows that may change without making another person (a marriage,
#: a move): read to tell a person when the export says otherwise, never to decide anything.
CONTACT_TRAITS = ("used_name", "used_first_name", "phone", "email", "address")

#: What the tool shows in place of an empty trait.
_EMPTY = ("", "—", "-")


@dataclass(frozen=True)
class EvaluationRow:
    """One evaluation of the dossier's list, as shown."""

    assessed_on: date | None
    type: str
    mode: str | None  # "auto" / "hetero" when recognised, else None
    effecteur: str
    link: str | None

    @property
    def evaluation_id(self) -> str | None:
        return id_from_url(self.link) if self.link else None


class DossierPage(Screen):
    """Dossier usager."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.dossier
        self.heading_text = self.t.heading
        super().__init__(session)
        self.evaluations_tab = self.page.get_by_role(
            "tab", name=self.t.tabs["evaluations"], exact=True
        )
        self.new_evaluation_link = self.link(self.t.links["new_evaluation"])

    @property
    def dossier_id(self) -> str:
        """The tool's id of this dossier (from its address)."""
        return id_from_url(self.url)

    def contact_traits(self) -> dict[str, str | None]:
        """The used names and contact details on the open Synthèse tab (None: shown empty).

        Read from the tab's list of terms and definitions; a trait the screen does not show is
        left out, so it is never taken for an empty one.
        """
        labels = self.texts.usager_form.labels
        wanted = {labels[trait]: trait for trait in CONTACT_TRAITS}
        shown: dict[str, str | None] = {}
        term: str | None = None
        for node in self.state().walk():
            if node.role == "term":
                term = node.text()
            elif node.role == "definition" and term is not None:
                if term in wanted:
                    value = node.text().strip()
                    shown[wanted[term]] = None if value in _EMPTY else value
                term = None
        return shown

    def show_evaluations(self) -> DossierPage:
        """Open the Évaluations tab (when it is not open yet)."""
        tab = self.require("tab", self.t.tabs["evaluations"])
        if tab.selected:
            return self
        with self.acting("ouverture de l'onglet des évaluations"):
            self.evaluations_tab.first.click()
        # The tab's content has loaded when its "new evaluation" link shows; the wait's read
        # of the screen is the tab's read.
        self._state = self.session.wait_for(
            self.new_evaluation_link, "ouverture de l'onglet des évaluations"
        )
        return self

    def evaluations(self) -> list[EvaluationRow]:
        """The evaluations listed in the open Évaluations tab, newest first as the tool shows."""
        columns = self.t.columns
        tree = self.state()
        if not tree.has("columnheader", columns["date"]):
            # No table: there must be the "no evaluation" message, if the mapping knows it;
            # otherwise an empty dossier and a changed table look alike.
            no_evaluation = self.t.texts.get("no_evaluation")
            if no_evaluation and no_evaluation not in tree.text():
                self.require("columnheader", columns["date"])
            return []
        rows = self.read_table(columns, ("date", "type", "mode"), self.t.links["consult"])
        formats = self.texts.formats
        modes = {text: code for code, text in self.texts.step1.options["mode"].items()}
        return [
            EvaluationRow(
                assessed_on=formats.parse_date(r["date"]),
                type=r["type"],
                mode=modes.get(r["mode"]),
                effecteur=r["effecteur"],
                link=r.link,
            )
            for r in rows
        ]

    def step1s(self, assessed_on: date, mode: str) -> list[EvaluationRow]:
        """The ICOPE – STEP 1s of this date and mode already in the dossier."""
        return [
            row
            for row in self.evaluations()
            if row.type == self.t.texts["type_step1"]
            and row.assessed_on == assessed_on
            and row.mode == mode
        ]

    def open_evaluation(self, row: EvaluationRow) -> EvaluationPage:
        """Consulter: the read-only evaluation screen."""
        from bot.pages.evaluation import EvaluationPage

        if row.link is None:
            raise ValueError("evaluation row without a link")
        return self.session.goto(row.link, EvaluationPage)

    def new_evaluation(self) -> EvaluationChooserPage:
        """Nouvelle évaluation: the chooser of evaluation types."""
        from bot.pages.chooser import EvaluationChooserPage

        self.show_evaluations()
        self.require("link", self.t.links["new_evaluation"])
        with self.acting("nouvelle évaluation"):
            self.new_evaluation_link.first.click()
        self.changed()
        return self.session.expect(EvaluationChooserPage)
