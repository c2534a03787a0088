"""Retention: the health data of old finished items erased everywhere the bot wrote it.

``icope-bot purge --older-than AGE`` erases, for the items finished (done, approved, rejected)
before AGE:

- the queue's payloads (assessment, raw row, result, details, a conflicting version) and their
  evidence files, keeping the anonymous history (:meth:`bot.workqueue.WorkQueue.purge`; the file
  is then checkpointed with its freed space zeroed);
- their screenshots embedded in the HTML run reports (the report stays, the images go);
- every screenshot or trace older than AGE that no waiting item holds as evidence (a dry run's
  screenshots, a killed run's leftovers);
- the review files (``exceptions-*``, full identities) older than AGE: a new one can be exported
  at any time for the items still waiting;
- the archived exports older than AGE whose every row is purged (read again with the export's
  own rules to know their references);
- the morning reports (``morning-*.txt`` / ``.json``: references and reasons) older than AGE;
- the log lines older than AGE: rotated log files wholly older go, the others keep their newer
  lines only (the log is masked, but it names references and what happened to them).

The browsers' temporary folders and the lock files are not left behind by a run at all (see
:func:`bot.runner.recovery.browser_tmp` and :mod:`bot.locks`).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.evidence import private_dir, write_private
from bot.logs import logger

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.workqueue import WorkQueue

__all__ = ["PurgeReport", "purge_health_data", "strip_evidence"]

#: The run report wraps each item's embedded evidence in these comments (bot/runner/report.py).
EVIDENCE_START = "<!-- preuves {reference} -->"
EVIDENCE_END = "<!-- fin des preuves -->"
_REVIEW_FILES = ("exceptions-*.xlsx", "exceptions-*.csv")
_MORNING_REPORTS = ("morning-*.txt", "morning-*.json")
#: The JSON log bot.logs writes, and what loguru's rotation leaves beside it (.gz compressed).
LOG_NAME = "icope-bot.jsonl"
_LOG_FILES = "icope-bot*.jsonl*"


@dataclass
class PurgeReport:
    items: int  # items whose payload was erased now
    files: int = 0  # screenshots, traces, review files, archived exports, morning reports, logs
    reports: int = 0  # run reports whose embedded screenshots were removed
    log_lines: int = 0  # lines erased from the log files kept

    def text(self) -> str:
        """The result in French, for the terminal."""
        return (
            f"{self.items} élément(s) terminé(s) purgé(s) : données de santé effacées, "
            f"historique conservé ; {self.files} fichier(s) effacé(s) (captures, traces, "
            f"fichiers d'exceptions, exports archivés, rapports du matin, journaux), "
            f"{self.reports} rapport(s) de passage sans leurs captures, "
            f"{self.log_lines} ligne(s) ancienne(s) effacée(s) du journal."
        )


def purge_health_data(
    settings: Settings, queue: WorkQueue, older_than: timedelta, *, actor: str = "purge"
) -> PurgeReport:
    """Erase what the bot wrote about items finished before ``older_than`` (module docstring)."""
    report = PurgeReport(queue.purge(older_than, actor=actor))
    cutoff = time.time() - older_than.total_seconds()
    views = queue.items()
    purged = {v.reference for v in views if v.purged_at is not None}
    kept = {os.path.realpath(p) for v in views if v.purged_at is None for p in v.evidence}
    report.files += _old_evidence(Path(settings.screenshots_dir), kept, cutoff)
    report.files += _old_files(Path(settings.reviews_dir), _REVIEW_FILES, cutoff)
    report.files += _old_files(Path(settings.reports_dir), _MORNING_REPORTS, cutoff)
    report.files += _finished_archives(settings, purged, cutoff)
    for path in sorted(Path(settings.reports_dir).glob("run-*.html")):
        if _rewrite(path, purged):
            report.reports += 1
    # Last, so this purge's own log line (below) is the first the trimmed log keeps.
    files, report.log_lines = _old_log_lines(Path(settings.logs_dir), cutoff)
    report.files += files
    logger.info(
        "Purge : {} élément(s), {} fichier(s) effacé(s), {} rapport(s) réécrit(s)",
        report.items,
        report.files,
        report.reports,
    )
    return report


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError as e:
        logger.warning("Fichier non effacé par la purge ({}) : {}", path.name, type(e).__name__)
        return 0
    return 1


def _old_evidence(root: Path, kept: set[str], cutoff: float) -> int:
    """Screenshots and traces older than the cutoff that no unpurged item holds."""
    if not root.is_dir():
        return 0
    n = 0
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        folder = Path(dirpath)
        for name in files:
            path = folder / name
            if name == "README.md" and folder == root:
                continue
            if os.path.realpath(path) in kept or path.stat().st_mtime > cutoff:
                continue
            n += _unlink(path)
        if folder != root and not any(folder.iterdir()):
            folder.rmdir()  # a day's or an item's folder, now empty
    return n


def _old_files(folder: Path, patterns: tuple[str, ...], cutoff: float) -> int:
    """Files of ``folder`` matching ``patterns`` last written before the cutoff."""
    if not folder.is_dir():
        return 0
    found = {p for pattern in patterns for p in folder.glob(pattern)}
    return sum(_unlink(p) for p in sorted(found) if p.stat().st_mtime <= cutoff)


def _line_time(line: bytes) -> float | None:
    """When a JSON log line was written (loguru's ``record.time.timestamp``); None if unreadable."""
    try:
        return float(json.loads(line)["record"]["time"]["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None


def _newer_lines(data: bytes, cutoff: float) -> tuple[bytes, int]:
    """The lines written after the cutoff (and any unreadable one: never guess), and how many went."""
    kept, dropped = [], 0
    for line in data.splitlines(keepends=True):
        written = _line_time(line)
        if written is not None and written <= cutoff:
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


def _old_log_lines(logs: Path, cutoff: float) -> tuple[int, int]:
    """(files deleted, lines erased): log lines written before the cutoff, in every log file.

    A rotated file (loguru's, maybe gzip-compressed) holding only older lines goes; one holding
    newer lines too is rewritten without the older ones. The current file is rewritten in place
    so the bot processes appending to it (O_APPEND) go on writing at its new end; a line
    appended between the last read and the truncation is the only one that could be lost.
    """
    if not logs.is_dir():
        return 0, 0
    files = lines = 0
    for path in sorted(logs.glob(_LOG_FILES)):
        if path.name == LOG_NAME:
            lines += _trim_current_log(path, cutoff)
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as f:
                kept, dropped = _newer_lines(f.read(), cutoff)
        except (OSError, EOFError) as e:
            logger.warning("Journal non lu par la purge ({}) : {}", path.name, type(e).__name__)
            continue
        if not kept:
            files += _unlink(path)
        elif dropped:
            with opener(path, "wb") as f:
                f.write(kept)
            lines += dropped
    return files, lines


def _trim_current_log(path: Path, cutoff: float) -> int:
    """Erase the lines written before the cutoff from the log file in use; how many went."""
    with path.open("r+b") as f:
        data = f.read()
        kept, dropped = _newer_lines(data, cutoff)
        if not dropped:
            return 0
        kept += f.read()  # what was appended meanwhile
        f.seek(0)
        f.write(kept)
        f.truncate()
    return dropped


def _finished_archives(settings: Settings, purged: set[str], cutoff: float) -> int:
    """Archived exports older than the cutoff whose every row belongs to a purged item."""
    from bot.ingest import LEDGER_NAME

    archive = Path(settings.archive_dir)
    if not archive.is_dir():
        return 0
    n = 0
    for path in sorted(archive.iterdir()):
        if not path.is_file() or path.name == LEDGER_NAME or path.name.startswith("."):
            continue
        if path.stat().st_mtime > cutoff:
            continue
        references = _references_in(path, settings)
        # A file refused whole has no row in the queue: past the age, nothing keeps it.
        if references <= purged:
            n += _unlink(path)
    return n


def _references_in(path: Path, settings: Settings) -> set[str]:
    """The queue references of an export's rows, read with the export's own rules.

    Read into a throw-away queue in the bot's private folder (the same code as an ingest, so
    the references, quarantined rows' included, are the ones the real queue got).
    """
    from bot.ingest import ingest_file, load_mapping
    from bot.workqueue import open_queue

    scratch = private_dir(Path(settings.queue_path).parent / "tmp" / f"purge-{os.getpid()}")
    try:
        with open_queue(scratch / "read.db") as q:
            ingest_file(path, q, load_mapping(Path(settings.export_mapping)))
            return {v.reference for v in q.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def strip_evidence(html: str, references: set[str], today: date | None = None) -> str:
    """The run report without the embedded screenshots of ``references``."""
    day = f"{(today or date.today()):%d/%m/%Y}"

    def blank(m: re.Match[str]) -> str:
        if m.group(1) not in references or "Captures effacées" in m.group(0):
            return m.group(0)  # another item's, or already stripped by an earlier purge
        return (
            EVIDENCE_START.format(reference=m.group(1))
            + f'<p class="path">Captures effacées le {day} (purge des données de santé).</p>'
            + EVIDENCE_END
        )

    pattern = (
        re.escape(EVIDENCE_START).replace(re.escape("{reference}"), "(.+?)")
        + ".*?"
        + re.escape(EVIDENCE_END)
    )
    return re.sub(pattern, blank, html, flags=re.S)


def _rewrite(path: Path, purged: set[str]) -> bool:
    """Rewrite one run report in place (0600) if it embeds a purged item's evidence."""
    html = path.read_text(encoding="utf-8")
    stripped = strip_evidence(html, purged)
    if stripped == html:
        return False
    write_private(path, stripped)
    return True
