"""Everything the terminal shows: progress bars, tables, prompts, symbols — one place.

The commands (:mod:`bot.cli`) call these; the runner, the ingestion and the scheduler print
nothing themselves. On a terminal, rich draws a live bar; when the output is a file or a pipe
(cron, tests) each event is one plain line.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.logs import mask
from bot.runner.summary import duration_text
from bot.wording import count, state_count
from bot.workqueue import STATE_LABELS

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.progress import TaskID

    from bot.config import Settings
    from bot.runner import ItemRecord, PauseChoice, PauseRequest, RunEvent, RunSummary

__all__ = [
    "RowProgress",
    "RunProgress",
    "Working",
    "ask_in_terminal",
    "print_data_folders",
    "print_run_summary",
]


_SHORT = {
    "done": ("terminé", "terminés"),
    "needs_review": ("à vérifier", "à vérifier"),
    "retry_wait": ("à réessayer", "à réessayer"),
    "failed": ("en échec", "en échec"),
    "pending": ("rendu", "rendus"),
}


def _short(state: str, n: int) -> str:
    """A count of the progress bar: "1 terminé · 2 à vérifier"."""
    singular, plural = _SHORT.get(state, (state, state))
    return count(n, singular, plural)


_MARK = {"ok": "✓", "business": "?", "system": "✗", "configuration": "⛔"}


class RunProgress:
    """The runner's ``on_event``: a live bar on a terminal, one line per event elsewhere."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]} /min"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.live,
        )
        self.task = self.progress.add_task("Saisie", total=None, counts="", rate="0")
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.started = datetime.now()

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def log_above_the_bar(self, level: str, logs_dir: Path | None) -> None:
        """On a terminal, print log lines above the live bar rather than through it."""
        if not self.live:
            return
        from bot.logs import CONSOLE_FORMAT, configure_logging, logger

        configure_logging(level, logs_dir, console=False)
        logger.add(
            lambda line: self.say(mask(str(line)).rstrip("\n")),
            level=level,
            format=CONSOLE_FORMAT,
            colorize=False,
            backtrace=False,  # as every sink (bot.logs): no frame's variables in a traceback
            diagnose=False,
        )

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def stop_requested(self) -> None:
        """First Ctrl-C: tell the assistant what happens now."""
        self.say(
            "Arrêt demandé : fin de l'élément en cours… (Ctrl-C encore pour arrêter tout de suite)"
        )

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "run_started":
            self.progress.update(self.task, total=event.total or None)
            if not self.live:
                self.say(f"Lot démarré : {event.total} élément(s) à traiter")
        elif event.kind == "item_finished" and event.record is not None:
            self._finished(event.record)
        elif event.kind == "stopping":
            self.say(event.message)

    def _finished(self, record: ItemRecord) -> None:
        self.finished += 1
        key = record.outcome.value
        self.counts[key] = self.counts.get(key, 0) + 1
        minutes = (datetime.now() - self.started).total_seconds() / 60
        rate = f"{self.finished / minutes:.1f}" if minutes > 0 else "0"
        counts = " · ".join(_short(k, n) for k, n in self.counts.items())
        total = self.progress.tasks[0].total
        if total is not None and self.finished > total:
            total = self.finished  # retries within the run add work
        self.progress.update(
            self.task, completed=self.finished, total=total, counts=counts, rate=rate
        )
        # Every item once, at its end, on a terminal as in a file or a pipe (issue 11). Who
        # wants each start too runs with -v: the per-item logs are DEBUG.
        label = STATE_LABELS[record.outcome]
        why = f" — {mask(record.reason)}" if record.reason else ""
        self.say(
            f"{_MARK[record.category]} {record.reference} : {label} "
            f"({duration_text(record.seconds)}){why} [{self.finished}/{total or '?'}]"
        )


class RowProgress:
    """A bar per step of long file work (rows done, rows/s, time left), on a terminal only.

    The work modules call it as ``progress(step, done, total)`` (``total`` None when unknown).
    Off a terminal (cron, a pipe, a test) it draws nothing: the command's summary says it all.
    """

    def __init__(self, console: Console, unit: str = "lignes", *, live: bool = True) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.live = live and console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[done_text]}/{task.fields[total_text]} " + unit),
            TextColumn("· {task.fields[rate]}/s · reste {task.fields[left]}"),
            console=console,
            disable=not self.live,
            # the figures change every PROGRESS_EVERY rows: redrawing ten times a second (rich's
            # default) would only take CPU from the work it shows
            refresh_per_second=2,
        )
        self.tasks: dict[str, tuple[TaskID, float]] = {}

    def __enter__(self) -> RowProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if not self.live:
            return
        if step not in self.tasks:
            task_id = self.progress.add_task(
                step, total=total, done_text="0", total_text="?", rate="…", left="…"
            )
            self.tasks[step] = (task_id, time.monotonic())
        task_id, started = self.tasks[step]
        if total is not None and done > total:
            total = done  # the estimate (lines of a CSV) was short: never show more than 100 %
        # The average since the start, not rich's recent-window speed: updates may be tens of
        # seconds apart on a busy machine, and rich then knows no speed at all.
        elapsed = time.monotonic() - started
        rate = done / elapsed if done and elapsed > 0 else 0.0
        left = "…"
        if rate and total is not None:
            left = duration_text((total - done) / rate)
        self.progress.update(
            task_id,
            completed=done,
            total=total,
            done_text=_thousands(done),
            total_text=_thousands(total) if total is not None else "?",
            rate=_thousands(round(rate)) if rate else "…",
            left=left,
        )


