"""The run report and summary: self-contained, references only, the right exit code."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.logs import register_pii
from bot.models import ItemState
from bot.runner import ItemRecord, RunSummary
from bot.runner.report import render_run_report, write_run_report

S = ItemState

#: A 1×1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
START = datetime(2025, 6, 2, 22, 0, tzinfo=UTC)


def _record(reference: str, outcome: ItemState, seconds: float = 10.0, **kw: object) -> ItemRecord:
    category = {S.DONE: "ok", S.NEEDS_REVIEW: "business"}.get(outcome, "system")
    values: dict[str, object] = {
        "reference": reference,
        "outcome": outcome,
        "category": category,
        "reason": "",
        "error_code": None,
        "seconds": seconds,
        "attempt": 1,
        "worker": "host:1:1",
    }
    return ItemRecord(**(values | kw))  # type: ignore[arg-type]


def _summary(*records: ItemRecord, **kw: object) -> RunSummary:
    return RunSummary(
        started_at=START,
        finished_at=START + timedelta(minutes=2),
        workers=1,
        dry_run=False,
        items=list(records),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("outcomes", "stopped", "code"),
    [
        ([S.DONE, S.DONE], None, 0),
        ([S.DONE, S.NEEDS_REVIEW], None, 1),
        ([S.NEEDS_REVIEW, S.RETRY_WAIT], None, 2),
        ([S.DONE, S.FAILED], None, 2),
        ([S.DONE], "circuit_breaker", 2),
        ([S.DONE], "interrupted", 0),
        ([], None, 0),
    ],
)
def test_exit_code_says_what_the_assistant_must_do(
    outcomes: list[ItemState], stopped: str | None, code: int
) -> None:
    records = [_record(f"AE-{i}", o) for i, o in enumerate(outcomes)]
    assert _summary(*records, stopped_reason=stopped).exit_code == code


def test_an_item_retried_in_the_same_run_counts_once_with_its_last_outcome() -> None:
    summary = _summary(
        _record("AE-1", S.RETRY_WAIT, reason="délai dépassé"),
        _record("AE-1", S.DONE, attempt=2),
    )
    assert summary.counts == {"done": 1}
    assert summary.exit_code == 0
    assert len(summary.exceptions) == 1


def test_durations_median_and_p95() -> None:
    summary = _summary(*[_record(f"AE-{i}", S.DONE, seconds=float(i)) for i in range(1, 21)])
    assert summary.median_seconds == 10.5
    assert summary.p95_seconds == 19.0
    assert summary.per_minute == 10.0


def test_report_embeds_screenshots_and_never_shows_a_name(tmp_path: Path) -> None:
    shot = tmp_path / "02-alerts.png"
    shot.write_bytes(PNG)
    trace = tmp_path / "trace-1.zip"
    trace.write_bytes(b"PK")
    register_pii("Ermengarde")
    summary = _summary(
        _record("AE-1", S.DONE),
        _record(
            "AE-2",
            S.NEEDS_REVIEW,
            reason="Alertes différentes pour Ermengarde : vision",
            error_code="alerts_discordant",
            evidence=(str(shot),),
        ),
        _record("AE-3", S.RETRY_WAIT, reason="délai dépassé", evidence=(str(trace),)),
        queue_counts={"done": 1, "needs_review": 1, "retry_wait": 1, "pending": 4},
    )

    html = render_run_report(summary)

    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in html
    assert str(trace) in html  # traces are linked by path, not embedded
    assert "Ermengarde" not in html
    assert "alerts_discordant" in html
    assert "AE-2" in html
    assert 'src="http' not in html  # nothing fetched from elsewhere: the file stands alone


def test_report_file_is_private_and_two_reports_of_one_second_both_stay(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = write_run_report(_summary(_record("AE-1", S.DONE)), reports)
    second = write_run_report(_summary(_record("AE-1", S.DONE)), reports)

    assert first != second
    assert first.name.startswith("run-")
    assert first.suffix == ".html"
    assert first.stat().st_mode & 0o777 == 0o600
    assert reports.stat().st_mode & 0o777 == 0o700
