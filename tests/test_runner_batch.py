"""The batch run against the sandbox in real Chromium: outcomes, breaker, workers, dry run, pause."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.config import Settings
from bot.models import ItemState
from bot.runner import PauseChoice, PauseRequest, RunEvent, RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_settings

S = ItemState


def _untouched(queue: WorkQueue, reference: str) -> bool:
    """Still pending, never leased: its history holds the enqueue row only."""
    view = queue.get(reference)
    return view.state == S.PENDING and view.attempts == 0 and len(queue.history(reference)) == 1


def test_batch_enters_every_item_and_writes_the_report(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    refs = enqueue_batch(work_queue, 3)
    events: list[RunEvent] = []

    summary = run_batch(settings, work_queue, RunOptions(), on_event=events.append)

    assert summary.counts == {"done": 3}
    assert summary.exit_code == 0
    assert summary.stopped_reason is None
    assert [work_queue.get(r).state for r in refs] == [S.DONE] * 3
    assert sandbox.counts()["step1"] == 3
    assert sandbox.counts()["duplicate_step1"] == 0
    assert events[0].kind == "run_started"
    assert events[0].total == 3
    assert [e.reference for e in events if e.kind == "item_finished"] == refs
    assert events[-1].kind == "run_finished"

    report = write_run_report(summary, settings.reports_dir)
    html = report.read_text(encoding="utf-8")
    assert report.name.startswith("run-")
    assert report.stat().st_mode & 0o777 == 0o600
    assert settings.reports_dir.stat().st_mode & 0o777 == 0o700
    assert all(r in html for r in refs)
    assert "TESTRUN" not in html  # the usagers' names never reach the report


def test_discordant_alerts_go_to_review_with_exit_code_1(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    [ref] = enqueue_batch(work_queue, 1)
    sandbox.set_faults(wrong_domain="vision")  # the target computes vision inverted

    summary = run_batch(settings, work_queue, RunOptions())

    assert summary.counts == {"needs_review": 1}
    assert summary.exit_code == 1
    [record] = summary.exceptions
    assert record.category == "business"
    assert work_queue.get(ref).state == S.NEEDS_REVIEW
    html = write_run_report(summary, settings.reports_dir).read_text(encoding="utf-8")
    assert record.reason in html
    assert "data:image/png;base64," in html  # the flow's screenshots, embedded


def test_circuit_breaker_stops_the_run_and_leaves_the_rest_untouched(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path, timeout_ms=1_000, circuit_breaker=3)
    refs = enqueue_batch(work_queue, 5)
    sandbox.set_faults(error_rate=1.0)

    summary = run_batch(settings, work_queue, RunOptions())

    assert summary.stopped_reason == "circuit_breaker"
    assert "3 erreurs techniques de suite" in summary.message
    assert summary.exit_code == 2
    assert [work_queue.get(r).state for r in refs[:3]] == [S.RETRY_WAIT] * 3
    assert all(_untouched(work_queue, r) for r in refs[3:])
    # Each technical failure leaves a private full-page screenshot; a first attempt is not
    # traced (ICOPE_BOT_TRACES=on-retry, the default).
    evidence = [Path(p) for p in work_queue.get(refs[0]).evidence]
    assert {p.suffix for p in evidence} == {".png"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in evidence)
    assert all(refs[0] in str(p) for p in evidence)


def test_an_item_failing_again_keeps_the_trace_of_its_retry_not_of_its_first_attempt(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    """Playwright's "on-first-retry": the trace costs every traced item, so only what failed
    once is traced; its retry's trace opens in the trace viewer and shows the failing page."""
    settings = run_settings(
        sandbox, tmp_path, timeout_ms=1_000, max_attempts=2, backoff_seconds=0, circuit_breaker=5
    )
    [ref] = enqueue_batch(work_queue, 1)
    sandbox.set_faults(error_rate=1.0)

    run_batch(settings, work_queue, RunOptions())  # attempt 1, then its retry in the same run

    assert [h.to_state for h in work_queue.history(ref)][-2:] == [S.IN_PROGRESS, S.FAILED]
    assert work_queue.get(ref).attempts == 2
    assert work_queue.get(ref).state == S.FAILED
    evidence = [Path(p) for p in work_queue.get(ref).evidence]
    traces = [p for p in evidence if p.suffix == ".zip"]
    assert [p.name for p in traces] == ["trace-2.zip"]
    assert {p.name for p in evidence if p.suffix == ".png"} >= {"echec-1.png", "echec-2.png"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in evidence)
    with zipfile.ZipFile(traces[0]) as z:
        trace = b"".join(z.read(n) for n in z.namelist() if n.endswith(".trace"))
    assert ref.encode() in trace  # the chunk is titled with the item
    assert b"frame-snapshot" in trace  # the pages as they were, action by action


