"""The double entry end to end: real Chromium, the sandbox e-parcours, a real queue file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import date

import pytest

from bot.config import ScreenshotMode, Settings
from bot.errors import BusinessException, EffecteurUnknown, SystemException
from bot.flows.double_entry import double_entry
from bot.models import ItemState, SelfAssessment
from bot.pages.session import TargetSession
from bot.workqueue import WorkItem, WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.queue import FakeClock, make_assessment
from tests.fixtures.sandbox import add_usager

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]


def test_new_usager_is_created_then_the_step1_entered_and_checked(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    item = leased(make_assessment(reference="AE-NEW"))

    with item:
        result = double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.DONE
    assert result.created_usager
    assert not result.reused_step1
    assert result.concordance is not None
    assert result.concordance.agree
    assert result.readback_differences == []
    (saved,) = sandbox.step1s()
    assert (saved["date"], saved["mode"], saved["created_by"]) == ("2025-03-14", "auto", "bot")
    assert str(saved["usager_id"]) == result.dossier_id
    assert str(saved["id"]) == result.step1_id
    assert item.result["alerts"]["target"] == {
        "cognition": True,
        "mobilite": False,
        "nutrition": False,
        "vision": True,
        "audition": False,
        "psychologie": False,
    }
    assert item.result["created_usager"] is True
    counts = sandbox.counts()
    assert (counts["usagers"], counts["step1"]) == (1, 1)


def test_existing_usager_is_found_by_strict_traits_not_created_again(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    # Same person written differently: accents, case and hyphen are normalised (RNIV).
    usager = add_usager(
        sandbox,
        birth_name="Testicope",
        first_names=["Jeanne", "Marie"],
        birth_date="1940-05-12",
        sex="F",
        birth_insee="75115",
    )
    item = leased(make_assessment(reference="AE-KNOWN"))

    result = double_entry(target_session, item, flow_settings)

    assert not result.created_usager
    assert result.dossier_id == str(usager)
    assert sandbox.counts()["usagers"] == 1


def test_returning_usager_gets_a_second_step1_at_a_later_date(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    first = double_entry(target_session, leased(make_assessment(reference="AE-R1")), flow_settings)
    later = make_assessment(
        reference="AE-R2", assessed_on=date(2025, 9, 20), answers={"mood_down": True}
    )

    item = leased(later)

    second = double_entry(target_session, item, flow_settings)

    assert second.dossier_id == first.dossier_id
    assert not second.created_usager
    assert second.step1_id != first.step1_id
    assert not second.reused_step1
    assert item.result["alerts"]["target"]["psychologie"] is True
    assert [s["date"] for s in sandbox.step1s()] == ["2025-03-14", "2025-09-20"]


def test_step1_saved_before_a_crash_is_found_on_recovery_not_entered_twice(
    target_session: TargetSession,
    flow_settings: Settings,
    clocked_queue: WorkQueue,
    fake_clock: FakeClock,
    sandbox: RunningSandbox,
) -> None:
    assessment = make_assessment(reference="AE-CRASH")
    clocked_queue.enqueue(assessment, source="test.xlsx", row=2)
    (first_try,) = clocked_queue.lease("worker-1", 1, lease_seconds=60)
    double_entry(target_session, first_try, flow_settings)
    # Killed here: saved in the e-parcours, never released in the queue. The lease expires.
    fake_clock.advance(120)
    (recovered,) = clocked_queue.lease("worker-2", 1, lease_seconds=60)
    assert recovered.recovered

    with recovered:
        result = double_entry(target_session, recovered, flow_settings)

    assert recovered.outcome is ItemState.DONE
    assert result.reused_step1
    assert recovered.result["reused_step1"] is True
    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"], counts["usagers"]) == (1, 0, 1)


def test_dry_run_fills_the_form_but_saves_nothing(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    add_usager(
        sandbox,
        birth_name="TESTICOPE",
        first_names=["Jeanne"],
        birth_date="1940-05-12",
        sex="F",
        birth_insee="75115",
    )
    item = leased(make_assessment(reference="AE-DRY"))

    result = double_entry(target_session, item, flow_settings, dry_run=True)

    assert result.concordance is None
    assert result.step1_id is None
    assert sandbox.counts()["step1"] == 0
    assert item.result["dry_run"] is True


def test_dry_run_never_creates_the_usager(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    result = double_entry(
        target_session, leased(make_assessment(reference="AE-DRY2")), flow_settings, dry_run=True
    )

    assert result.dossier_id is None
    assert sandbox.counts()["usagers"] == 0


def test_no_consent_goes_to_review_and_nothing_is_created(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    item = leased(make_assessment(reference="AE-NOCONSENT", consent_sharing=False))

    with item:
        double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.NEEDS_REVIEW
    assert isinstance(item.error, BusinessException)
    assert item.error.code == "consent_missing"
    assert sandbox.counts()["usagers"] == 0


def test_evidence_is_private_and_filed_under_the_reference(
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    settings = flow_settings.model_copy(update={"screenshots": ScreenshotMode.ON})
    item = leased(make_assessment(reference="AE-EVIDENCE/1"))

    result = double_entry(target_session, item, settings)

    names = sorted(p.name for p in result.evidence)
    assert names == ["01-saisie-step1.png", "02-alertes.png"]
    assert item.evidence == [str(p) for p in result.evidence]
    folder = result.evidence[0].parent
    assert folder.name == "AE-EVIDENCE_1"
    assert folder.parent.parent == settings.screenshots_dir
    for path in (folder, folder.parent, settings.screenshots_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in result.evidence:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"\x89PNG")


def test_information_message_over_every_page_is_closed_and_the_entry_goes_on(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(info_modal_rate=1.0)

    result = double_entry(
        target_session, leased(make_assessment(reference="AE-MODAL")), flow_settings
    )

    assert result.concordance is not None
    assert result.concordance.agree
    assert sandbox.counts()["step1"] == 1


def test_server_error_page_is_a_retryable_system_exception(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(error_rate=1.0)
    item = leased(make_assessment(reference="AE-500"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.RETRY_WAIT
    assert isinstance(item.error, SystemException)
    assert item.error.code == "server_error"


def test_configured_effecteur_is_the_one_chosen(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    settings = flow_settings.model_copy(update={"effecteur": "Sophie Lefèvre"})
    item = leased(make_assessment(reference="AE-EFF"))

    double_entry(target_session, item, settings)

    (saved,) = sandbox.step1s()
    assert saved["effecteur_name"] == "Sophie Lefèvre"
    assert item.result["effecteur"].startswith("Sophie Lefèvre")


def test_unknown_effecteur_stops_before_anything_is_saved(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    settings = flow_settings.model_copy(update={"effecteur": "Dr Personne"})

    # A configuration error: the runner halts the run instead of retrying item after item.
    with pytest.raises(EffecteurUnknown) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-EFF2")), settings)

    assert raised.value.code == "effecteur_unknown"
    assert sandbox.counts()["step1"] == 0
