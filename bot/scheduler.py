"""The overnight queue: ingest the inbox, check the target, run until the stop time, report.

::

    21:00 ingest      queue/inbox/* ──► bot.ingest.ingest_inbox ──► archive
    21:05 run         bot.flows.check_target ──(UI changed?)──► no run, said in the report
                                             └─(ok)──► bot.runner.run_batch(stop_at=06:00)
    06:15 report      reports/morning-<date>.txt / .json  (+ reviews/exceptions-<date>.xlsx)

Each step only calls the module that owns the work (ingest, preflight, runner, review); what
belongs here is *when*, *never twice at once* and *what to tell in the morning*. One night's
steps run as separate jobs (``icope-bot schedule``) or back to back (``--once``); what each step
did is kept in ``queue/scheduler-night.json`` so the morning report can tell it even after a
restart. That file and the reports hold references, counts and codes — never a name.

**One at a time.** Every step takes ``queue/.scheduler.lock`` (an OS file lock: released when
the process dies). A step that finds it held logs « une exécution est déjà en cours » and does
nothing (``--once`` exits with :data:`EXIT_LOCKED`). In one scheduler process the jobs also run
one after the other (a single executor thread), so a late ingest delays the run instead of
racing it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from filelock import FileLock, Timeout
from pydantic import BaseModel, Field

from bot.errors import BotError
from bot.evidence import private_dir
from bot.logs import logger, mask
from bot.models import ItemState
from bot.workqueue import STATE_LABELS, WorkQueue, open_queue

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

S = ItemState

EXIT_FAILED = 2  # same as the runner's EXIT_SYSTEM: a step failed or items wait for a retry
EXIT_LOCKED = 3  # another run holds the lock: nothing done
EXIT_TARGET_CHANGED = 4  # the preflight refused the target: the queue was not run

ALREADY_RUNNING = "Une exécution est déjà en cours (verrou {lock}) : ce passage ne fait rien."
LOCK_NAME = ".scheduler.lock"
NIGHT_NAME = "scheduler-night.json"
#: The morning report waits this long for a run still finishing its last item.
REPORT_LOCK_WAIT_SECONDS = 900.0
#: A job delayed (machine asleep, scheduler busy) still runs if it is at most this late.
MISFIRE_GRACE_SECONDS = 3600
#: Items listed by reference in the text report; the JSON lists them all.
TEXT_LIST_LIMIT = 40

Clock = Callable[[], datetime]


class AlreadyRunning(BotError):
    """Another scheduler step or ``--once`` run holds the lock."""

    default_code = "already_running"


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


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.schedule_timezone)


# --- what a night did (kept between its jobs) --------------------------------------------------


class IngestLine(BaseModel):
    """One inbox file: counts only (its name is the one the export tool gave it)."""

    file: str
    archived_as: str | None = None
    read: int = 0
    new: int = 0
    duplicates: int = 0
    conflicts: int = 0
    invalid: int = 0
    refused: str | None = None
    already_ingested: bool = False


class TargetCheck(BaseModel):
    ok: bool
    missing: list[str] = Field(default_factory=list)  # what the preflight did not find
    message: str = ""


class ItemLine(BaseModel):
    """An item in the report: reference, state, code and reason — never identity."""

    reference: str
    state: str
    code: str | None = None
    reason: str = ""


class RunLine(BaseModel):
    started_at: datetime
    finished_at: datetime
    stop_at: datetime | None
    handled: int
    attempts: int
    counts: dict[str, int]
    stopped_reason: str | None
    message: str
    exit_code: int
    exceptions: list[ItemLine] = Field(default_factory=list)  # last outcome of each, this run
    report: str | None = None  # the run's HTML report (bot.report)


class Night(BaseModel):
    """What the steps of one night did; saved after each step, closed by the morning report."""

    started_at: datetime
    ingest: list[IngestLine] | None = None  # None: the ingest step did not run
    target: TargetCheck | None = None
    run: RunLine | None = None
    not_run: str | None = None  # why the queue was not run, in French
    errors: list[str] = Field(default_factory=list)  # steps that failed unexpectedly
    reported_at: datetime | None = None

    @classmethod
    def load(cls, path: Path) -> Night | None:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            logger.warning("Suivi de la nuit illisible ({}) : un nouveau est commencé", path.name)
            return None

    def save(self, path: Path) -> None:
        _write_private(path, self.model_dump_json(indent=2))


def _night_path(settings: Settings) -> Path:
    return Path(settings.queue_path).parent / NIGHT_NAME


def _open_night(settings: Settings, now: datetime) -> Night:
    """The night in progress, or a new one if the last was reported (or never started)."""
    night = Night.load(_night_path(settings))
    if night is None or night.reported_at is not None:
        night = Night(started_at=now)
    return night


# --- the steps ---------------------------------------------------------------------------------


def ingest_step(settings: Settings, queue: WorkQueue, night: Night) -> None:
    """Ingest every file of the inbox (bot.ingest); counts go to the night."""
    from bot.ingest import ingest_inbox

    try:
        summaries = ingest_inbox(settings, queue)
    except Exception as e:
        logger.opt(exception=True).error("Ingestion de la boîte de dépôt en erreur")
        night.errors.append(f"Ingestion impossible ({type(e).__name__}) : voir le journal.")
        return
    lines = [IngestLine(**{k: getattr(s, k) for k in IngestLine.model_fields}) for s in summaries]
    night.ingest = (night.ingest or []) + lines
    logger.info(
        "Planificateur : {} fichier(s) ingéré(s), {} nouvelle(s) auto-évaluation(s)",
        len(lines),
        sum(line.new for line in lines),
    )


def check_step(settings: Settings, night: Night) -> bool:
    """The preflight (bot.flows.check_target): False means the queue must not run tonight."""
    try:
        from bot.flows.check_target import check_target

        # Its own thread: Playwright's sync API allows one instance per thread, and the caller's
        # thread may already hold one (a supervised session, a test session's browser).
        with ThreadPoolExecutor(1, thread_name_prefix="check-target") as pool:
            report = pool.submit(check_target, settings).result()
    except BotError as e:
        check = TargetCheck(ok=False, message=e.message)
    except Exception as e:
        logger.opt(exception=True).error("Contrôle de l'outil cible en erreur")
        check = TargetCheck(ok=False, message=f"Contrôle impossible ({type(e).__name__}).")
    else:
        missing = [mask(str(m)) for m in report.missing]
        # report.error: why the tour stopped before its end (a screen it could not reach)
        message = "" if report.ok else (report.error or "L'écran de l'outil cible a changé.")
        check = TargetCheck(ok=bool(report.ok), missing=missing, message=message)
    night.target = check
    if check.ok:
        logger.info("Planificateur : outil cible conforme")
        return True
    night.not_run = (
        "File non traitée : l'outil cible ne correspond plus à ce que le robot connaît "
        f"({check.message or 'contrôle en échec'}"
        + (f" ; introuvable : {_first(check.missing, 5)}" if check.missing else "")
        + "). Mettre à jour le fichier de correspondance (mappings/) puis relancer."
    )
    logger.error("Planificateur : outil cible non conforme, la file n'est pas traitée")
    for m in check.missing:
        logger.error("  introuvable : {}", m)
    return False


def _first(texts: list[str], n: int) -> str:
    more = f" … et {len(texts) - n} autre(s)" if len(texts) > n else ""
    return ", ".join(texts[:n]) + more


def run_step(
    settings: Settings,
    queue: WorkQueue,
    night: Night,
    *,
    stop_at: datetime,
    stop: threading.Event | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> None:
    """The batch run until the queue is empty or the stop time (bot.runner)."""
    from bot.runner import RunOptions, run_batch

    options = RunOptions(workers=settings.workers, stop_at=stop_at)
    logger.info(
        "Planificateur : lot lancé, {} robot(s), fin au plus tard à {:%d/%m %H:%M}",
        settings.workers,
        stop_at.astimezone(_tz(settings)),
    )
    try:
        summary = run_batch(settings, queue, options, on_event=on_event, stop=stop)
    except Exception as e:
        logger.opt(exception=True).error("Lot de la nuit en erreur")
        night.errors.append(f"Lot interrompu ({type(e).__name__}) : voir le journal.")
        return
    report: str | None = None
    try:
        from bot.report import write_run_report

        report = str(write_run_report(summary, Path(settings.reports_dir)))
    except Exception as e:  # the morning report still tells what happened
        logger.opt(exception=True).warning("Rapport du lot non écrit ({})", type(e).__name__)
    exceptions = [
        ItemLine(reference=r.reference, state=r.outcome.value, code=r.error_code, reason=r.reason)
        for r in summary.final.values()
        if r.category != "ok"
    ]
    night.run = RunLine(
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        stop_at=stop_at,
        handled=len(summary.final),
        attempts=len(summary.items),
        counts=summary.counts,
        stopped_reason=summary.stopped_reason,
        message=summary.message,
        exit_code=summary.exit_code,
        exceptions=exceptions,
        report=report,
    )


# --- the morning report ------------------------------------------------------------------------


class ReviewExport(BaseModel):
    count: int
    xlsx: str
    csv: str


class MorningReport(BaseModel):
    """What the team reads in the morning (``reports/morning-<date>.txt`` and ``.json``)."""

    date: date
    written_at: datetime
    timezone: str
    night: Night | None
    queue: dict[str, int]  # counts per state now
    needs_review: list[ItemLine]  # every item waiting for a person's decision now
    failures: list[ItemLine]  # failed, or waiting for a new technical attempt
    review_export: ReviewExport | None
    notes: list[str] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 nothing to look at, 1 items for a person, 2 failures, 4 target refused."""
        night = self.night
        if night is not None and night.target is not None and not night.target.ok:
            return EXIT_TARGET_CHANGED
        if (night is not None and night.errors) or self.failures:
            return EXIT_FAILED
        if night is not None and night.run is not None and night.run.exit_code:
            return night.run.exit_code
        return 1 if self.needs_review else 0

    def text(self) -> str:
        """The report as plain French text for a person."""
        tz = ZoneInfo(self.timezone)
        lines = [f"Rapport du matin icope-bot — {self.date:%d/%m/%Y}", ""]
        night = self.night
        if night is None:
            lines.append("Aucun passage de nuit enregistré depuis le dernier rapport.")
        else:
            lines += _night_text(night, tz)
        lines += ["", "File de travail maintenant :"]
        lines += [
            f"  {STATE_LABELS[ItemState(state)]} : {n}" for state, n in self.queue.items() if n
        ] or ["  vide"]
        lines += ["", f"À examiner par une personne : {len(self.needs_review)}"]
        lines += _listed(self.needs_review)
        invalid = self.queue.get(S.INVALID.value, 0)
        if invalid:
            lines.append(
                f"Lignes d'export invalides (quarantaine) à corriger ou rejeter : {invalid} "
                "(dans le fichier des exceptions)"
            )
        lines += ["", f"Échecs techniques (en échec ou nouvel essai prévu) : {len(self.failures)}"]
        lines += _listed(self.failures)
        if self.review_export is not None:
            lines += [
                "",
                f"Fichier des exceptions ({self.review_export.count} élément(s)) :",
                f"  {self.review_export.xlsx}",
                f"  {self.review_export.csv}",
                "  Remplir la colonne « Décision » puis : "
                "icope-bot review import FICHIER --reviewer NOM",
            ]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%d/%m %H:%M}"


