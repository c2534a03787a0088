"""Alerts and read-back: every combination (pairs of domains in make test, all 64 in make chaos),
every threshold, and each way they can disagree."""

from __future__ import annotations

import itertools
import stat
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from bot.browser import launch_chromium
from bot.config import ScreenshotMode, Settings
from bot.errors import BusinessException, SystemException
from bot.flows.double_entry import double_entry
from bot.models import DOMAINS, ItemState, SelfAssessment
from bot.pages.evaluation import EvaluationPage
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage
from bot.workqueue import WorkItem, WorkQueue, open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.chaos import ChaosScale
from tests.fixtures.queue import make_assessment
from tests.fixtures.sandbox import CLEAR_STEP1, add_usager

pytestmark = pytest.mark.browser

Leased = Callable[[SelfAssessment], WorkItem]

#: How each domain is made to alert or not, thresholds on both sides. Combinations cycle
#: through these, so the entries cover every boundary value of the STEP 1 rules.
WAYS: dict[str, dict[bool, list[dict[str, Any]]]] = {
    "cognition": {
        True: [{"words_recalled": 2}, {"orientation_day_ok": False}, {"words_recalled": 0}],
        False: [{"words_recalled": 3}, {"memory_complaint": True}],  # complaint alone: no alert
    },
    "mobilite": {
        True: [
            {"chair_rise_seconds": 14.1},
            {"chair_rise_seconds": None},
            {"chair_rise_seconds": 16.5},
        ],
        False: [{"chair_rise_seconds": 14.0}, {"chair_rise_seconds": 9.8}],
    },
    "nutrition": {
        True: [{"weight_loss_kg": 3.1}, {"appetite_loss": True}],
        False: [{"weight_loss_kg": 3.0}, {"weight_loss_kg": 0.0}],
    },
    "vision": {True: [{"vision_problem": True}], False: [{"vision_problem": False}]},
    "audition": {
        True: [
            {"hearing_test": "hearwho", "hearing_score": 49},
            {"hearing_test": "audiometrie", "hearing_audiometry_db": 36},
            {"hearing_test": "chuchotement", "hearing_whisper_passed": False},
            {"hearing_test": "aucun", "hearing_problem_reported": True},
        ],
        False: [
            {"hearing_test": "hearwho", "hearing_score": 50},
            {"hearing_test": "audiometrie", "hearing_audiometry_db": 35},
            {"hearing_test": "chuchotement", "hearing_whisper_passed": True},
            {"hearing_test": "aucun", "hearing_problem_reported": False},
        ],
    },
    "psychologie": {
        True: [{"mood_down": True}, {"mood_little_interest": True}],
        False: [{}],
    },
}


#: ``make test``'s combinations (bit i = domain i alerts): none, all, each domain alone, each
#: domain missing alone. Every pair of domains is seen in its four states (no alert, one, the
#: other, both) and each (domain, alert) pair 7 times, so every way in WAYS still comes up.
#: ``make chaos`` enters all 64.
REDUCED_COMBINATIONS = sorted(
    {0, 63} | {1 << i for i in range(len(DOMAINS))} | {63 ^ (1 << i) for i in range(len(DOMAINS))}
)


def combinations(
    numbers: list[int],
) -> list[tuple[int, dict[str, bool], dict[str, Any], set[tuple[str, bool, int]]]]:
    """These alert combinations: number, expected alerts, answers, the ways used per domain.

    Each domain takes its ways to alert (or not) in turn, so every threshold is crossed.
    """
    turn: dict[tuple[str, bool], int] = {}
    out = []
    for n in numbers:
        expected = {d: bool(n >> i & 1) for i, d in enumerate(DOMAINS)}
        answers = dict(CLEAR_STEP1)
        used = set()
        for domain, alert in expected.items():
            ways = WAYS[domain][alert]
            k = turn.get((domain, alert), 0) % len(ways)
            turn[(domain, alert)] = k + 1
            answers |= ways[k]
            used.add((domain, alert, k))
        out.append((n, expected, answers, used))
    return out


