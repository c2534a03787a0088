"""The session ending in the middle of an item: one transparent re-login, never a duplicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Settings
from bot.errors import SystemException
from bot.flows.double_entry import double_entry
from bot.models import ItemState, SelfAssessment
from bot.pages.evaluation import EvaluationPage
from bot.pages.screen import SessionExpired
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage
from bot.workqueue import WorkItem
from sandbox.server import RunningSandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.sandbox import add_usager

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]


def known_usager(sandbox: RunningSandbox) -> int:
    return add_usager(
        sandbox,
        birth_name="TESTICOPE",
        first_names=["Jeanne", "Marie"],
        birth_date="1940-05-12",
        sex="F",
        birth_insee="75115",
    )


def test_session_expiring_at_any_request_never_duplicates_the_step1(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    # The sandbox ends a session after N requests; an item of a known usager takes about ten.
    # Small N end it early and again after the re-login (retried later), larger ones end it at
    # the save or while the alerts load: one re-login finishes the item. Never twice the STEP 1.
    outcomes = {}
    for requests in range(7, 11):
        sandbox.reset()
        known_usager(sandbox)
        target_session.ensure_logged_in()
        logins = target_session.logins
        sandbox.set_faults(expire_session_after=requests)
        item = leased(make_assessment(reference=f"AE-EXPIRE-{requests}"))

        with item:
            double_entry(target_session, item, flow_settings)

        counts = sandbox.counts()
        assert counts["duplicate_step1"] == 0, requests
        if item.outcome is ItemState.DONE:
            assert counts["step1"] == 1, requests
        else:
            assert isinstance(item.error, SystemException), requests
            assert item.error.code == "session_lost", requests
        outcomes[requests] = (item.outcome, target_session.logins - logins)
    assert outcomes[10] == (ItemState.DONE, 0)  # the item fits in one session
    relogged_and_done = [
        n for n, (o, relogins) in outcomes.items() if o is ItemState.DONE and relogins == 1
    ]
    assert len(relogged_and_done) >= 2, outcomes


class SessionIdleWhileFilling(Step1FormPage):
    """The assistant's coffee break: the tool's idle timeout passes while the form is open."""

    sandbox: RunningSandbox
    breaks_left = 1

    def fill(self, *args: Any, **kwargs: Any) -> None:
        super().fill(*args, **kwargs)
        if SessionIdleWhileFilling.breaks_left:
            SessionIdleWhileFilling.breaks_left -= 1
            self.sandbox.advance_clock(21 * 60)


def test_session_expiring_mid_form_is_resumed_after_one_login_without_duplicate(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    known_usager(sandbox)
    SessionIdleWhileFilling.sandbox = sandbox
    target_session.screen_types[Step1FormPage] = SessionIdleWhileFilling
    logins = target_session.logins
    item = leased(make_assessment(reference="AE-IDLE"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.DONE
    assert target_session.logins == logins + 1
    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"]) == (1, 0)


def test_session_lost_twice_in_one_item_is_a_system_exception(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    known_usager(sandbox)
    sandbox.set_faults(expire_session_after=3)
    item = leased(make_assessment(reference="AE-LOST"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.RETRY_WAIT
    assert isinstance(item.error, SystemException)
    assert item.error.code == "session_lost"
    assert sandbox.counts()["step1"] == 0


class SaveThenSessionLost(Step1FormPage):
    """The save lands, but the tool ends the session before the bot sees the answer."""

    def save(self) -> EvaluationPage | Step1FormPage:
        super().save()
        self.page.context.clear_cookies()
        self.page.reload()
        raise SessionExpired("réponse de l'enregistrement perdue (test)")


def test_save_whose_answer_was_lost_is_found_not_saved_again(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    target_session.screen_types[Step1FormPage] = SaveThenSessionLost
    item = leased(make_assessment(reference="AE-LANDED"))

    result = double_entry(target_session, item, flow_settings)

    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"]) == (1, 0)
    assert result.step1_id == str(sandbox.step1s()[0]["id"])
    assert not result.reused_step1  # it is this item's own save, found again
    assert result.concordance is not None
    assert result.concordance.agree
