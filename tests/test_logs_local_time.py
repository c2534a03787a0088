"""Times a person reads are in the schedule's zone with their offset, whatever the machine's zone.

The commands run as a server runs them (``TZ=UTC``); the log file, the console log lines and the
run report must still speak Paris time, with the offset that says so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.runner import RunSummary
from bot.runner.report import render_run_report

ROOT = Path(__file__).resolve().parent.parent


def _script(code: str, home: Path, zone: str = "Europe/Paris") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")}
    env |= {
        "TZ": "UTC",  # the server's own clock zone
        "PYTHONPATH": str(ROOT),
        "ICOPE_BOT_HOME": str(home),
        "ICOPE_BOT_SCHEDULE_TIMEZONE": zone,
    }
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )


def _paris_offset(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    offset = f"{moment.astimezone(ZoneInfo('Europe/Paris')):%z}"
    return f"{offset[:3]}:{offset[3:]}"


def test_log_lines_and_log_file_are_in_paris_time_with_offset(tmp_path: Path) -> None:
    # The real entry point configures logging from the settings, as for any command; then a
    # line is logged through the sinks it set up.
    done = _script(
        "from bot.cli import main; from bot.logs import logger\n"
        "main(['status', '--json']); logger.info('heure du passage'); logger.complete()",
        tmp_path,
    )
    now = datetime.now(UTC)
    offset = _paris_offset(now)

    line = next(x for x in done.stderr.splitlines() if "heure du passage" in x)
    assert re.match(rf"\d\d:\d\d:\d\d{re.escape(offset)} INFO ", line), line
    logged = [
        json.loads(x) for x in (tmp_path / "logs" / "icope-bot.jsonl").read_text().splitlines()
    ]
    record = next(r for r in logged if r["record"]["message"] == "heure du passage")
    assert record["record"]["time"]["repr"].endswith(offset)
    assert record["text"].split(" INFO")[0].endswith(offset)
    assert offset != "+00:00"  # Paris is never UTC: the test would prove nothing


def test_run_report_times_are_local_with_offset() -> None:
    from bot.logs import configure_logging

    configure_logging(console=False, timezone_name="Europe/Paris")
    summary = RunSummary(
        started_at=datetime(2025, 6, 2, 19, 5, 3, tzinfo=UTC),
        finished_at=datetime(2025, 12, 2, 20, 0, 0, tzinfo=UTC),
        workers=1,
        dry_run=False,
    )

    html = render_run_report(summary)

    assert "<td>02/06/2025 21:05:03 (UTC+02:00)</td>" in html  # summer time
    assert "<td>02/12/2025 21:00:00 (UTC+01:00)</td>" in html  # winter time
