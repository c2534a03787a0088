"""Accueil: the first screen after login."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.pages.screen import Screen

if TYPE_CHECKING:
    from bot.pages.search import SearchPage
    from bot.pages.session import TargetSession

__all__ = ["HomePage"]


class HomePage(Screen):
    """Accueil."""

    def __init__(self, session: TargetSession) -> None:
        self.heading_text = session.mapping.home.heading
        super().__init__(session)

    def open_search(self) -> SearchPage:
        """Rechercher un usager, through the main menu."""
        return self.session.open_search()