def _night_text(night: Night, tz: ZoneInfo) -> list[str]:
    lines = [f"Nuit commencée le {_when(night.started_at, tz)}."]
    if night.ingest is None:
        lines.append("Ingestion : pas faite cette nuit.")
    elif not night.ingest:
        lines.append("Ingestion : aucun fichier dans la boîte de dépôt.")
    else:
        lines.append(f"Ingestion : {len(night.ingest)} fichier(s).")
        for f in night.ingest:
            if f.refused:
                lines.append(f"  {f.file} : REFUSÉ — {f.refused}")
            elif f.already_ingested:
                lines.append(f"  {f.file} : déjà ingéré, archivé sans réingestion")
            else:
                lines.append(
                    f"  {f.file} : {f.read} lue(s), {f.new} nouvelle(s), {f.duplicates} "
                    f"doublon(s), {f.conflicts} conflit(s), {f.invalid} invalide(s)"
                )
    if night.target is not None:
        lines.append(
            "Contrôle de l'outil cible : conforme."
            if night.target.ok
            else "Contrôle de l'outil cible : NON CONFORME."
        )
    if night.not_run:
        lines.append(night.not_run)
    run = night.run
    if run is not None:
        counts = ", ".join(f"{STATE_LABELS[ItemState(s)]} {n}" for s, n in run.counts.items())
        lines.append(
            f"Lot : {_when(run.started_at, tz)} → {_when(run.finished_at, tz)}, "
            f"{run.handled} élément(s) traité(s)" + (f" ({counts})" if counts else "") + "."
        )
        if run.message:
            lines.append(f"  {run.message}")
        if run.report:
            lines.append(f"  Rapport détaillé du lot : {run.report}")
    elif night.target is None and not night.not_run:
        lines.append("Lot : pas lancé cette nuit.")
    lines += [f"ERREUR : {e}" for e in night.errors]
    return lines


