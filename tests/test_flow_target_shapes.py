"""Target screens changed the way a vendor update might (issue 17): the bot fails safe, says
what it did in the e-parcours, and a mapping edit alone makes it work again.

Real Chromium against the sandbox, whose ``Faults`` knobs switch each changed shape on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext

from bot.config import Settings
from bot.errors import BusinessException, SystemException
from bot.flows.double_entry import double_entry
from bot.models import ItemState, SelfAssessment
from bot.pages.session import TargetSession
from bot.review.export import export_exceptions
from bot.runner import RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.workqueue import WorkItem, WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.flows import make_flow_settings
from tests.fixtures.queue import make_assessment
from tests.fixtures.runner import enqueue_batch, run_settings
from tests.fixtures.sandbox import MAPPINGS

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]
Adapted = Callable[..., TargetSession]


def test_saved_then_alerts_unreadable_is_its_own_state_naming_the_saved_step1(
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    sandbox: RunningSandbox,
    work_queue: WorkQueue,
    tmp_path: Path,
) -> None:
    sandbox.set_faults(alerts_colour_only=True)
    item = leased(make_assessment(reference="AE-COLOUR"))

    with item:
        double_entry(target_session, item, flow_settings)

    (saved,) = sandbox.step1s()
    # Not a plain failure: the reviewer gets it, told the STEP 1 exists and where.
    assert item.outcome is ItemState.NEEDS_REVIEW
    assert isinstance(item.error, BusinessException)
    assert item.error.code == "step1_saved_unchecked"
    assert str(item.error.message).startswith("Saisie faite, alertes non lues")
    assert f"évaluation {saved['id']}" in item.error.message
    assert "« »" not in item.error.message  # the colour-only status is said, not quoted empty
    assert "couleur" in item.error.message
    target = item.result["target"]
    assert target["step1_id"] == str(saved["id"])
    assert target["step1_saved_by_bot"] is True
    assert target["read_back"] is False
    assert target["dossier_created"] is True
    assert target["step1_url"].endswith(f"/evaluations/{saved['id']}")

    # The review file a person opens says it too, with the link.
    export = export_exceptions(work_queue, tmp_path / "review")
    text = export.csv.read_text(encoding="utf-8-sig")
    assert "Saisie faite, alertes non lues" in text
    assert f"/evaluations/{saved['id']}" in text
    assert "NON relue" in text


def test_run_report_says_what_is_in_the_target_for_each_item(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    [ref] = enqueue_batch(work_queue, 1, prefix="AE-SHAPE")
    sandbox.set_faults(alerts_colour_only=True)

    summary = run_batch(settings, work_queue, RunOptions())

    (saved,) = sandbox.step1s()
    assert work_queue.get(ref).state is ItemState.NEEDS_REVIEW  # not "failed": a person looks
    html = write_run_report(summary, settings.reports_dir).read_text(encoding="utf-8")
    assert "Saisie faite, alertes non lues" in html
    assert f"STEP 1 enregistrée par le robot (évaluation {saved['id']}), NON relue" in html
    assert f"/evaluations/{saved['id']}" in html
    assert "TESTRUN" not in html  # ids and links only, never the usager's name


def test_system_failure_before_any_save_says_nothing_was_saved(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(extra_field="required")
    item = leased(make_assessment(reference="AE-REQ"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert sandbox.counts()["step1"] == 0
    assert isinstance(item.error, SystemException)
    assert item.error.code == "ui_changed"
    assert "Lieu de l'évaluation" in item.error.message
    assert "step1.extra_fields" in item.error.message
    assert "Aucune STEP 1 enregistrée par le robot." in item.error.details
    assert item.result["target"]["step1_id"] is None


PLACE = "Lieu de l'évaluation"
CONFIRM = "Confirmez-vous l'enregistrement définitif de cette évaluation ?"


def _mapping_with(tmp_path: Path, **step1: dict[str, str]) -> Path:
    """The standard mapping plus step1 keys: the edit a person makes after an update."""
    data = yaml.safe_load((MAPPINGS / "target.yaml").read_text(encoding="utf-8"))
    data["step1"].update(step1)
    path = tmp_path / "target-adapted.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def adapted(browser: Browser, sandbox: RunningSandbox, tmp_path: Path) -> Iterator[Adapted]:
    """``adapted(**step1_keys)``: a logged-in session whose mapping has these step1 keys."""
    contexts: list[BrowserContext] = []

    def _session(**step1: dict[str, str]) -> TargetSession:
        mapping = _mapping_with(tmp_path, **step1)
        settings = make_flow_settings(sandbox.base_url, tmp_path, mapping=mapping)
        context = browser.new_context()
        contexts.append(context)
        session = TargetSession(context, settings)
        session.ensure_logged_in()
        return session

    yield _session
    for context in contexts:
        context.close()


# --- a new field with a default value ------------------------------------------------------


def test_new_field_with_a_default_stops_before_saving_naming_it_and_its_value(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(extra_field="default")
    item = leased(make_assessment(reference="AE-DEFAULT"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert sandbox.counts()["step1"] == 0  # "Cabinet médical" was not saved by default
    assert isinstance(item.error, SystemException)
    assert item.error.code == "ui_changed"
    assert f"« {PLACE} » (valeur « Cabinet médical »)" in item.error.message
    assert "Rien n'a été enregistré" in item.error.message


def test_new_field_declared_in_the_mapping_is_set_and_read_back_as_intended(
    adapted: Adapted, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(extra_field="default")
    session = adapted(extra_fields={PLACE: "Domicile"})
    item = leased(make_assessment(reference="AE-DECLARED"))

    with item:
        double_entry(session, item, session.settings)

    assert item.outcome is ItemState.DONE, item.error
    (saved,) = sandbox.step1s()
    assert saved["answers"]["place"] == "Domicile"  # what the mapping asked, not the default
    assert item.result["target"]["read_back"] is True


def test_new_required_field_declared_in_the_mapping_is_filled(
    adapted: Adapted, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(extra_field="required")
    session = adapted(extra_fields={PLACE: "Cabinet médical"})
    item = leased(make_assessment(reference="AE-REQUIRED-OK"))

    with item:
        double_entry(session, item, session.settings)

    assert item.outcome is ItemState.DONE, item.error
    (saved,) = sandbox.step1s()
    assert saved["answers"]["place"] == "Cabinet médical"


def test_saved_step1_with_a_rubric_outside_the_mapping_goes_to_a_person(
    adapted: Adapted,
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    work_queue: WorkQueue,
    sandbox: RunningSandbox,
) -> None:
    # Saved through a mapping that declares the field, then read back with one that does not
    # (the standard mapping finds the STEP 1 already there and only reads it).
    sandbox.set_faults(extra_field="default")
    first = leased(make_assessment(reference="AE-EXTRA-1"))
    with first:
        double_entry(adapted(extra_fields={PLACE: "Domicile"}), first, flow_settings)
    assert first.outcome is ItemState.DONE
    sandbox.set_faults(extra_field="none")
    again = leased(make_assessment(reference="AE-EXTRA-2"))

    with again:
        double_entry(target_session, again, flow_settings)

    assert again.outcome is ItemState.NEEDS_REVIEW
    assert isinstance(again.error, BusinessException)
    assert again.error.code == "step1_unknown_field"
    assert f"« {PLACE} » = « Domicile »" in again.error.message
    assert sandbox.counts()["step1"] == 1


# --- a confirmation after "save" -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["native", "modal"])
def test_unknown_confirmation_after_save_is_refused_and_named(
    kind: str,
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_faults(save_confirm=kind)
    item = leased(make_assessment(reference=f"AE-CONFIRM-{kind}"))

    with item:
        double_entry(target_session, item, flow_settings)

    assert sandbox.counts()["step1"] == 0  # never accepted blindly
    assert isinstance(item.error, SystemException)
    assert item.error.code == "ui_changed"  # not a timeout: said at once
    assert CONFIRM in item.error.message
    assert "step1.confirmation" in item.error.message


@pytest.mark.parametrize(
    ("kind", "confirmation"),
    [("native", {"text": CONFIRM}), ("modal", {"text": CONFIRM, "button": "Confirmer"})],
)
def test_declared_confirmation_is_given_and_the_entry_completes(
    kind: str,
    confirmation: dict[str, str],
    adapted: Adapted,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_faults(save_confirm=kind)
    session = adapted(confirmation=confirmation)
    item = leased(make_assessment(reference=f"AE-CONFIRMED-{kind}"))

    with item:
        double_entry(session, item, session.settings)

    assert item.outcome is ItemState.DONE, item.error
    assert sandbox.counts()["step1"] == 1
    assert item.result["readback_differences"] == []
