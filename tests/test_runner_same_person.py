"""Two workers never handle two self-assessments of the same person at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.runner import RunOptions, run_batch
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.queue import make_assessment
from tests.fixtures.runner import run_settings


def test_a_returning_usager_on_two_workers_gets_one_dossier_and_two_step1s(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    # The same person assessed twice, queued together: without the identity lock both workers
    # search at once, find nothing, and both create the dossier.
    for ref, day in (("AE-SAME-1", date(2025, 3, 14)), ("AE-SAME-2", date(2025, 9, 2))):
        work_queue.enqueue(make_assessment(reference=ref, assessed_on=day), source="t.xlsx")

    summary = run_batch(run_settings(sandbox, tmp_path), work_queue, RunOptions(workers=2))

    assert summary.counts == {"done": 2}
    counts = sandbox.counts()
    assert (counts["usagers"], counts["step1"]) == (1, 2)
    assert counts["duplicate_usagers"] == 0
