"""Root fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, registered here."""

from __future__ import annotations

from typing import Any

import pytest

from bot.browser import launch_options

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.queue",
    "tests.fixtures.mail",
    "tests.fixtures.flows",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the system Chromium with this machine's flags."""
    return {**browser_type_launch_args, **launch_options()}