def enter_all(
    session: TargetSession,
    references: list[str],
    expected_alerts: dict[str, dict[str, bool]],
    settings: Settings,
    queue: WorkQueue,
    failures: list[tuple[object, ...]],
) -> None:
    """Enter these items one by one; note each one not done with the expected target alerts."""
    for reference in references:
        (item,) = queue.lease(f"worker-{threading.get_ident()}", 1, references=[reference])
        with item:
            double_entry(session, item, settings)
        if (
            item.outcome is not ItemState.DONE
            or item.result["alerts"]["target"] != (expected_alerts[reference])
        ):
            failures.append((reference, item.outcome, item.error, item.result.get("alerts")))


def enter_in_own_browser(
    references: list[str],
    expected_alerts: dict[str, dict[str, bool]],
    settings: Settings,
    queue_path: Path,
    failures: list[tuple[object, ...]],
) -> None:
    """A second worker: its own Playwright, Chromium, context, session and queue connection."""
    try:
        with sync_playwright() as p, open_queue(queue_path) as queue:
            browser = launch_chromium(p)
            session = TargetSession(browser.new_context(), settings)
            enter_all(session, references, expected_alerts, settings, queue, failures)
            browser.close()
    except Exception as e:  # reported by the test, not lost in the thread
        failures.append(("worker", type(e).__name__, str(e)))


@pytest.mark.slow
def test_alert_combinations_with_boundary_values_are_entered_and_read_back(
    target_session: TargetSession,
    flow_settings: Settings,
    work_queue: WorkQueue,
    queue_path: Path,
    sandbox: RunningSandbox,
    chaos_scale: ChaosScale,
) -> None:
    # All 64 combinations in make chaos; make test's 14 are the same path, fewer times.
    numbers = list(range(64)) if chaos_scale.full else REDUCED_COMBINATIONS
    expected_alerts: dict[str, dict[str, bool]] = {}
    covered: set[tuple[str, bool, int]] = set()
    for n, expected, answers, used in combinations(numbers):
        covered |= used
        identity = {
            "birth_name": f"COMBI{chr(65 + n // 26)}{chr(65 + n % 26)}",
            "first_names": ("Jeanne",),
            "birth_date": date(1930, 1, 1) + timedelta(days=37 * n),
            "ins": None,
        }
        add_usager(
            sandbox,
            birth_name=identity["birth_name"],
            first_names=["Jeanne"],
            birth_date=identity["birth_date"].isoformat(),
            sex="F",
            birth_insee="75115",
        )
        reference = f"AE-COMBI-{n:02d}"
        assessment = make_assessment(reference=reference, identity=identity, answers=answers)
        work_queue.enqueue(assessment, source="combinaisons.xlsx", row=n + 2)
        expected_alerts[reference] = expected
    all_ways = {
        (d, a, k) for d, by in WAYS.items() for a, ways in by.items() for k in range(len(ways))
    }
    assert covered == all_ways
    for a, b in itertools.combinations(DOMAINS, 2):  # every pair of domains in its four states
        assert len({(e[a], e[b]) for e in expected_alerts.values()}) == 4, (a, b)

    # Two workers, as an overnight run has: this thread's session and a second browser.
    failures: list[tuple[object, ...]] = []
    references = list(expected_alerts)
    second = threading.Thread(
        target=enter_in_own_browser,
        args=(references[1::2], expected_alerts, flow_settings, queue_path, failures),
    )
    second.start()
    enter_all(
        target_session, references[0::2], expected_alerts, flow_settings, work_queue, failures
    )
    second.join()

    assert failures == []
    counts = sandbox.counts()
    entered = len(numbers)
    assert (counts["step1"], counts["duplicate_step1"], counts["usagers"]) == (entered, 0, entered)


# --- discordances --------------------------------------------------------------------------


