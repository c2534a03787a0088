"""An identity decision does not depend on how many workers run: near twins and returning usagers
entered by 1 worker and by 4 workers end in the same states with the same dossiers; two near
twins started at the same instant by two workers never both get a dossier."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from bot.browser import launch_chromium
from bot.config import Settings
from bot.errors import BotError
from bot.flows.double_entry import double_entry
from bot.models import ItemState
from bot.pages.session import TargetSession
from bot.runner import RunOptions, run_batch
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.runner import run_settings

pytestmark = pytest.mark.browser

S = ItemState

_LOUISE = {
    "birth_name": "DURAND",
    "first_names": ("Louise",),
    "birth_date": date(1938, 3, 4),
    "sex": "F",
    "birth_insee": "37261",
    "ins": None,
}
_PAUL = {
    "birth_name": "MARTIN",
    "first_names": ("Paul",),
    "birth_date": date(1945, 7, 7),
    "sex": "M",
    "birth_insee": "69123",
    "ins": None,
}
_ANNE = {
    "birth_name": "LEROY",
    "first_names": ("Anne",),
    "birth_date": date(1950, 1, 1),
    "sex": "F",
    "birth_insee": "75056",
    "ins": None,
}

#: (reference, identity, assessed on, state expected): the queue order one worker follows.
BATCH: list[tuple[str, dict[str, Any], date, ItemState]] = [
    ("AE-TW-01", _LOUISE, date(2025, 3, 1), S.DONE),  # creates Louise's dossier
    # Same birth name, first name and birth date, another birthplace: never guess.
    ("AE-TW-02", _LOUISE | {"birth_insee": "13055"}, date(2025, 3, 1), S.NEEDS_REVIEW),
    ("AE-TW-03", _LOUISE, date(2025, 4, 1), S.DONE),  # returning: Louise's dossier again
    ("AE-TW-04", _PAUL, date(2025, 3, 2), S.DONE),
    # Another birth date, all else the same: a near match only a name search sees.
    ("AE-TW-05", _PAUL | {"birth_date": date(1945, 7, 8)}, date(2025, 3, 2), S.NEEDS_REVIEW),
    ("AE-TW-06", _PAUL, date(2025, 5, 2), S.DONE),  # returning
    ("AE-TW-07", _ANNE, date(2025, 3, 3), S.DONE),
    ("AE-TW-08", _ANNE, date(2025, 6, 3), S.DONE),  # returning
]


def _run(sandbox: RunningSandbox, data: Path, workers: int) -> tuple[dict[str, ItemState], Any]:
    """Reset the sandbox, queue the batch afresh, run it; the states and the usagers created."""
    sandbox.reset()
    # Generous timeouts: four browsers on a busy machine must not turn into retries.
    settings = run_settings(sandbox, data, screenshots="off", timeout_ms=15_000)
    with open_queue(settings.queue_path) as queue:
        for row, (reference, identity, assessed_on, _) in enumerate(BATCH, start=2):
            queue.enqueue(
                make_assessment(reference=reference, identity=identity, assessed_on=assessed_on),
                source="jumeaux.xlsx",
                row=row,
            )
        run_batch(settings, queue, RunOptions(workers=workers))
        states = {v.reference: v.state for v in queue.items()}
    usagers = Counter(
        (u["birth_name"], u["first_names"], u["birth_date"], u["sex"], u["birth_insee"])
        for u in sandbox.usagers()
    )
    return states, usagers


@pytest.mark.timeout(900)
def test_near_twins_and_returning_usagers_end_the_same_with_1_or_4_workers(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    one_states, one_usagers = _run(sandbox, tmp_path / "one", workers=1)
    four_states, four_usagers = _run(sandbox, tmp_path / "four", workers=4)

    assert one_states == {reference: state for reference, _, _, state in BATCH}
    assert four_states == one_states
    assert four_usagers == one_usagers
    # One dossier per person, the near twins sent to a person instead of created.
    assert sorted(name for name, *_ in one_usagers.elements()) == ["DURAND", "LEROY", "MARTIN"]
    assert sum(one_usagers.values()) == 3
    assert sandbox.counts()["duplicate_usagers"] == 0
    assert sandbox.counts()["step1"] == 6


def _enter_at_the_same_moment(
    settings: Settings, queue_path: Path, reference: str, start: threading.Barrier, codes: list[str]
) -> None:
    """One worker: its own Chromium and session, logged in; the flow starts with the others."""
    try:
        with sync_playwright() as p, open_queue(queue_path) as queue:
            browser = launch_chromium(p)
            session = TargetSession(browser.new_context(), settings)
            session.ensure_logged_in()
            (item,) = queue.lease(f"w-{reference}", references=[reference])
            start.wait(timeout=120)
            with item:
                try:
                    double_entry(session, item, settings)
                except BotError as e:
                    codes.append(e.code)
                    raise
            browser.close()
    except Exception as e:  # the test reads the queue; a crash is reported too
        codes.append(type(e).__name__)


@pytest.mark.timeout(600)
def test_near_twins_entered_at_the_same_instant_never_both_get_a_dossier(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # Two workers, both logged in, start the flow of two near twins at once: each search would
    # find nobody if they ran side by side. The lock on what the search looks at (birth date)
    # makes the second search after the first creation.
    settings = run_settings(sandbox, tmp_path, screenshots="off", timeout_ms=15_000)
    twins = [("AE-RACE-1", _LOUISE), ("AE-RACE-2", _LOUISE | {"birth_insee": "13055"})]
    with open_queue(settings.queue_path) as queue:
        for row, (reference, identity) in enumerate(twins, start=2):
            queue.enqueue(
                make_assessment(reference=reference, identity=identity),
                source="jumeaux.xlsx",
                row=row,
            )
    start = threading.Barrier(len(twins))
    codes: list[str] = []
    workers = [
        threading.Thread(
            target=_enter_at_the_same_moment,
            args=(settings, settings.queue_path, reference, start, codes),
        )
        for reference, _ in twins
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    with open_queue(settings.queue_path) as queue:
        states = sorted(v.state for v in queue.items())
    assert states == [S.DONE, S.NEEDS_REVIEW], codes
    assert codes == ["identity_near_match"]
    assert len(sandbox.usagers()) == 1
