"""What the page objects say when the tool shows something else than the expected screen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.errors import SystemException
from bot.pages.chooser import EvaluationChooserPage
from bot.pages.dossier import DossierPage
from bot.pages.session import TargetSession
from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import add_usager

pytestmark = pytest.mark.browser


class WrongTileChooser(EvaluationChooserPage):
    """Clicks another evaluation type than the STEP 1 (the tool moved its tiles, say)."""

    def __init__(self, session: TargetSession) -> None:
        super().__init__(session)
        self.step1_link = self.link("Grille AGGIR")


@pytest.fixture
def impatient(target_session: TargetSession) -> Iterator[TargetSession]:
    """The shared session with short waits (the expected screen will not come)."""
    target_session.context.set_default_timeout(1_500)
    yield target_session
    target_session.context.set_default_timeout(target_session.settings.timeout_ms)


def dossier_of_a_usager(session: TargetSession, sandbox: RunningSandbox) -> DossierPage:
    usager = add_usager(sandbox)
    return session.goto(f"{sandbox.base_url}/usagers/{usager}", DossierPage)


def test_unknown_screen_is_ui_changed_without_quoting_its_title(
    impatient: TargetSession, sandbox: RunningSandbox
) -> None:
    impatient.screen_types[EvaluationChooserPage] = WrongTileChooser
    chooser = dossier_of_a_usager(impatient, sandbox).new_evaluation()

    with pytest.raises(SystemException) as raised:
        chooser.choose_step1()

    assert raised.value.code == "ui_changed"
    assert "« Saisie ICOPE – STEP 1 » attendu" in raised.value.message
    assert "indisponible" not in raised.value.message


def test_error_page_is_a_server_error(
    target_session: TargetSession, sandbox: RunningSandbox
) -> None:
    dossier = dossier_of_a_usager(target_session, sandbox)
    sandbox.set_faults(error_rate=1.0)

    with pytest.raises(SystemException) as raised:
        dossier.new_evaluation()

    assert raised.value.code == "server_error"
    assert "erreur interne" in raised.value.message


def test_login_page_instead_of_the_screen_is_session_lost(
    target_session: TargetSession, sandbox: RunningSandbox
) -> None:
    dossier = dossier_of_a_usager(target_session, sandbox)
    target_session.context.clear_cookies()

    with pytest.raises(SystemException) as raised:
        dossier.new_evaluation()

    assert raised.value.code == "session_lost"
