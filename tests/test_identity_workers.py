"""An identity decision does not depend on how many workers run: near twins and returning usagers
entered by 1 worker and by 4 workers end in the same states with the same dossiers."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.models import ItemState
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
