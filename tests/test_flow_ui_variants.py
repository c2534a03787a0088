"""Screens changed in shape by a tool update (issue 17), one sandbox UI variant each: with the
standard mapping the bot fails safe (no wrong answer saved) and says what the screen shows now
and which mapping key to change; with the variant's mapping (mappings/variants/) it works and
the STEP 1 the e-parcours keeps holds exactly the answers intended.

Real Chromium against the sandbox switched to each variant (``ui_variant``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from bot.config import Settings
from bot.errors import BusinessException, SystemException
from bot.flows.double_entry import double_entry
from bot.models import ItemState, SelfAssessment
from bot.pages.session import TargetSession
from bot.review.export import export_exceptions
from bot.runner import RunOptions, run_batch
from bot.workqueue import WorkItem, WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.answers import step1_answers
from tests.fixtures.flows import make_flow_settings, open_new_step1
from tests.fixtures.queue import TEST_IDENTITY, make_assessment
from tests.fixtures.runner import enqueue_batch, run_settings
from tests.fixtures.sandbox import MAPPINGS

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]
VariantSession = Callable[[str], TargetSession]

#: Answers that use both "yes" and "no" and an alert, so a swapped or misread answer shows.
ANSWERS = step1_answers(
    memory_complaint=True,
    orientation_day_ok=False,
    orientation_place_ok=False,
    appetite_loss=True,
    chair_rise_seconds=12.5,
)

#: Variant → what the standard mapping's message must say (what the screen shows now, and the
#: mapping key to change). All of them stop before saving, but the alerts' wording, read after.
STANDARD_MAPPING_STOPS = {
    "yesno_select": [
        "« Plainte de mémoire aggravée au cours des 6 derniers mois » sous forme de liste "
        "déroulante",
        "step1.controls.memory_complaint avec kind: select",
    ],
    "yesno_swapped": [
        "« L'année en cours » propose « Incorrect », « Correct » au lieu de « Oui » et « Non »",
        "step1.controls.orientation_year_ok ('yes' et 'no')",
    ],
    "chair_not_done": [
        "plus la question « Test du lever de chaise réalisé »",
        "« Non réalisé » (case à cocher)",
        "step1.radiogroups.chair_rise_done",
        "step1.controls.chair_rise_done",
    ],
    "save_renamed": [
        "ne montre pas le bouton « Enregistrer » (boutons affichés :",
        "« Valider et transmettre »",
        "step1.buttons.save",
    ],
}


def _saved_answers(sandbox: RunningSandbox) -> dict[str, Any]:
    (saved,) = sandbox.step1s()
    answers: dict[str, Any] = saved["answers"]
    return answers


@pytest.fixture
def variant_session(
    browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> Iterator[VariantSession]:
    """``variant_session(name)``: the sandbox switched to that variant, and a logged-in session
    whose mapping is mappings/variants/<name>.yaml (the mapping edit alone)."""
    contexts: list[BrowserContext] = []

    def _session(variant: str) -> TargetSession:
        sandbox.set_faults(ui_variant=variant)
        mapping = MAPPINGS / "variants" / f"{variant}.yaml"
        settings = make_flow_settings(sandbox.base_url, tmp_path, mapping=mapping)
        context = browser.new_context()
        contexts.append(context)
        session = TargetSession(context, settings)
        session.ensure_logged_in()
        return session

    yield _session
    for context in contexts:
        context.close()


@pytest.mark.parametrize("variant", sorted(STANDARD_MAPPING_STOPS))
def test_standard_mapping_stops_before_saving_and_names_the_key_to_change(
    variant: str,
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_faults(ui_variant=variant)
    item = leased(make_assessment(reference=f"AE-STD-{variant}", answers=ANSWERS))

    with item:
        double_entry(target_session, item, flow_settings)

    assert sandbox.counts()["step1"] == 0  # nothing saved that nobody chose
    assert isinstance(item.error, SystemException)
    assert item.error.code == "ui_changed", item.error.message
    for said in STANDARD_MAPPING_STOPS[variant]:
        assert said in item.error.message
    assert "Rien n'a été" in item.error.message
    assert "Aucune STEP 1 enregistrée par le robot." in item.error.details


def test_standard_mapping_on_reworded_alerts_saves_the_right_answers_and_goes_to_a_person(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(ui_variant="alerts_wording")
    item = leased(make_assessment(reference="AE-STD-WORDING", answers=ANSWERS))

    with item:
        double_entry(target_session, item, flow_settings)

    # The answers were read back on the form before saving: they are the intended ones.
    assert _saved_answers(sandbox) == ANSWERS
    assert item.outcome is ItemState.NEEDS_REVIEW
    assert isinstance(item.error, BusinessException)
    assert item.error.code == "step1_saved_unchecked"
    assert "« À surveiller – Proposer une STEP 2 » pour le domaine « Cognition »" in (
        item.error.message
    )
    assert "evaluation.alerts.status" in item.error.message
    assert item.result["target"]["step1_saved_by_bot"] is True


@pytest.mark.parametrize(
    ("variant", "changes"),
    [
        ("yesno_select", {}),
        ("yesno_swapped", {}),
        ("chair_not_done", {}),
        ("chair_not_done", {"chair_rise_seconds": None}),
        ("save_renamed", {}),
        ("alerts_wording", {}),
    ],
    ids=["yesno_select", "yesno_swapped", "chair_done", "chair_not_done", "save", "wording"],
)
def test_variant_mapping_alone_makes_it_work_and_saves_exactly_the_intended_answers(
    variant: str,
    changes: dict[str, Any],
    variant_session: VariantSession,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    session = variant_session(variant)
    answers = ANSWERS | changes
    item = leased(make_assessment(reference=f"AE-VAR-{variant}", answers=answers))

    with item:
        double_entry(session, item, session.settings)

    assert item.outcome is ItemState.DONE, item.error
    assert _saved_answers(sandbox) == answers
    assert item.result["readback_differences"] == []
    assert item.result["target"]["read_back"] is True
    assert item.result["alerts"]["target"]["cognition"] is True  # the panel was read


def test_answers_in_the_other_order_are_chosen_by_their_text_with_the_standard_mapping(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    # Only the order changes for the questions answered Oui / Non: nothing to adapt for them.
    sandbox.set_faults(ui_variant="yesno_swapped", renamed_texts={})
    session = target_session
    form = open_new_step1(session, sandbox, "ORDRE")
    form.set_field("memory_complaint", True)
    form.set_field("appetite_loss", False)

    assert form.read_fields(["memory_complaint", "appetite_loss"]) == {
        "memory_complaint": True,
        "appetite_loss": False,
    }


@pytest.mark.parametrize("variant", ["columns_reordered", "alerts_icon"])
def test_shapes_read_by_header_and_accessible_name_need_no_mapping_edit(
    variant: str,
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    sandbox: RunningSandbox,
) -> None:
    # columns_reordered: the results are read by column header, so the known usager is found
    # (not created twice); alerts_icon: the status is a coloured mark named for assistive
    # technologies, read by that name.
    sandbox.set_faults(ui_variant=variant)
    known = sandbox.add_usager(
        birth_name=TEST_IDENTITY["birth_name"],
        first_names=list(TEST_IDENTITY["first_names"]),
        birth_date=TEST_IDENTITY["birth_date"].isoformat(),
        sex=TEST_IDENTITY["sex"],
        birth_insee=TEST_IDENTITY["birth_insee"],
        ins=TEST_IDENTITY["ins"],
    )
    item = leased(make_assessment(reference=f"AE-SAME-{variant}", answers=ANSWERS))

    with item:
        result = double_entry(target_session, item, flow_settings)

    assert item.outcome is ItemState.DONE, item.error
    assert not result.created_usager
    assert result.dossier_id == str(known)
    assert sandbox.counts()["usagers"] == 1
    assert _saved_answers(sandbox) == ANSWERS
    assert item.result["alerts"]["target"]["cognition"] is True


def test_dossiers_created_before_the_form_failed_reach_the_reviewer_with_their_links(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    # A run meets a STEP 1 form it cannot fill after creating each usager's dossier: every
    # dossier left without a STEP 1 is in the review file, with its link, so nobody re-creates
    # it nor wonders where it came from.
    settings = run_settings(sandbox, tmp_path, max_attempts=1)
    enqueue_batch(work_queue, 2, prefix="AE-NOFORM")
    sandbox.set_faults(ui_variant="yesno_select")

    run_batch(settings, work_queue, RunOptions())

    assert sandbox.counts()["step1"] == 0
    created = sandbox.usagers()
    assert len(created) == 2
    text = export_exceptions(work_queue, tmp_path / "review").csv.read_text(encoding="utf-8-sig")
    for usager in created:
        assert f"Dossier usager {usager['id']} créé par le robot : " in text
        assert f"{sandbox.base_url}/usagers/{usager['id']}" in text
    assert text.count("Aucune STEP 1 enregistrée par le robot.") == 2
    assert "step1.controls.memory_complaint" in text  # and what to change
