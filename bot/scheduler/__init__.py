"""The night: APScheduler jobs that ingest, check the target, run the queue and report.

- :mod:`bot.scheduler.service`: *when* (cron triggers, stop time), *never twice at once* (the
  lock), ``--once`` and the long-running service;
- :mod:`bot.scheduler.steps`: the four steps, each calling the module that owns the work;
- :mod:`bot.scheduler.night`: what one night did, kept between its jobs, and the morning report.
"""

from bot.scheduler.night import EXIT_FAILED, EXIT_TARGET_CHANGED, MorningReport, Night
from bot.scheduler.service import (
    EXIT_LOCKED,
    AlreadyRunning,
    CycleResult,
    build_scheduler,
    cron_trigger,
    next_stop_time,
    parse_stop_at,
    run_forever,
    run_once,
    scheduler_lock,
)
from bot.scheduler.steps import check_step, ingest_step, report_step, run_step

__all__ = [
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_TARGET_CHANGED",
    "AlreadyRunning",
    "CycleResult",
    "MorningReport",
    "Night",
    "build_scheduler",
    "check_step",
    "cron_trigger",
    "ingest_step",
    "next_stop_time",
    "parse_stop_at",
    "report_step",
    "run_forever",
    "run_once",
    "run_step",
    "scheduler_lock",
]
