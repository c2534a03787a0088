"""A tool update (UI variant v2): its mapping makes the bot work; the old mapping stops it clearly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.config import Settings
from bot.errors import SystemException
from bot.flows.double_entry import double_entry
from bot.models import ItemState, SelfAssessment
from bot.pages.session import TargetSession
from bot.workqueue import WorkItem
from sandbox.server import RunningSandbox
from tests.fixtures.flows import make_flow_settings
from tests.fixtures.queue import make_assessment
from tests.fixtures.sandbox import MAPPINGS, add_usager

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]


@pytest.fixture
def v2_session(
    browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> Iterator[TargetSession]:
    """A session with the v2 mapping, on the sandbox switched to the v2 screens."""
    sandbox.set_faults(ui_variant="v2")
    settings = make_flow_settings(sandbox.base_url, tmp_path, mapping=MAPPINGS / "target_v2.yaml")
    context = browser.new_context()
    session = TargetSession(context, settings)
    session.ensure_logged_in()
    yield session
    context.close()


def test_v2_screens_work_with_the_v2_mapping(
    v2_session: TargetSession, leased: Leased, sandbox: RunningSandbox
) -> None:
    item = leased(make_assessment(reference="AE-V2", answers={"mood_little_interest": True}))

    with item:
        result = double_entry(v2_session, item, v2_session.settings)

    assert item.outcome is ItemState.DONE
    assert result.created_usager
    assert item.result["alerts"]["target"]["psychologie"] is True
    assert sandbox.counts()["step1"] == 1


def test_v2_screens_with_the_old_mapping_stop_with_ui_changed(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(ui_variant="v2")
    item = leased(make_assessment(reference="AE-OLD-MAPPING"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.RETRY_WAIT
    assert isinstance(item.error, SystemException)
    assert item.error.code == "ui_changed"
    assert "« Nom de naissance »" in item.error.message
    assert "check-target" in item.error.message
    assert sandbox.counts()["usagers"] == 0


def test_old_mapping_cannot_open_a_known_usager_on_v2_screens(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(ui_variant="v2")
    add_usager(
        sandbox,
        birth_name="TESTICOPE",
        first_names=["Jeanne"],
        birth_date="1940-05-12",
        sex="F",
        birth_insee="75115",
    )

    with pytest.raises(SystemException) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-OLD-2")), flow_settings)

    assert raised.value.code == "ui_changed"
    assert "le lien « Ouvrir le dossier »" in raised.value.message
