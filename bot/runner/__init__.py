"""Runs: the batch loop, each worker's browser, crash recovery, Ctrl-C, and what a run tells.

- :mod:`bot.runner.batch`: :func:`run_batch`, the loop that leases items and runs a flow on each;
- :mod:`bot.runner.worker`: one worker's Chromium, context and session;
- :mod:`bot.runner.recovery`: leases of this host's dead workers given back;
- :mod:`bot.runner.signals`: Ctrl-C once stops between items, twice leaves at once;
- :mod:`bot.runner.summary`: options, per-item records, events and exit codes;
- :mod:`bot.runner.report`: the self-contained HTML run report;
- :mod:`bot.runner.protocols`: what the runner needs of a session and of a flow.
"""

from bot.runner.batch import run_batch, target_session_factory
from bot.runner.protocols import Flow, Session, SessionFactory
from bot.runner.recovery import recover_dead_workers, worker_name
from bot.runner.signals import sigint_stops
from bot.runner.summary import (
    EXIT_DONE,
    EXIT_REVIEW,
    EXIT_STOPPED,
    EXIT_SYSTEM,
    EXIT_UNKNOWN,
    ItemRecord,
    PauseChoice,
    PauseRequest,
    RunEvent,
    RunOptions,
    RunSummary,
)

__all__ = [
    "EXIT_DONE",
    "EXIT_REVIEW",
    "EXIT_STOPPED",
    "EXIT_SYSTEM",
    "EXIT_UNKNOWN",
    "Flow",
    "ItemRecord",
    "PauseChoice",
    "PauseRequest",
    "RunEvent",
    "RunOptions",
    "RunSummary",
    "Session",
    "SessionFactory",
    "recover_dead_workers",
    "run_batch",
    "sigint_stops",
    "target_session_factory",
    "worker_name",
]
