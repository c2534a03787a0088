"""The overnight queue: ingest the inbox, check the target, run until the stop time, report.

::

    21:00 ingest      queue/inbox/* ──► bot.ingest.ingest_inbox ──► archive
    21:05 run         bot.pages.conformance ──(UI changed?)──► no run, said in the report
                                             └─(ok)──► bot.runner.run_batch(stop_at=06:00)
    06:15 report      reports/morning-<date>.txt / .json  (+ reviews/exceptions-<date>.xlsx)

Each step only calls the module that owns the work (ingest, preflight, runner, review); what
belongs here is *when*, *never twice at once* and *what to tell in the morning*. One night's
steps run as separate jobs (``icope-bot schedule``) or back to back (``--once``); what each step
did is kept in ``queue/scheduler-night.json`` so the morning report can tell it even after a
restart (:mod:`bot.scheduler.night`; the steps are in :mod:`bot.scheduler.steps`). That file and the reports
hold references, counts and codes — never a name.

**One at a time.** Every step takes ``queue/.scheduler.lock`` (an OS file lock: released when
the process dies). A step that finds it held logs « une exécution est déjà en cours » and does
nothing (``--once`` exits with :data:`EXIT_LOCKED`). In one scheduler process the jobs also run
one after the other (a single executor thread), so a late ingest delays the run instead of
racing it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from filelock import FileLock, Timeout

from bot.errors import AlreadyRunning
from bot.evidence import private_dir
from bot.logs import logger
from bot.scheduler.night import (
    EXIT_FAILED,
    EXIT_TARGET_CHANGED,
    MorningReport,
    Night,
    night_path,
    open_night,
)
from bot.scheduler.steps import check_step, ingest_step, local_zone, report_step, run_step
from bot.workqueue import open_queue

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    from bot.config import Settings
    from bot.runner import RunEvent

__all__ = [
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_TARGET_CHANGED",
    "AlreadyRunning",
    "CycleResult",
    "MorningReport",
    "Night",
    "build_scheduler",
    "cron_trigger",
    "next_stop_time",
    "parse_stop_at",
    "run_forever",
    "run_once",
    "scheduler_lock",
]


EXIT_LOCKED = 3  # another run holds the lock: nothing done

ALREADY_RUNNING = "Une exécution est déjà en cours (verrou {lock}) : ce passage ne fait rien."
LOCK_NAME = ".scheduler.lock"
#: The morning report waits this long for a run still finishing its last item.
REPORT_LOCK_WAIT_SECONDS = 900.0
#: A job delayed (machine asleep, scheduler busy) still runs if it is at most this late.
MISFIRE_GRACE_SECONDS = 3600

Clock = Callable[[], datetime]


# --- the lock ---------------------------------------------------------------------------------


def scheduler_lock(queue_path: Path) -> FileLock:
    """The single-instance lock next to the queue (``queue/.scheduler.lock``, 0600)."""
    private_dir(queue_path.parent)
    return FileLock(str(queue_path.parent / LOCK_NAME), mode=0o600)


@contextlib.contextmanager
def _held(lock: FileLock, wait_seconds: float = 0) -> Iterator[None]:
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout as e:
        message = ALREADY_RUNNING.format(lock=Path(lock.lock_file).name)
        raise AlreadyRunning(message) from e
    try:
        yield
    finally:
        lock.release()


# --- times --------------------------------------------------------------------------------------


def next_stop_time(stop: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The next ``HH:MM`` in ``tz`` strictly after ``now`` (21:05 → tomorrow 06:00)."""
    hours, minutes = (int(x) for x in stop.split(":"))
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hours, minutes), tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hours, minutes), tz)
    return candidate