class Working:
    """A spinner and what is being done, for work that cannot count (a browser visiting screens).

    On a terminal only, and gone once done: the command's own result follows.
    """

    def __init__(self, console: Console, text: str, *, live: bool = True) -> None:
        self.console = console
        self.text = text
        self.live = live and console.is_terminal
        self._status: Any = None

    def __enter__(self) -> Working:
        if self.live:
            self._status = self.console.status(self.text)
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


def _thousands(n: int) -> str:
    """12345 → "12 345", as French writes numbers (narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


def ask_in_terminal(
    progress: RunProgress, read: Callable[[str], str] = input
) -> Callable[[PauseRequest], PauseChoice]:
    """The pause prompt of a supervised run: the browser stays on the failing screen meanwhile."""
    from bot.runner import PauseChoice

    answers = {
        "c": PauseChoice.CONTINUE,
        "continuer": PauseChoice.CONTINUE,
        "p": PauseChoice.SKIP,
        "passer": PauseChoice.SKIP,
        "a": PauseChoice.ABORT,
        "arreter": PauseChoice.ABORT,
        "arrêter": PauseChoice.ABORT,
    }

    def ask(request: PauseRequest) -> PauseChoice:
        progress.progress.stop()
        try:
            progress.say(
                f"\nPause sur {request.reference} ({STATE_LABELS[request.outcome]}) : "
                f"{mask(request.reason)}"
            )
            progress.say("Le navigateur reste sur l'écran en cause.")
            while True:
                answer = read("continuer / passer / arrêter ? [c/p/a] ").strip().lower()
                if answer in answers:
                    return answers[answer]
                progress.say("Répondre c (continuer), p (passer) ou a (arrêter).")
        except EOFError:
            return PauseChoice.ABORT  # no one at the terminal any more: stop safely
        finally:
            progress.progress.start()

    return ask


def print_run_summary(console: Console, summary: RunSummary, report: Path | None) -> None:
    """The end-of-run table: counts per outcome, durations, why it stopped, the report file."""
    from rich.table import Table

    from bot.models import ItemState

    title = "Passage du robot" + (" (essai à blanc)" if summary.dry_run else "")
    table = Table(title=title)
    table.add_column("État après le passage")
    table.add_column("Éléments", justify="right")
    for state, n in sorted(summary.counts.items()):
        table.add_row(STATE_LABELS[ItemState(state)], str(n))
    table.add_section()
    table.add_row("Total", str(len(summary.final)), style="bold")
    console.print(table)
    console.print(
        f"Durée {duration_text(summary.duration_seconds)} · par élément : médiane "
        f"{duration_text(summary.median_seconds)}, 95 % en moins de {duration_text(summary.p95_seconds)}",
        highlight=False,
    )
    if summary.message:
        console.print(summary.message, markup=False, highlight=False)
    if summary.queue_counts:
        console.print(
            "Toute la file : "
            + ", ".join(state_count(n, ItemState(s)) for s, n in summary.queue_counts.items()),
            highlight=False,
        )
    if summary.unknown_references:
        console.print(
            "Références inconnues : " + ", ".join(summary.unknown_references), markup=False
        )
    told = [r.reference for r in summary.items if r.identity_info]
    if told:
        console.print(
            f"Informations d'identité (sans décision, dossiers non modifiés) : {', '.join(told)}"
            " — voir le rapport et l'onglet « Informations » du fichier de vérification.",
            markup=False,
            highlight=False,
        )
    # The last line: what happened, true for a dry run, a stop, a retry not yet due (issue 11).
    console.print(
        f"Résultat : {summary.verdict.rstrip('.')} (code {summary.exit_code})",
        markup=False,
        highlight=False,
        soft_wrap=True,  # one line, whatever the width: scripts and people read it whole
    )
    if report is not None:
        console.print(f"Rapport : {report}", markup=False, highlight=False)


_DATA_NAMES = {
    "queue_path": "file de travail",
    "inbox_dir": "exports à ingérer",
    "archive_dir": "exports archivés",
    "screenshots_dir": "captures d'écran",
    "reports_dir": "rapports",
    "reviews_dir": "fichiers de vérification",
    "logs_dir": "journal",
}


def print_data_folders(console: Console, settings: Settings) -> None:
    """Where the data lives: the data folder, and each place set apart from it."""
    home = settings.home.expanduser().resolve()
    # soft_wrap: a path cut in two cannot be copied
    console.print(
        f"Données : {home} (ICOPE_BOT_HOME)", markup=False, highlight=False, soft_wrap=True
    )
    for name, path in settings.data_paths().items():
        if not path.expanduser().resolve().is_relative_to(home):
            variable = f"ICOPE_BOT_{name.upper()}"
            console.print(
                f"  {_DATA_NAMES[name]} ailleurs : {path} ({variable})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
