"""At the default log level, each item appears once, in French: on a terminal and in a pipe."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.config import PROJECT_ROOT
from bot.console import RunProgress, print_run_summary
from bot.logs import configure_logging, logger
from bot.runner import RunOptions, run_batch
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_env, run_settings

pytestmark = pytest.mark.browser


def test_each_item_shows_once_and_no_internal_code(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path, screenshots="off", timeout_ms=15_000)
    refs = enqueue_batch(work_queue, 2)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    progress = RunProgress(console)
    try:
        with progress:
            progress.log_above_the_bar("INFO", None)  # as `icope-bot run` on a terminal
            summary = run_batch(settings, work_queue, RunOptions(), on_event=progress)
        print_run_summary(console, summary, None)
    finally:
        logger.remove()
        configure_logging("WARNING", None)  # back to the suite's quiet console

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # cursor moves of the bar
    lines = [line for line in text.splitlines() if line.strip()]
    for ref in refs:
        assert sum(ref in line for line in lines) == 1, [line for line in lines if ref in line]
    for internal in ("→ done", "(ok)", "needs_review", "interrupted", "retry_wait"):
        assert internal not in text
    assert "1 terminés" not in text


def test_in_a_pipe_each_item_is_one_line_too(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    refs = enqueue_batch(work_queue, 2)
    env = run_env(sandbox, tmp_path, screenshots="off", timeout_ms=15_000)
    # As cron or a script runs it: stdout and stderr are pipes, not a terminal.
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,  # no stray .env from the project folder
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    for ref in refs:
        mine = [line for line in lines if ref in line]
        assert len(mine) == 1, mine
        assert mine[0].startswith(f"✓ {ref} : terminé (")
    assert not any("début" in line for line in lines)