def parse_stop_at(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """``HH:MM`` (next occurrence) or an ISO date-time (``2025-06-02T06:00``, local if naive)."""
    text = text.strip()
    try:
        if len(text) <= 5 and ":" in text:
            hours, minutes = (int(x) for x in text.split(":"))
            time(hours, minutes)  # range check
            return next_stop_time(f"{hours:02d}:{minutes:02d}", now, tz)
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValueError(
            f"heure de fin « {text} » non comprise : écrire HH:MM (par exemple 06:00) "
            "ou une date et une heure (2025-06-02T06:00)"
        ) from e
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as day names: APScheduler 3 counts 0 = Monday, cron 0 = Sunday."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        ends = (
            [_CRON_DAYS.index(x[:3]) if x[:3] in _CRON_DAYS else int(x) for x in base.split("-")]
            if base != "*"
            else [0, 6]
        )
        if len(ends) == 1:
            ends = [ends[0], 6 if step_text else ends[0]]  # "1/2": from Monday on, every 2 days
        low, high = ends
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high and step >= 1):
            raise ValueError(field)
        days.update(n % 7 for n in range(low, high + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def cron_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    """An APScheduler trigger from a crontab line (``"5 21 * * 1-5"``: weekdays, as cron reads it).

    ValueError in French for a line that is not five crontab fields.
    """
    from apscheduler.triggers.cron import CronTrigger

    try:
        minute, hour, day, month, weekday = expression.split()
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=tz,
        )
    except ValueError as e:
        raise ValueError(
            f"planification « {expression} » non comprise : écrire une ligne cron à 5 champs "
            "(minute heure jour mois jour-de-semaine), par exemple « 5 21 * * * »"
        ) from e


# --- one cycle now (--once) ----------------------------------------------------------------------


@dataclass(frozen=True)
class CycleResult:
    """What ``icope-bot schedule --once`` did."""

    outcome: Literal["completed", "locked"]
    exit_code: int
    message: str = ""
    report: MorningReport | None = None
    report_path: Path | None = None


def run_once(
    settings: Settings,
    *,
    stop_at: datetime | None = None,
    stop: threading.Event | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    now: Clock | None = None,
) -> CycleResult:
    """One whole night now: ingest → check the target → run until done or ``stop_at`` → report.

    ``stop_at`` defaults to the next ``schedule_stop_time``. Nothing at all happens when
    another run holds the lock (exit code :data:`EXIT_LOCKED`).
    """
    tz = local_zone(settings)
    clock = now or (lambda: datetime.now(tz))
    lock = scheduler_lock(Path(settings.queue_path))
    try:
        with _held(lock):
            started = clock()
            stop_at = stop_at or next_stop_time(settings.schedule_stop_time, started, tz)
            night = Night(started_at=started)
            saved_at = night_path(settings)
            with open_queue(settings.queue_target) as queue:
                ingest_step(settings, queue, night)
                night.save(saved_at)
                if not (stop and stop.is_set()) and check_step(settings, night):
                    run_step(settings, queue, night, stop_at=stop_at, stop=stop, on_event=on_event)
                night.save(saved_at)
                report, path = report_step(settings, queue, night, now=clock())
            night.save(saved_at)
    except AlreadyRunning as e:
        logger.warning(e.message)
        return CycleResult("locked", EXIT_LOCKED, e.message)
    return CycleResult("completed", report.exit_code, report_path=path, report=report)


# --- the service (forever, on its triggers) --------------------------------------------------------


class _Jobs:
    """The three jobs of a night, as the scheduler calls them (one at a time)."""

    def __init__(self, settings: Settings, stop: threading.Event, now: Clock) -> None:
        self.settings = settings
        self.stop = stop
        self.now = now
        self.lock = scheduler_lock(Path(settings.queue_path))
        self.night_path = night_path(settings)

    def _acquire(self, wait_seconds: float = 0) -> bool:
        try:
            self.lock.acquire(timeout=wait_seconds)
        except Timeout:
            logger.warning(ALREADY_RUNNING.format(lock=LOCK_NAME))
            return False
        return True

    def ingest(self) -> None:
        if self.stop.is_set() or not self._acquire():
            return
        try:
            with open_queue(self.settings.queue_target) as queue:
                night = open_night(self.settings, self.now())
                ingest_step(self.settings, queue, night)
                night.save(self.night_path)
        finally:
            self.lock.release()

    def run(self) -> None:
        if self.stop.is_set() or not self._acquire():
            return
        try:
            with open_queue(self.settings.queue_target) as queue:
                night = open_night(self.settings, self.now())
                if check_step(self.settings, night):
                    night.save(self.night_path)
                    stop_at = next_stop_time(
                        self.settings.schedule_stop_time, self.now(), local_zone(self.settings)
                    )
                    run_step(self.settings, queue, night, stop_at=stop_at, stop=self.stop)
                night.save(self.night_path)
        finally:
            self.lock.release()

    def report(self) -> None:
        if self.stop.is_set():
            return
        # A run may still be finishing its last item: wait for it, then report anyway.
        locked = self._acquire(REPORT_LOCK_WAIT_SECONDS)
        try:
            night = Night.load(self.night_path)
            if night is not None and night.reported_at is not None:
                night = None  # nothing happened since the last report
            notes = [] if locked else ["Une exécution était encore en cours à l'heure du rapport."]
            with open_queue(self.settings.queue_target) as queue:
                report_step(self.settings, queue, night, now=self.now(), notes=notes)
            if night is not None:
                night.save(self.night_path)
        finally:
            if locked:
                self.lock.release()


def build_scheduler(
    settings: Settings, stop: threading.Event, *, now: Clock | None = None
) -> BackgroundScheduler:
    """The night's jobs on their cron lines (a job whose line is empty is left out); not started.

    A background scheduler: the main thread stays free to wait for Ctrl-C / SIGTERM (a
    BlockingScheduler shut down from a signal handler races with its own start).
    """
    from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    tz = local_zone(settings)
    jobs = _Jobs(settings, stop, now or (lambda: datetime.now(tz)))
    scheduler = BackgroundScheduler(
        timezone=tz,
        # one thread: the jobs of a night never overlap within this process
        executors={"default": JobExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    for job_id, expression, func, name in (
        ("ingest", settings.schedule_ingest, jobs.ingest, "ingestion de la boîte de dépôt"),
        ("run", settings.schedule_run_start, jobs.run, "contrôle de l'outil cible puis lot"),
        ("report", settings.schedule_report, jobs.report, "rapport du matin"),
    ):
        if expression.strip():
            scheduler.add_job(func, cron_trigger(expression, tz), id=job_id, name=name)
    return scheduler


def run_forever(settings: Settings) -> int:
    """Run the scheduler until Ctrl-C or SIGTERM; a run in progress ends after its current item."""
    stop = threading.Event()
    scheduler = build_scheduler(settings, stop)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # asked twice: leave now, leases cover items in progress
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        now = datetime.now(local_zone(settings))
        for job in scheduler.get_jobs():
            nxt = job.trigger.get_next_fire_time(None, now)
            logger.info("Planificateur : {} à {:%d/%m %H:%M}", job.name, nxt)
        scheduler.start()
        logger.info("Planificateur démarré (Ctrl-C pour arrêter)")
        stop.wait()
        logger.info("Arrêt du planificateur demandé : fin après l'élément en cours")
        scheduler.shutdown(wait=True)  # the job in progress, if any, ends after its current item
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    logger.info("Planificateur arrêté")
    return 0