def test_target_computing_one_domain_wrongly_is_detected_and_explained(
    target_session: TargetSession,
    flow_settings: Settings,
    leased: Leased,
    work_queue: WorkQueue,
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_faults(wrong_domain="audition")
    settings = flow_settings.model_copy(update={"screenshots": ScreenshotMode.ONLY_ON_FAILURE})
    item = leased(make_assessment(reference="AE-WRONG"))

    with item:
        double_entry(target_session, item, settings)

    assert item.outcome is ItemState.NEEDS_REVIEW
    stored = work_queue.get("AE-WRONG")
    assert stored.error_code == "alerts_discordant"
    assert stored.reason == "Alertes discordantes : Audition"
    assert stored.details == (
        "Audition : alerte dans l'e-parcours, pas dans ICOPE et Moi ; la règle de référence "
        "ne donne pas d'alerte (aucun test, ne déclare pas de problème d'audition)\n"
        "Dans l'e-parcours :\n"
        f"- Dossier usager 1 créé par le robot : {sandbox.base_url}/usagers/1\n"
        f"- STEP 1 enregistrée par le robot (évaluation 1), relue : {sandbox.base_url}/evaluations/1"
    )
    assert stored.result is not None
    alerts = stored.result["alerts"]
    assert (alerts["app"]["audition"], alerts["target"]["audition"]) == (False, True)
    assert alerts["reference"]["audition"] is False
    assert stored.result["step1_id"] is not None
    # Only on failure: one capture of the screen the reviewer needs, private.
    (evidence,) = stored.evidence
    assert Path(evidence).name == "99-a-verifier.png"
    assert stat.S_IMODE(Path(evidence).stat().st_mode) == 0o600


def test_corrupted_app_alert_is_detected(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    # The export says nutrition alerted; the answers (and so both tools) say it did not.
    assessment = make_assessment(
        reference="AE-APP",
        app_alerts={
            "cognition": True,
            "mobilite": False,
            "nutrition": True,
            "vision": True,
            "audition": False,
            "psychologie": False,
        },
    )

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, leased(assessment), flow_settings)

    assert raised.value.code == "alerts_discordant"
    assert raised.value.details.startswith(
        "Nutrition : alerte dans ICOPE et Moi, pas dans l'e-parcours ; la règle de référence "
        "ne donne pas d'alerte"
    )


class MistypingStep1Form(Step1FormPage):
    """A broken page object: types one word more than it is given (in the one-call fill and
    when a field is typed again alike)."""

    def text_for(self, name: str, value: Any) -> str:
        if name == "words_recalled":
            value = min(int(value) + 1, 3)
        return super().text_for(name, value)


class LateKeystrokeStep1Form(Step1FormPage):
    """A value changed after the inputs were checked (a re-render, a stray keystroke)."""

    def save(self) -> EvaluationPage | Step1FormPage:
        super().set_field("words_recalled", 3)
        return super().save()


def test_mistyped_field_is_caught_before_saving(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    target_session.screen_types[Step1FormPage] = MistypingStep1Form

    with pytest.raises(SystemException) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-TYPO")), flow_settings)

    assert raised.value.code == "entry_mismatch"
    assert "« Nombre de mots rappelés (sur 3) »" in raised.value.message
    assert sandbox.counts()["step1"] == 0


def test_value_changed_after_the_check_is_caught_by_the_read_back(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    target_session.screen_types[Step1FormPage] = LateKeystrokeStep1Form
    item = leased(make_assessment(reference="AE-LATE"))  # 2 words recalled

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, item, flow_settings)

    assert raised.value.code == "readback_mismatch"
    assert raised.value.message.endswith(": Nombre de mots rappelés (sur 3)")
    assert raised.value.details.splitlines()[0] == (
        "Nombre de mots rappelés (sur 3) : attendu « 2 », relu dans l'e-parcours « 3 »"
    )
    assert item.result["readback_differences"] == [
        {"field": "words_recalled", "entered": "2", "read_back": "3"}
    ]
    # The mis-entry also explains the cognition discordance, listed after it.
    assert "Cognition : alerte dans ICOPE et Moi, pas dans l'e-parcours" in raised.value.details
