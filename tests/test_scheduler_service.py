"""The scheduler as a service: its triggers, its stop time, its jobs, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT, Settings
from bot.logs import logger
from bot.models import ItemState
from bot.sample import generate
from bot.scheduler import (
    Night,
    build_scheduler,
    cron_trigger,
    next_stop_time,
    parse_stop_at,
    scheduler_lock,
)
from bot.workqueue import open_queue
from tests.fixtures.scheduler import HOLD_LOCK
from tests.fixtures.settings import make_settings

PARIS = ZoneInfo("Europe/Paris")
S = ItemState


def offline_settings(data: Path, **changes: Any) -> Settings:
    """Settings whose files all live under ``data``; no target needed."""
    return make_settings(data, **({"logs_dir": data / "logs"} | changes))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2025-06-01T21:05", "2025-06-02T06:00"),  # evening start: tomorrow morning
        ("2025-06-02T02:00", "2025-06-02T06:00"),  # started after midnight: this morning
        ("2025-06-02T06:00", "2025-06-03T06:00"),  # exactly the stop time: the next one
        ("2025-03-29T21:05", "2025-03-30T06:00"),  # the night clocks go forward
        ("2025-10-25T21:05", "2025-10-26T06:00"),  # the night clocks go back
    ],
)
def test_stop_time_is_the_next_one_in_local_time(now: str, expected: str) -> None:
    start = datetime.fromisoformat(now).replace(tzinfo=PARIS)

    stop = next_stop_time("06:00", start, PARIS)

    assert stop == datetime.fromisoformat(expected).replace(tzinfo=PARIS)
    assert stop.utcoffset() == datetime.fromisoformat(expected).replace(tzinfo=PARIS).utcoffset()


def test_stop_at_option_takes_a_time_or_a_date_time() -> None:
    now = datetime(2025, 6, 1, 21, 5, tzinfo=PARIS)

    assert parse_stop_at("5:30", now, PARIS) == datetime(2025, 6, 2, 5, 30, tzinfo=PARIS)
    assert parse_stop_at("2025-06-01T23:00", now, PARIS) == datetime(
        2025, 6, 1, 23, 0, tzinfo=PARIS
    )
    with pytest.raises(ValueError, match="HH:MM"):
        parse_stop_at("demain matin", now, PARIS)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_stop_at("25:00", now, PARIS)


def test_default_jobs_fire_at_night_in_paris_time(tmp_path: Path) -> None:
    scheduler = build_scheduler(offline_settings(tmp_path), threading.Event())
    now = datetime(2025, 6, 1, 12, 0, tzinfo=PARIS)

    fires = {
        job.id: job.trigger.get_next_fire_time(None, now).isoformat()
        for job in scheduler.get_jobs()
    }

    assert fires == {
        "ingest": "2025-06-01T21:00:00+02:00",
        "run": "2025-06-01T21:05:00+02:00",
        "report": "2025-06-02T06:15:00+02:00",
    }


def test_an_empty_cron_line_turns_its_job_off(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path, schedule_ingest="", schedule_run_start="30 22 * * 1-5")

    scheduler = build_scheduler(settings, threading.Event())

    assert [job.id for job in scheduler.get_jobs()] == ["run", "report"]
    monday = datetime(2025, 6, 6, 23, 0, tzinfo=PARIS)  # a Friday night: next is Monday
    assert scheduler.get_job("run").trigger.get_next_fire_time(None, monday) == datetime(
        2025, 6, 9, 22, 30, tzinfo=PARIS
    )


@pytest.mark.parametrize(
    ("weekdays", "fires_on"),
    [
        ("1-5", ["lundi", "mardi", "mercredi", "jeudi", "vendredi"]),  # cron: 1 = Monday
        ("0", ["dimanche"]),  # cron: 0 and 7 are Sunday (APScheduler 3 alone says Monday)
        ("7", ["dimanche"]),
        ("sat,sun", ["samedi", "dimanche"]),
        ("*/3", ["mercredi", "samedi", "dimanche"]),  # 0, 3, 6
        ("*", ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]),
    ],
)
def test_cron_weekdays_are_read_as_crontab_reads_them(weekdays: str, fires_on: list[str]) -> None:
    names = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    trigger = cron_trigger(f"5 21 * * {weekdays}", PARIS)
    moment = datetime(2025, 6, 1, 22, 0, tzinfo=PARIS)  # a Sunday evening, after 21:05
    days = set()
    for _ in range(7):
        moment = trigger.get_next_fire_time(None, moment)
        assert (moment.hour, moment.minute) == (21, 5)
        days.add(names[moment.weekday()])
        moment = moment.replace(hour=22)

    assert days == set(fires_on)


def test_a_wrong_cron_line_is_refused_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="ligne cron à 5 champs"):
        cron_trigger("tous les soirs", PARIS)
    monkeypatch.setenv("ICOPE_BOT_SCHEDULE_REPORT", "15 6 * *")
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue" / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))

    try:
        assert main(["schedule"]) == 2
    finally:
        logger.remove()  # main() configured logging sinks into tmp_path: close them
    assert "« 15 6 * * » non comprise" in capsys.readouterr().err


def test_ingest_then_report_jobs_tell_the_night_without_a_run(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    export = generate(6, seed=7, errors=1)
    export.write(settings.inbox_dir / "export-icope.csv")
    scheduler = build_scheduler(settings, threading.Event())

    scheduler.get_job("ingest").func()
    scheduler.get_job("report").func()

    assert list(settings.inbox_dir.iterdir()) == []
    [text_path] = settings.reports_dir.glob("morning-*.txt")
    [json_path] = settings.reports_dir.glob("morning-*.json")
    text = text_path.read_text(encoding="utf-8")
    assert "export-icope.csv : 6 lue(s), 5 nouvelle(s)" in text
    assert "1 invalide(s)" in text
    assert "Lignes d'export invalides (quarantaine) à corriger ou rejeter : 1" in text
    assert "Lot : pas lancé cette nuit." in text
    assert re.search(r"^Heures de Europe/Paris \(UTC\+0[12]:00\)\.$", text, re.M)  # not UTC
    assert "en attente : 5" in text
    assert "Fichier des exceptions (1 élément(s))" in text
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["queue"]["pending"] == 5
    assert report["night"]["run"] is None
    assert report["review_export"]["count"] == 1
    assert Path(report["review_export"]["xlsx"]).is_file()
    for path in (text_path, json_path):
        assert path.stat().st_mode & 0o777 == 0o600
    assert settings.reports_dir.stat().st_mode & 0o777 == 0o700
    # references and counts only: no usager's name in what may be mailed around
    names = {row["Nom de naissance"] for row in export.rows} - {""}
    assert not any(name in text or name in json_path.read_text() for name in names)

    # The night is closed: the next report has nothing new to tell about a night.
    night = Night.load(settings.queue_path.parent / "scheduler-night.json")
    assert night is not None
    assert night.reported_at is not None
    scheduler.get_job("report").func()
    [second] = set(settings.reports_dir.glob("morning-*.txt")) - {text_path}
    assert "Aucun passage de nuit enregistré" in second.read_text(encoding="utf-8")


def test_jobs_do_nothing_once_the_scheduler_is_stopping(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    inbox_file = generate(2, seed=4).write(settings.inbox_dir / "export.csv")
    stop = threading.Event()
    scheduler = build_scheduler(settings, stop)
    stop.set()  # SIGTERM arrived while these jobs were waiting for their turn

    for job in ("ingest", "run", "report"):
        scheduler.get_job(job).func()

    assert inbox_file.exists()
    assert not settings.reports_dir.exists()


def test_ingest_job_does_nothing_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    inbox_file = generate(2, seed=3).write(settings.inbox_dir / "export.csv")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings.queue_path)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "verrou pris"

        build_scheduler(settings, threading.Event()).get_job("ingest").func()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)

    assert inbox_file.exists()
    with open_queue(settings.queue_path) as queue:
        assert sum(queue.counts().values()) == 0
    # once the other process is gone, the lock is free again
    lock = scheduler_lock(settings.queue_path)
    lock.acquire(timeout=0)
    lock.release()


def test_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    data = offline_settings(tmp_path)
    env = {
        f"ICOPE_BOT_{key.upper()}": str(getattr(data, key))
        for key in ("queue_path", "inbox_dir", "archive_dir", "reports_dir", "reviews_dir")
    }
    env["ICOPE_BOT_LOGS_DIR"] = str(tmp_path / "logs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "schedule"],
        cwd=tmp_path,  # no stray .env from the project folder
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "Planificateur démarré" in line:
            proc.send_signal(signal.SIGTERM)
            break
    _, rest = proc.communicate(timeout=30)
    log = "".join(seen) + rest

    assert proc.returncode == 0, log
    assert "rapport du matin à" in log  # the next fire times are announced
    assert "Planificateur arrêté" in log
    assert not list(Path(env["ICOPE_BOT_REPORTS_DIR"]).glob("morning-*"))
