"""The night's four steps: ingest the inbox, check the target, run the queue, report.

Each step calls the module that owns the work (:mod:`bot.ingest`, the preflight, :mod:`bot.runner`,
:mod:`bot.review`) and writes what it did into the :class:`~bot.scheduler.night.Night`. None
raises: a step that fails says so in the night, and the morning report tells it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.errors import BotError
from bot.evidence import free_stem, private_dir, write_private
from bot.logs import logger, mask
from bot.models import ItemState
from bot.scheduler.night import (
    IngestLine,
    ItemLine,
    MorningReport,
    Night,
    ReviewExport,
    RunLine,
    TargetCheck,
)
from bot.workqueue import WorkQueue, work_by_machine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runner import RunEvent

__all__ = ["check_step", "ingest_step", "local_zone", "report_step", "run_step"]

S = ItemState


def local_zone(settings: Settings) -> ZoneInfo:
    """The night's time zone (Europe/Paris by default): every time a person reads."""
    return ZoneInfo(settings.schedule_timezone)


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
    """The preflight (bot.pages.conformance): False means the queue must not run tonight."""
    try:
        from bot.pages.conformance import check_target

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
        # A text the tour could not check counts as missing: it did not look, so not "conforme".
        missing = [mask(str(m)) for m in report.missing]
        missing += [mask(f"{m} (non vérifié)") for m in report.unchecked]
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
        stop_at.astimezone(local_zone(settings)),
    )
    try:
        summary = run_batch(settings, queue, options, on_event=on_event, stop=stop)
    except Exception as e:
        logger.opt(exception=True).error("Lot de la nuit en erreur")
        night.errors.append(f"Lot interrompu ({type(e).__name__}) : voir le journal.")
        return
    report: str | None = None
    try:
        from bot.runner.report import write_run_report

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

    tz = ZoneInfo(settings.schedule_timezone)
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
        machines=work_by_machine(queue, now - timedelta(hours=24)),
    )
    folder = private_dir(Path(settings.reports_dir))
    stem = free_stem(folder, f"morning-{today.isoformat()}", (".txt", ".json"))
    text_path = folder / f"{stem}.txt"
    write_private(folder / f"{stem}.json", report.model_dump_json(indent=2))
    write_private(text_path, report.text())
    logger.info(
        "Rapport du matin {} : {} à examiner, {} échec(s) technique(s), file {}",
        text_path.name,
        len(report.needs_review),
        len(report.failures),
        ", ".join(f"{s} {n}" for s, n in report.queue.items() if n) or "vide",
    )
    return report, text_path