def _listed(items: list[ItemLine]) -> list[str]:
    out = [
        f"  {i.reference} — {STATE_LABELS[ItemState(i.state)]}"
        + (f" [{i.code}]" if i.code else "")
        + (f" : {i.reason}" if i.reason else "")
        for i in items[:TEXT_LIST_LIMIT]
    ]
    if len(items) > TEXT_LIST_LIMIT:
        out.append(f"  … et {len(items) - TEXT_LIST_LIMIT} autre(s) (voir le fichier .json)")
    return out


def _item_line(view: Any) -> ItemLine:
    return ItemLine(
        reference=view.reference,
        state=view.state.value,
        code=view.error_code,
        reason=mask(view.reason or ""),
    )


def report_step(
    settings: Settings,
    queue: WorkQueue,
    night: Night | None,
    *,
    now: datetime,
    notes: list[str] | None = None,
) -> tuple[MorningReport, Path]:
    """Export the exceptions file (bot.review) and write the morning report; returns it and its path."""
    from bot.review import REVIEW_STATES, export_exceptions

    tz = _tz(settings)
    today = now.astimezone(tz).date()
    notes = list(notes or [])
    export = None
    if queue.items(REVIEW_STATES):
        try:
            result = export_exceptions(queue, Path(settings.reviews_dir), today=today)
            export = ReviewExport(count=result.count, xlsx=str(result.xlsx), csv=str(result.csv))
        except Exception as e:
            logger.opt(exception=True).error("Fichier des exceptions non écrit")
            notes.append(
                f"Fichier des exceptions non écrit ({type(e).__name__}) : voir le journal."
            )
    if night is not None:
        # Reasons of this night's run pass the mask again: the report may be mailed.
        if night.run is not None:
            for line in night.run.exceptions:
                line.reason = mask(line.reason)
        night.reported_at = now
    report = MorningReport(
        date=today,
        written_at=now,
        timezone=settings.schedule_timezone,
        night=night,
        queue={s.value: n for s, n in queue.counts().items()},
        needs_review=[_item_line(v) for v in queue.items([S.NEEDS_REVIEW])],
        failures=[_item_line(v) for v in queue.items([S.FAILED, S.RETRY_WAIT])],
        review_export=export,
        notes=notes,
    )
    folder = private_dir(Path(settings.reports_dir))
    stem, n = f"morning-{today.isoformat()}", 1
    while (folder / f"{stem}.txt").exists() or (folder / f"{stem}.json").exists():
        n += 1
        stem = f"morning-{today.isoformat()}-{n}"
    text_path = folder / f"{stem}.txt"
    _write_private(folder / f"{stem}.json", report.model_dump_json(indent=2))
    _write_private(text_path, report.text())
    logger.info(
        "Rapport du matin {} : {} à examiner, {} échec(s) technique(s), file {}",
        text_path.name,
        len(report.needs_review),
        len(report.failures),
        ", ".join(f"{s} {n}" for s, n in report.queue.items() if n) or "vide",
    )
    return report, text_path