def test_with_traces_on_every_attempt_is_traced_and_with_traces_off_none(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    refs = enqueue_batch(work_queue, 2)
    sandbox.set_faults(error_rate=1.0)
    for ref, traces in zip(refs, ("on", "off"), strict=True):
        settings = run_settings(
            sandbox, tmp_path, timeout_ms=1_000, circuit_breaker=5, traces=traces
        )
        run_batch(settings, work_queue, RunOptions(references=[ref]))
        suffixes = {Path(p).suffix for p in work_queue.get(ref).evidence}
        assert suffixes == ({".png", ".zip"} if traces == "on" else {".png"}), traces


def test_two_workers_share_the_batch_without_duplicates(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    refs = enqueue_batch(work_queue, 3)

    summary = run_batch(settings, work_queue, RunOptions(workers=2))

    assert summary.counts == {"done": 3}
    assert len({r.worker for r in summary.items}) == 2
    assert sorted(r.reference for r in summary.items) == refs
    counts = sandbox.counts()
    assert counts["step1"] == 3
    assert counts["duplicate_step1"] == 0
    assert counts["duplicate_usagers"] == 0
    for ref in refs:
        leases = [h for h in work_queue.history(ref) if h.to_state == S.IN_PROGRESS]
        assert len(leases) == 1


def test_dry_run_fills_but_saves_nothing_and_items_stay_pending(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    refs = enqueue_batch(work_queue, 2)

    summary = run_batch(settings, work_queue, RunOptions(dry_run=True))

    assert summary.counts == {"pending": 2}
    assert summary.exit_code == 0
    assert all(r.dry_run for r in summary.items)
    assert sandbox.counts()["step1"] == 0
    for ref in refs:
        view = work_queue.get(ref)
        assert view.state == S.PENDING
        assert view.attempts == 0


def test_pause_on_exception_asks_and_abort_stops_the_run(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path, timeout_ms=1_000)
    refs = enqueue_batch(work_queue, 3)
    sandbox.set_faults(error_rate=1.0)
    asked: list[PauseRequest] = []

    def answer(request: PauseRequest) -> PauseChoice:
        asked.append(request)
        return PauseChoice.ABORT

    summary = run_batch(settings, work_queue, RunOptions(pause_on_exception=True), ask=answer)

    assert [r.reference for r in asked] == refs[:1]
    assert asked[0].outcome == S.RETRY_WAIT
    assert summary.stopped_reason == "interrupted"
    assert work_queue.get(refs[0]).state == S.RETRY_WAIT
    assert all(_untouched(work_queue, r) for r in refs[1:])


def test_pause_skip_keeps_the_item_out_of_this_run(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    # Backoff 0: without "passer", the failed item would come straight back in this run.
    settings = run_settings(sandbox, tmp_path, timeout_ms=1_000, backoff_seconds=0)
    [ref] = enqueue_batch(work_queue, 1)
    sandbox.set_faults(error_rate=1.0)
    asked: list[PauseRequest] = []

    def answer(request: PauseRequest) -> PauseChoice:
        asked.append(request)
        return PauseChoice.SKIP

    summary = run_batch(settings, work_queue, RunOptions(pause_on_exception=True), ask=answer)

    assert len(asked) == 1
    assert summary.stopped_reason is None
    view = work_queue.get(ref)
    assert view.state == S.RETRY_WAIT
    assert view.attempts == 1


def test_pause_on_exception_needs_a_single_worker(work_queue: WorkQueue, tmp_path: Path) -> None:
    settings = Settings(queue_path=tmp_path / "q.db")
    with pytest.raises(ValueError, match="un seul robot"):
        run_batch(settings, work_queue, RunOptions(workers=2, pause_on_exception=True))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_takes_a_fresh_context_every_n_items_and_logs_in_again(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path, workers: int
) -> None:
    """Chromium's renderer of a context grows with every item and keeps it: the context is
    replaced every ``items_per_context`` items (own Chromium or the shared one), with the tool's
    session cookie: no new login (no one-time code), nothing entered twice."""
    from bot.logs import logger

    settings = run_settings(sandbox, tmp_path, items_per_context=2)
    refs = enqueue_batch(work_queue, 5)
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message}")
    try:
        summary = run_batch(settings, work_queue, RunOptions(workers=workers))
    finally:
        logger.remove(sink)

    assert summary.counts == {"done": 5}
    assert sorted(r.reference for r in summary.items) == refs
    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"], counts["duplicate_usagers"]) == (5, 0, 0)
    renewed = [line for line in lines if line.startswith("Contexte du navigateur renouvelé")]
    logins = [line for line in lines if line.startswith("Connecté à l'e-parcours")]
    per_worker = [
        sum(1 for r in summary.items if r.worker == w) for w in {r.worker for r in summary.items}
    ]
    expected_contexts = sum((n + 1) // 2 for n in per_worker)
    assert len(renewed) == expected_contexts - len(per_worker)
    assert len(logins) == len(per_worker)  # one login per worker: the session goes on
