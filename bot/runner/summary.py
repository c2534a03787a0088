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
    "EXIT_STOPPED",
    "EXIT_SYSTEM",
    "EXIT_UNKNOWN",
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

EXIT_DONE = 0  # everything asked for is done (or nothing was waiting); a dry run met no problem
EXIT_REVIEW = 1  # some items wait for a person (business exceptions)
EXIT_SYSTEM = 2  # stopped on technical failures, or items failed / wait for a retry (due or not)
EXIT_STOPPED = 3  # stopped before the end (Ctrl-C, "arrêter", stop time): items still wait
EXIT_UNKNOWN = 4  # --reference named items the queue does not hold: nothing done for them

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
    # What still waits is said by the last line (RunSummary.verdict), counted at the end.
    "interrupted": "Arrêt demandé : le lot s'arrête après l'élément en cours.",
    "stop_time": "Heure de fin atteinte : le lot s'arrête après l'élément en cours.",
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
    #: Alerts per source ("app", "target", "reference") and domain, when they were compared.
    alerts: dict[str, dict[str, bool]] | None = None
    # labels of the used traits / contact details the dossier shows otherwise (never values)
    identity_info: tuple[str, ...] = ()
    #: What the bot did in the e-parcours (dossier, STEP 1 with its link, read back or not).
    target: tuple[str, ...] = ()


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
    #: What still waits at the end among the items this run was asked for (all, or the
    #: --reference ones), by state: pending, retry_wait, in_progress (another run's). A dry
    #: run's own items, given back untouched, are not counted.
    waiting: dict[str, int] = field(default_factory=dict)
    next_retry_at: datetime | None = None  # the earliest retry among the waiting ones
    references_asked: bool = False  # run with --reference: "waiting" covers those only

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

    def _in(self, *categories: Category) -> list[ItemRecord]:
        return [r for r in self.final.values() if r.category in categories]

    @property
    def exit_code(self) -> int:
        """See :data:`EXIT_LABELS`; the most urgent fact wins (technical, person, unknown, stop).

        A dry run saves nothing: its code says what a real run would meet.
        """
        technical_stop = self.stopped_reason in _TECHNICAL_STOPS
        if technical_stop or self._in("system", "configuration"):
            return EXIT_SYSTEM
        if self._in("business"):
            return EXIT_REVIEW
        if self.dry_run:
            return EXIT_UNKNOWN if self.unknown_references else EXIT_DONE
        if self.waiting.get(ItemState.RETRY_WAIT.value):
            return EXIT_SYSTEM  # nothing failed now, but an item still waits for a new try
        if self.unknown_references:
            return EXIT_UNKNOWN
        if self.stopped_reason is not None and self.waiting.get(ItemState.PENDING.value):
            return EXIT_STOPPED
        return EXIT_DONE

    @property
    def verdict(self) -> str:
        """The last sentence the assistant reads: what happened, true in every case (French)."""
        code = self.exit_code
        waiting = self.waiting
        pending = waiting.get(ItemState.PENDING.value, 0)
        retry = waiting.get(ItemState.RETRY_WAIT.value, 0)
        elsewhere = waiting.get(ItemState.IN_PROGRESS.value, 0)
        done = sum(r.outcome == ItemState.DONE for r in self.final.values())
        if self.dry_run:
            filled = len(self._in("ok"))
            head = f"Essai à blanc, rien n'a été enregistré : {filled} formulaire(s) rempli(s)"
            if code == EXIT_SYSTEM:
                return f"{head}, {len(self._in('system', 'configuration'))} en erreur technique."
            if code == EXIT_REVIEW:
                return f"{head}, {len(self._in('business'))} demanderai(en)t une décision."
            if code == EXIT_UNKNOWN:
                return f"{head} ; {_unknown(self.unknown_references)}"
            return f"{head} sans problème ; les éléments attendent toujours leur saisie."
        if code == EXIT_SYSTEM:
            failed = sum(r.outcome == ItemState.FAILED for r in self.final.values())
            parts = []
            if failed:
                parts.append(f"{failed} élément(s) en échec")
            if retry:
                when = f" (pas avant {_clock(self.next_retry_at)})" if self.next_retry_at else ""
                parts.append(f"{retry} élément(s) attendent un nouvel essai{when}")
            head = (
                "Lot arrêté sur un problème technique"
                if self.stopped_reason in _TECHNICAL_STOPS
                else "Problème technique"
            )
            return f"{head} : " + (", ".join(parts) or "voir le message ci-dessus") + "."
        if code == EXIT_REVIEW:
            return (
                f"{len(self._in('business'))} élément(s) attendent une décision "
                "(icope-bot review export)."
            )
        if code == EXIT_UNKNOWN:
            return _unknown(self.unknown_references)
        if code == EXIT_STOPPED:
            head = (
                "Heure de fin atteinte" if self.stopped_reason == "stop_time" else "Lot interrompu"
            )
            return f"{head} : {pending} élément(s) attendent le prochain passage."
        if not self.final:
            head = "Rien à saisir : " + (
                "aucun des éléments demandés n'attend le robot"
                if self.references_asked
                else "aucun élément n'attend le robot"
            )
        elif pending:
            head = (
                f"{done} élément(s) saisi(s), alertes concordantes ; {pending} autre(s) attendent"
            )
        else:
            head = f"Tout est saisi : {done} élément(s), alertes concordantes"
        if elsewhere:
            head += f" ; {elsewhere} élément(s) en cours dans un autre passage"
        return head + "."

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
            "verdict": self.verdict,
            "waiting": self.waiting,
            "next_retry_at": None if self.next_retry_at is None else self.next_retry_at.isoformat(),
            "unknown_references": self.unknown_references,
            "recovered_leases": self.recovered_leases,
            "queue_counts": self.queue_counts,
            "items": [
                asdict(r)
                | {
                    "outcome": r.outcome.value,
                    "evidence": list(r.evidence),
                    "target": list(r.target),
                }
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
#: What each exit code means (``run --help``, the README, the report's legend).
EXIT_LABELS = {
    EXIT_DONE: "tout ce qui était demandé est fait, ou rien n'attendait "
    "(essai à blanc : tous les formulaires remplis sans problème)",
    EXIT_REVIEW: "des éléments attendent une décision (icope-bot review export)",
    EXIT_SYSTEM: "arrêt ou échecs techniques : des éléments sont en échec ou attendent "
    "un nouvel essai, même pas encore dû",
    EXIT_STOPPED: "lot interrompu (Ctrl-C, arrêt demandé, heure de fin) : des éléments "
    "attendent le prochain passage",
    EXIT_UNKNOWN: "référence(s) demandée(s) absente(s) de la file : rien n'a été fait pour elles",
}

_TECHNICAL_STOPS = ("circuit_breaker", "configuration", "browser", "worker_error")


def _unknown(references: list[str]) -> str:
    return (
        f"Référence(s) inconnue(s) dans la file : {', '.join(references)} ; "
        "rien n'a été fait pour elle(s)."
    )


def _clock(when: datetime) -> str:
    """A retry time as the assistant reads it: local, day and time."""
    return when.astimezone().strftime("%d/%m/%Y à %H:%M")


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