def _write_private(path: Path, text: str) -> None:
    """Write through a 0600 temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


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
    tz = _tz(settings)
    clock = now or (lambda: datetime.now(tz))
    lock = scheduler_lock(Path(settings.queue_path))
    try:
        with _held(lock):
            started = clock()
            stop_at = stop_at or next_stop_time(settings.schedule_stop_time, started, tz)
            night = Night(started_at=started)
            night_path = _night_path(settings)
            with open_queue(settings.queue_path) as queue:
                ingest_step(settings, queue, night)
                night.save(night_path)
                if not (stop and stop.is_set()) and check_step(settings, night):
                    run_step(settings, queue, night, stop_at=stop_at, stop=stop, on_event=on_event)
                night.save(night_path)
                report, path = report_step(settings, queue, night, now=clock())
            night.save(night_path)
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
        self.night_path = _night_path(settings)

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
            with open_queue(self.settings.queue_path) as queue:
                night = _open_night(self.settings, self.now())
                ingest_step(self.settings, queue, night)
                night.save(self.night_path)
        finally:
            self.lock.release()

    def run(self) -> None:
        if self.stop.is_set() or not self._acquire():
            return
        try:
            with open_queue(self.settings.queue_path) as queue:
                night = _open_night(self.settings, self.now())
                if check_step(self.settings, night):
                    night.save(self.night_path)
                    stop_at = next_stop_time(
                        self.settings.schedule_stop_time, self.now(), _tz(self.settings)
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
            with open_queue(self.settings.queue_path) as queue:
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

    tz = _tz(settings)
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
        now = datetime.now(_tz(settings))
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
