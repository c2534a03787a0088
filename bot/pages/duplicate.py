"""Doublon potentiel: the tool found usagers with the same strict traits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.pages.screen import Screen
from bot.pages.search import UsagerRow, usager_rows

if TYPE_CHECKING:
    from bot.pages.search import SearchPage
    from bot.pages.session import TargetSession

__all__ = ["DuplicateWarningPage"]


class DuplicateWarningPage(Screen):
    """Doublon potentiel. The bot reads it and cancels; it has no way to confirm the creation."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.duplicate
        self.heading_text = self.t.heading
        super().__init__(session)
        self.cancel_button = self.button(self.t.buttons["cancel"])

    def candidates(self) -> list[UsagerRow]:
        """The existing usagers the tool considers doubles."""
        columns = self.texts.search.columns
        open_text = self.t.links.get("open")
        rows = self.read_table(columns, ("birth_name", "first_names", "birth_date"), open_text)
        return usager_rows(self, rows)

    def cancel(self) -> SearchPage:
        """Annuler: nothing is created."""
        from bot.pages.search import SearchPage

        self.require("button", self.t.buttons["cancel"])
        with self.acting("annulation de la création"):
            self.cancel_button.first.click()
        return self.session.expect(SearchPage)
