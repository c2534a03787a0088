"""``icope-bot status`` and ``icope-bot purge`` on a real queue file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import open_queue, parse_age, utcnow
from tests.fixtures.queue import FakeClock, make_assessment

S = ItemState


@pytest.fixture
def cli_queue(queue_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings point at a test queue and a test log folder."""
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(queue_path))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))
    yield queue_path
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def seed(path: Path, clock: FakeClock) -> None:
    """Two pending, one needs_review, one done; the review item is the oldest."""
    with open_queue(path, clock=clock) as q:
        for ref in ("REVIEW", "P1", "P2", "DONE"):
            q.enqueue(make_assessment(reference=ref), source="t.csv")
            clock.advance(minutes=30)
        for ref, to in (("REVIEW", S.NEEDS_REVIEW), ("DONE", S.DONE)):
            q.transition(ref, S.IN_PROGRESS, actor="bot:w1")
            q.transition(ref, to, actor="bot:w1", reason="fin")


def test_status_json_has_stable_keys_and_no_identity(
    cli_queue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(cli_queue, FakeClock(utcnow() - timedelta(hours=3)))

    assert main(["status", "--json"]) == 0

    out = capsys.readouterr().out
    summary = json.loads(out)
    assert set(summary) == {"counts", "oldest_waiting", "total", "data"}
    assert summary["counts"] == {s.value: 0 for s in S} | {
        "pending": 2,
        "needs_review": 1,
        "done": 1,
    }
    assert summary["total"] == 4
    oldest = summary["oldest_waiting"]
    assert set(oldest) == {"reference", "state", "created_at", "age_seconds"}
    assert (oldest["reference"], oldest["state"]) == ("REVIEW", "needs_review")
    assert 3 * 3600 - 60 <= oldest["age_seconds"] <= 3 * 3600 + 60
    assert "TESTICOPE" not in out
    assert "1940" not in out


def test_status_on_an_empty_queue(cli_queue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["total"], summary["oldest_waiting"]) == (0, None)


def test_status_table_reads_in_french(cli_queue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(cli_queue, FakeClock(utcnow() - timedelta(days=2)))

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    for text in ("File de travail", "en attente", "à vérifier", "terminé", "Total"):
        assert text in out
    assert "Plus ancien en attente : REVIEW (à vérifier, depuis 2 j" in out
    assert "TESTICOPE" not in out


def test_purge_erases_old_finished_payloads_and_keeps_counts(
    cli_queue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(cli_queue, FakeClock(utcnow() - timedelta(days=100)))

    assert main(["purge", "--older-than", "90d"]) == 0

    assert "1 élément(s) terminé(s) purgé(s)" in capsys.readouterr().out
    with open_queue(cli_queue) as q:
        assert q.get("DONE").assessment is None
        assert q.get("REVIEW").assessment is not None
        assert q.counts()[S.DONE] == 1
        assert [h.event for h in q.history("DONE")][-1] == "purge"
    assert main(["purge", "--older-than", "90d"]) == 0
    assert "0 élément(s)" in capsys.readouterr().out


def test_purge_refuses_an_age_it_does_not_understand(
    cli_queue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["purge", "--older-than", "3 mois"])
    assert exit_info.value.code == 2
    assert "non comprise" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_age_reads_days_hours_minutes(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "90", "d", "-1d", "1.5h", "2w", "90 days"])
def test_parse_age_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="non comprise"):
        parse_age(text)
