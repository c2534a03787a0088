"""Root fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, registered here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bot.browser import launch_options
from bot.config import Settings

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.queue",
    "tests.fixtures.mail",
    "tests.fixtures.flows",
    "tests.fixtures.chaos",
]


#: Where the suite's runtime data goes: never the project's own queue/, logs/, screenshots/...
#: The PII scan (tests/test_zz_pii_scan.py) reads the logs written here by the whole suite.
SUITE_DATA = Path(
    os.environ.get("ICOPE_BOT_TEST_DATA") or tempfile.mkdtemp(prefix="icope-bot-tests-")
)
_DATA_DIRS = {
    "ICOPE_BOT_LOGS_DIR": "logs",
    "ICOPE_BOT_SCREENSHOTS_DIR": "screenshots",
    "ICOPE_BOT_REPORTS_DIR": "reports",
    "ICOPE_BOT_REVIEWS_DIR": "reviews",
    "ICOPE_BOT_INBOX_DIR": "queue/inbox",
    "ICOPE_BOT_ARCHIVE_DIR": "queue/archive",
}


def pytest_configure(config: pytest.Config) -> None:
    """Point every data folder of the bot at the suite's temporary folder.

    Exported too, so that xdist workers (started after this) share the controller's folder.
    """
    os.environ.setdefault("ICOPE_BOT_TEST_DATA", str(SUITE_DATA))
    os.environ.setdefault("ICOPE_BOT_QUEUE_PATH", str(SUITE_DATA / "queue" / "queue.db"))
    for variable, sub in _DATA_DIRS.items():
        os.environ.setdefault(variable, str(SUITE_DATA / sub))


@pytest.fixture(autouse=True)
def _no_developer_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``.env`` (real credentials, another target) never steers a test's Settings."""
    monkeypatch.setitem(Settings.model_config, "env_file", None)


@pytest.fixture(scope="session")
def suite_data() -> Path:
    """The folder holding the whole suite's logs, screenshots, reports and queues."""
    return SUITE_DATA


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the system Chromium with this machine's flags."""
    headed = not browser_type_launch_args.get("headless", True)  # pytest --headed
    return {**browser_type_launch_args, **launch_options(headed=headed)}
