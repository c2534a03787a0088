"""Nouvelle évaluation: the choice of the evaluation type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.pages.screen import Screen

if TYPE_CHECKING:
    from bot.pages.session import TargetSession
    from bot.pages.step1_form import Step1FormPage

__all__ = ["EvaluationChooserPage"]


class EvaluationChooserPage(Screen):
    """Nouvelle évaluation: one link per evaluation type."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.chooser
        self.heading_text = self.t.heading
        super().__init__(session)
        self.step1_link = self.link(self.t.links["step1"])

    def choose_step1(self) -> Step1FormPage:
        """Open a blank ICOPE – STEP 1 form."""
        from bot.pages.step1_form import Step1FormPage

        self.require("link", self.t.links["step1"])  # from the screen's read (its wait's)
        with self.acting("choix de la STEP 1"):
            self.step1_link.first.click()
        return self.session.expect(Step1FormPage)
