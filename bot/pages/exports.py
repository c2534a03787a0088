"""Exports: the e-parcours's own files, downloaded as a person would (menu → link → file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import SystemException
from bot.pages.screen import Screen

if TYPE_CHECKING:
    from bot.pages.session import TargetSession

__all__ = ["ExportsPage", "open_exports"]


class ExportsPage(Screen):
    """Exports: one download link per file the tool offers."""

    def __init__(self, session: TargetSession) -> None:
        exports = session.mapping.exports
        if exports is None:
            raise SystemException(
                "Le fichier de correspondance de la cible ne décrit pas la page « Exports » : "
                "ajouter sa section exports.",
                code="mapping_invalid",
            )
        self.t = exports
        self.heading_text = exports.heading
        super().__init__(session)

    def download(self, key: str, dest: Path) -> Path:
        """Click the download link ``links[key]`` and save the file as ``dest``."""
        text = self.t.links.get(key)
        if text is None:
            raise SystemException(
                f"Le fichier de correspondance ne donne pas le lien exports.links.{key}.",
                code="mapping_invalid",
            )
        link = self.required(self.link(text), text, "le lien")
        with self.acting(f"téléchargement « {text} »"), self.page.expect_download() as info:
            link.first.click()
        with self.acting(f"enregistrement de « {text} »"):
            info.value.save_as(dest)
        return dest


def open_exports(session: TargetSession) -> ExportsPage:
    """The Exports page, through the main menu (logging in first when needed)."""
    links = session.mapping.common.links
    text = links.get("exports")
    if text is None:
        raise SystemException(
            "Le fichier de correspondance ne donne pas le lien common.links.exports du menu.",
            code="mapping_invalid",
        )
    session.ensure_logged_in()
    page = session.screen(ExportsPage)
    menu_link = session.navigation.get_by_role("link", name=text, exact=True)
    page.required(menu_link, text, "le lien du menu")
    with page.acting("ouverture des exports"):
        menu_link.first.click()
    return page.wait_loaded()
