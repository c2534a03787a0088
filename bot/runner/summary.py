"""What a run did, told in figures: options, per-item records, events, exit codes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from bot.models import ItemState

__all__ = [
    "CATEGORY_LABELS",
    "EXIT_DONE",
    "EXIT_LABELS",
    "EXIT_REVIEW",
    "EXIT_SYSTEM",
    "STOP_LABELS",
    "STOP_MESSAGES",
    "Ask",
    "Category",
    "ItemRecord",
    "PauseChoice",
    "PauseRequest",
    "RunEvent",
    "RunOptions",
    "RunSummary",
    "StopReason",
    "duration_text",
]

EXIT_DONE = 0  # every item handled was entered and agrees
EXIT_REVIEW = 1  # some items wait for a person (business exceptions)
EXIT_SYSTEM = 2  # the run stopped on technical failures, or items wait for a retry / failed

StopReason = Literal[
    "circuit_breaker", "configuration", "interrupted", "stop_time", "browser", "worker_error"
]
Category = Literal["ok", "business", "system", "configuration"]

#: What each stop reason means, for the assistant.
STOP_MESSAGES: dict[str, str] = {
    "circuit_breaker": "Arrêt du lot : {n} erreurs techniques de suite (dernière : {cause}). "
    "Les éléments restants n'ont pas été touchés ; vérifier l'outil cible puis relancer.",
    "configuration": "Arrêt du lot : {cause} Aucun autre élément n'a été tenté ; "
    "corriger le réglage puis relancer.",
    "interrupted": "Arrêt demandé : le lot s'est arrêté après l'élément en cours. "
    "Les éléments restants attendent le prochain passage.",
    "stop_time": "Heure de fin atteinte : le lot s'est arrêté après l'élément en cours. "
    "Les éléments restants attendent le prochain passage.",
    "browser": "Le navigateur n'a pas pu démarrer ({cause}) : aucun élément n'a été modifié.",
    "worker_error": "Un robot s'est arrêté sur une erreur inattendue ({cause}) : "
    "voir le journal. Les éléments restants n'ont pas été touchés.",
}


@dataclass
class RunOptions:
    """What the assistant (or the scheduler) asked for this run."""

    limit: int | None = None  # at most this many items taken from the queue
    references: list[str] | None = None  # only these items
    workers: int = 1
    headed: bool = False
    slow_mo_ms: int = 0
    pause_on_exception: bool = False  # supervised: ask what to do after each exception
    dry_run: bool = False  # fill the form, never save; items go back untouched
    stop_at: datetime | None = None  # the scheduler's stop time: no new item after it


@dataclass(frozen=True)
class ItemRecord:
    """One item handled in this run: references and codes only, never identity."""

    reference: str
    outcome: ItemState  # the state the item is in after this attempt
    category: Category  # ok, business (a person decides) or system (retry may help)
    reason: str  # French, for a person
    error_code: str | None
    seconds: float
    attempt: int
    worker: str
    recovered: bool = False
    dry_run: bool = False
    evidence: tuple[str, ...] = ()


@dataclass
class RunSummary:
    """What a run did: per item, per outcome, how long, and why it stopped."""

    started_at: datetime
    finished_at: datetime
    workers: int
    dry_run: bool
    items: list[ItemRecord] = field(default_factory=list)
    stopped_reason: StopReason | None = None
    message: str = ""  # French, why the run stopped (empty: the queue was emptied)
    unknown_references: list[str] = field(default_factory=list)
    recovered_leases: list[str] = field(default_factory=list)
    queue_counts: dict[str, int] = field(default_factory=dict)  # the whole queue, at the end
    #: Whole queue, during the run: machine → {state released to: count} (several machines on
    #: one PostgreSQL queue; bot.workqueue.work_by_machine)
    machines: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, ItemRecord]:
        """The last record of each reference (an item may be retried within one run)."""
        return {r.reference: r for r in self.items}

    @property
    def counts(self) -> dict[str, int]:
        """Items per outcome (their state after this run), every outcome reached."""
        counts: dict[str, int] = {}
        for r in self.final.values():
            counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
        return counts

    @property
    def exceptions(self) -> list[ItemRecord]:
        """Every attempt that ended in an exception, in order."""
        return [r for r in self.items if r.category != "ok"]

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def median_seconds(self) -> float | None:
        seconds = [r.seconds for r in self.items]
        return statistics.median(seconds) if seconds else None

    @property
    def p95_seconds(self) -> float | None:
        seconds = sorted(r.seconds for r in self.items)
        return seconds[math.ceil(0.95 * len(seconds)) - 1] if seconds else None

    @property
    def per_minute(self) -> float:
        minutes = self.duration_seconds / 60
        return len(self.items) / minutes if minutes > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some items wait for a person, 2 stopped or left on system failures."""
        final = self.final.values()
        if self.stopped_reason in (
            "circuit_breaker",
            "configuration",
            "browser",
            "worker_error",
        ) or any(r.category in ("system", "configuration") for r in final):
            return EXIT_SYSTEM
        if any(r.category == "business" for r in final):
            return EXIT_REVIEW
        return EXIT_DONE

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``icope-bot run --json``), stable keys."""
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "workers": self.workers,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "handled": len(self.final),
            "attempts": len(self.items),
            "median_seconds": self.median_seconds,
            "p95_seconds": self.p95_seconds,
            "stopped_reason": self.stopped_reason,
            "message": self.message,
            "exit_code": self.exit_code,
            "unknown_references": self.unknown_references,
            "recovered_leases": self.recovered_leases,
            "queue_counts": self.queue_counts,
            "items": [
                asdict(r) | {"outcome": r.outcome.value, "evidence": list(r.evidence)}
                for r in self.items
            ],
        }


EventKind = Literal[
    "run_started", "item_started", "item_finished", "stopping", "paused", "run_finished"
]


@dataclass(frozen=True)
class RunEvent:
    """Something the progress display may show. Sent from worker threads, one at a time."""

    kind: EventKind
    worker: str | None = None
    reference: str | None = None
    attempt: int | None = None
    record: ItemRecord | None = None  # item_finished
    total: int | None = None  # run_started: items expected (may grow with retries)
    message: str = ""  # stopping: why, in French
    summary: RunSummary | None = None  # run_finished


class PauseChoice(StrEnum):
    """The assistant's answer when a supervised run pauses on an exception."""

    CONTINUE = "continuer"  # go on with the next item; this one follows its classification
    SKIP = "passer"  # same, and this item is not taken again in this run
    ABORT = "arrêter"  # stop the run now


@dataclass(frozen=True)
class PauseRequest:
    """What the pause prompt shows: the failing item, never identity."""

    reference: str
    outcome: ItemState
    reason: str
    error_code: str | None
    evidence: tuple[str, ...]


Ask = Callable[[PauseRequest], PauseChoice]


STOP_LABELS = {
    None: "file vidée",
    "circuit_breaker": "disjoncteur (erreurs techniques de suite)",
    "configuration": "réglage à corriger",
    "interrupted": "arrêt demandé",
    "stop_time": "heure de fin atteinte",
    "browser": "navigateur non démarré",
    "worker_error": "erreur d'un robot",
}
CATEGORY_LABELS = {
    "ok": "",
    "business": "à décider",
    "system": "technique",
    "configuration": "réglage",
}
EXIT_LABELS = {
    0: "tout est saisi",
    1: "des éléments attendent une décision",
    2: "arrêt ou échecs techniques",
}


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".", ",")
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
