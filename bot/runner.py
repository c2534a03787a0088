"""The batch run: lease items one by one, enter each in the target, classify, stop when told.

::

    run_batch ─► recover leases of dead workers of this host
              ─► N worker threads, each: Chromium + one context + one TargetSession (login once)
                   loop: stop asked? limit reached? ─► lease 1 ─► trace chunk ─► with item: double_entry
                         └─ system failure: full-page screenshot + trace.zip as evidence
              ─► RunSummary (counts, durations, exceptions, why it stopped, exit code)

Outcomes come from :class:`bot.workqueue.WorkItem` (``with item:``): a BusinessException sends
the item to a person, a SystemException (or a bug) to a retry with backoff, then to ``failed``.
The runner adds what only a batch knows: the **circuit breaker** (N system failures in a row
stop the run and leave the rest untouched), a clean stop between items (Ctrl-C, scheduler's stop
time, the assistant's "arrêter"), the dry run (fill, never save, give the item back untouched)
and crash recovery (a worker of this machine whose process is gone gives its items back at once).

The runner prints nothing: it reports through ``on_event`` (progress bar, scheduler, tests) and
logs references and codes only.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from bot.errors import BusinessException
from bot.evidence import EvidenceFolder
from bot.logs import logger, mask, register_pii
from bot.models import ItemState
from bot.workqueue import RetryPolicy, WorkItem, WorkQueue

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

    from bot.config import Settings

__all__ = [
    "EXIT_DONE",
    "EXIT_REVIEW",
    "EXIT_SYSTEM",
    "ItemRecord",
    "PauseChoice",
    "PauseRequest",
    "RunEvent",
    "RunOptions",
    "RunSummary",
    "recover_dead_workers",
    "run_batch",
    "sigint_stops",
    "worker_name",
]

S = ItemState

EXIT_DONE = 0  # every item handled was entered and agrees
EXIT_REVIEW = 1  # some items wait for a person (business exceptions)
EXIT_SYSTEM = 2  # the run stopped on technical failures, or items wait for a retry / failed

StopReason = Literal["circuit_breaker", "interrupted", "stop_time", "browser", "worker_error"]
Category = Literal["ok", "business", "system"]

#: What each stop reason means, for the assistant.
STOP_MESSAGES: dict[str, str] = {
    "circuit_breaker": "Arrêt du lot : {n} erreurs techniques de suite (dernière : {cause}). "
    "Les éléments restants n'ont pas été touchés ; vérifier l'outil cible puis relancer.",
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
        if self.stopped_reason in ("circuit_breaker", "browser", "worker_error") or any(
            r.category == "system" for r in final
        ):
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
Flow = Callable[..., Any]


def worker_name(n: int) -> str:
    """``host:pid:n``: unique across the machines and processes sharing a queue."""
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_dead_workers(queue: WorkQueue, *, actor: str = "bot:recovery") -> list[str]:
    """End the leases of this host's workers whose process is gone; returns their references.

    Only this host's processes can be checked; other hosts' leases run out on their own.
    """
    host = socket.gethostname()
    dead: set[str] = set()
    for view in queue.items([S.IN_PROGRESS]):
        owner = view.lease_owner or ""
        parts = owner.rsplit(":", 2)  # host:pid:n (see worker_name)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not _pid_alive(pid):
            dead.add(owner)
    if not dead:
        return []
    refs = queue.expire_leases(
        dead,
        actor=actor,
        reason="Processus du robot arrêté pendant le traitement : élément repris",
    )
    for ref in refs:
        logger.warning("Élément {} : bail d'un robot arrêté terminé, il sera repris", ref)
    return refs


@contextlib.contextmanager
def sigint_stops(
    stop: threading.Event, on_first: Callable[[], None] | None = None
) -> Iterator[None]:
    """Ctrl-C once: set ``stop`` (the run ends after the current items). Twice: abort at once.

    Main thread only. The abort raises KeyboardInterrupt: items being entered stay in progress,
    their lease runs out (or the next run on this machine ends it) and recovery takes over.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if on_first is not None:
            on_first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- one run ---------------------------------------------------------------------------------


class _Browser:
    """One worker's Chromium, context and logged-in session; rebuilt if the browser dies."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.session: Any = None
        self.tracing = False
        self.fresh = False  # a new session, not logged in yet
        self.item_reference = ""  # the item being traced (titles the trace chunks)

    def ready(self) -> Any:
        """The session, starting Playwright and Chromium on first use (not for an empty queue)."""
        alive = self.browser is not None and self.browser.is_connected()
        if alive and self.session is not None and not self.session.page.is_closed():
            return self.session
        self.close()
        if self.playwright is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
        self.close()
        from bot.browser import launch_options

        options = self.run.options
        self.browser = self.playwright.chromium.launch(
            **launch_options(headed=options.headed, slow_mo_ms=options.slow_mo_ms),
            # Ctrl-C belongs to the runner: the browser must outlive the first one.
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        self.context = self.browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
        self.tracing = self.run.screenshots_on
        if self.tracing:
            self.start_tracing()
        self.session = self.run.make_session(self.context)
        if self.tracing and hasattr(self.session, "untraced"):
            self.session.untraced = self.untraced
        self.fresh = True
        return self.session

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        """Nothing of a login reaches a trace: the typed password, its POST, the pages' values.

        Tracing stops for the login and starts afresh after it. Stopping a chunk is not enough:
        Playwright keeps one network log per tracing, and the login POST would come back in the
        next chunk's trace.zip.
        """
        context = self.context
        assert context is not None  # a session exists only with its context
        context.tracing.stop()
        try:
            yield
        finally:
            self.start_tracing()
            context.tracing.start_chunk(title=self.item_reference)

    def start_tracing(self) -> None:
        assert self.context is not None
        # DOM snapshots show the page at every action; the screencast (screenshots=True)
        # cost ~2.5 s per item, kept or not (docs/benchmarks.md, "Throughput"), and a
        # failure already gets its full-page screenshot.
        self.context.tracing.start(screenshots=False, snapshots=True)

    def close(self) -> None:
        for step in (
            lambda: self.session is not None and self.session.close(),
            lambda: self.context is not None and self.context.close(),
            lambda: self.browser is not None and self.browser.close(),
        ):
            try:
                step()
            except Exception as e:  # a dead browser cannot be closed politely
                logger.debug("Fermeture du navigateur : {}", type(e).__name__)
        self.browser = self.context = self.session = None
        self.tracing = False

    def stop(self) -> None:
        """Close the browser and end this thread's Playwright."""
        self.close()
        if self.playwright is not None:
            try:
                self.playwright.stop()
            except Exception as e:
                logger.debug("Arrêt de Playwright : {}", type(e).__name__)
            self.playwright = None


class _Run:
    """State shared by the workers of one run (under ``lock``)."""

    def __init__(
        self,
        settings: Settings,
        queue: WorkQueue,
        options: RunOptions,
        *,
        on_event: Callable[[RunEvent], None] | None,
        stop: threading.Event,
        ask: Ask | None,
        flow: Flow,
        make_session: Callable[[BrowserContext], Any],
    ) -> None:
        from bot.config import ScreenshotMode

        self.settings = settings
        self.queue = queue
        self.options = options
        self.on_event = on_event
        self.stop = stop
        self.ask = ask
        self.flow = flow
        self.make_session = make_session
        self.policy = RetryPolicy(settings.max_attempts, settings.backoff_seconds)
        self.screenshots_on = settings.screenshots != ScreenshotMode.OFF
        self.lock = threading.RLock()
        self.halt = threading.Event()  # set by the run itself (breaker, stop time, abort)
        self.records: list[ItemRecord] = []
        self.taken = 0
        self.consecutive_system = 0
        self.stopped_reason: StopReason | None = None
        self.message = ""
        #: Not to be taken again in this run: dry-run items (back to pending) and skipped ones.
        self.excluded: set[str] = set()

    # --- events and stopping -------------------------------------------------------------

    def emit(self, event: RunEvent) -> None:
        if self.on_event is None:
            return
        with self.lock:
            try:
                self.on_event(event)
            except Exception:  # a display problem must not stop the entry of items
                logger.opt(exception=True).warning("Affichage de la progression en erreur")

    def halt_with(self, reason: StopReason, **fmt: object) -> None:
        with self.lock:
            if self.stopped_reason is None:
                self.stopped_reason = reason
                self.message = STOP_MESSAGES[reason].format(**fmt)
                logger.warning("Arrêt du lot ({})", reason)
                self.halt.set()
                self.emit(RunEvent("stopping", message=self.message))

    def should_stop(self) -> bool:
        if self.halt.is_set():
            return True
        if self.stop.is_set():
            self.halt_with("interrupted")
            return True
        stop_at = self.options.stop_at
        if stop_at is not None:
            now = self.queue.now() if stop_at.tzinfo else datetime.now()
            if now >= stop_at:
                self.halt_with("stop_time")
                return True
        return False

    # --- taking items ------------------------------------------------------------------------

    def take(self, worker: str) -> WorkItem | None:
        """Lease the next item for ``worker``, or None when the run is over for it."""
        with self.lock:
            if self.should_stop():
                return None
            limit = self.options.limit
            if limit is not None and self.taken >= limit:
                return None
            references = self._references()
            if references is not None and not references:
                return None
            items = self.queue.lease(
                worker,
                1,
                lease_seconds=self.settings.lease_seconds,
                policy=self.policy,
                references=references,
            )
            if not items:
                return None
            self.taken += 1
            return items[0]

    def _references(self) -> list[str] | None:
        wanted = self.options.references
        if not self.excluded:
            return wanted
        # Some items must not come back in this run: offer every other candidate explicitly.
        candidates = self.queue.items([S.PENDING, S.RETRY_WAIT, S.IN_PROGRESS])
        return [
            v.reference
            for v in candidates
            if v.reference not in self.excluded and (wanted is None or v.reference in wanted)
        ]

    def expected_total(self) -> int:
        """Items this run should handle if nothing fails (for the progress bar)."""
        now = self.queue.now()
        wanted = set(self.options.references) if self.options.references is not None else None
        n = 0
        for v in self.queue.items([S.PENDING, S.RETRY_WAIT, S.IN_PROGRESS]):
            if v.assessment is None or (wanted is not None and v.reference not in wanted):
                continue
            if v.state == S.RETRY_WAIT and v.not_before is not None and v.not_before > now:
                continue
            if v.state == S.IN_PROGRESS and v.lease_expires is not None and v.lease_expires > now:
                continue
            n += 1
        return n if self.options.limit is None else min(n, self.options.limit)

    # --- one item ------------------------------------------------------------------------------

    def work(self, worker: str) -> None:
        """One worker's loop (its own thread): its own Playwright, browser and session."""
        browser = _Browser(self)
        try:
            while (item := self.take(worker)) is not None:
                if self.should_stop():
                    # Stop asked while leasing: the item was not started, give it back.
                    self.queue.release_unstarted(item, item.actor)
                    break
                register_pii(
                    item.assessment.identity.birth_name,
                    item.assessment.identity.used_name,
                    *item.assessment.identity.first_names,
                )
                try:
                    session = browser.ready()
                except Exception as e:
                    logger.opt(exception=True).error("Navigateur non démarré ({})", worker)
                    self.queue.release_unstarted(item, item.actor)
                    self.halt_with("browser", cause=type(e).__name__)
                    break
                self.process(item, browser, session, worker)
        finally:
            browser.stop()

    def process(self, item: WorkItem, browser: _Browser, session: Any, worker: str) -> None:
        settings, options = self.settings, self.options
        self.emit(RunEvent("item_started", worker, item.reference, item.attempt))
        logger.info(
            "Élément {} : début (tentative {}{})",
            item.reference,
            item.attempt,
            ", reprise" if item.recovered else "",
        )
        started = time.monotonic()
        if browser.tracing:
            browser.item_reference = item.reference
            browser.context.tracing.start_chunk(title=item.reference)
        captured: list[bool] = []

        def enter() -> None:
            try:
                if browser.fresh:
                    # Log in once per browser; the flow logs in again if the tool ends it.
                    session.ensure_logged_in()
                    browser.fresh = False
                self.flow(session, item, settings, dry_run=options.dry_run)
            except Exception as e:
                if not isinstance(e, BusinessException):
                    captured.append(self.capture_failure(item, browser))
                raise

        error: BaseException | None = None
        if options.dry_run:
            # Nothing is saved: whatever happened, the item goes back to pending untouched.
            try:
                enter()
            except Exception as e:
                error = e
                logger.opt(exception=e).warning(
                    "Élément {} : essai à blanc en erreur", item.reference
                )
            self.queue.release_unstarted(item, item.actor)
            with self.lock:
                self.excluded.add(item.reference)
            outcome = S.PENDING
        else:
            with item:
                enter()
            error = item.error
            outcome = item.outcome or self.queue.get(item.reference).state
        if browser.tracing and not captured:
            try:
                browser.context.tracing.stop_chunk()
            except Exception as e:
                logger.debug("Trace non arrêtée : {}", type(e).__name__)
        record = self.record(item, worker, outcome, error, time.monotonic() - started)
        self.after(record)

    def record(
        self,
        item: WorkItem,
        worker: str,
        outcome: ItemState,
        error: BaseException | None,
        seconds: float,
    ) -> ItemRecord:
        if error is None:
            category: Category = "ok"
            reason, code = "", None
        elif isinstance(error, BusinessException):
            category, reason, code = "business", error.message, error.code
        else:
            category = "system"
            reason = getattr(error, "message", f"Erreur inattendue : {type(error).__name__}")
            code = getattr(error, "code", "unexpected")
        record = ItemRecord(
            reference=item.reference,
            outcome=outcome,
            category=category,
            reason=mask(reason),  # it travels to the report, the JSON and the morning mail
            error_code=code,
            seconds=round(seconds, 3),
            attempt=item.attempt,
            worker=worker,
            recovered=item.recovered,
            dry_run=self.options.dry_run,
            evidence=tuple(item.evidence),
        )
        logger.info(
            "Élément {} → {} ({}) en {:.1f} s", item.reference, outcome.value, code or "ok", seconds
        )
        return record

    def after(self, record: ItemRecord) -> None:
        """Count the record, trip the breaker, pause for the assistant if asked."""
        with self.lock:
            self.records.append(record)
            if record.category == "system":
                self.consecutive_system += 1
            else:
                self.consecutive_system = 0
            breaker = self.consecutive_system >= self.settings.circuit_breaker
            self.emit(RunEvent("item_finished", record.worker, record.reference, record=record))
            if breaker:
                self.halt_with("circuit_breaker", n=self.consecutive_system, cause=record.reason)
        if record.category != "ok" and self.options.pause_on_exception and self.ask is not None:
            self.emit(RunEvent("paused", record.worker, record.reference, record=record))
            choice = PauseChoice(
                self.ask(
                    PauseRequest(
                        record.reference,
                        record.outcome,
                        record.reason,
                        record.error_code,
                        record.evidence,
                    )
                )
            )
            logger.info("Élément {} : l'assistante a choisi « {} »", record.reference, choice)
            if choice == PauseChoice.ABORT:
                self.halt_with("interrupted")
            elif choice == PauseChoice.SKIP:
                with self.lock:
                    self.excluded.add(record.reference)

    def capture_failure(self, item: WorkItem, browser: _Browser) -> bool:
        """Full-page screenshot and the item's trace, as private evidence. True if traced."""
        if not self.screenshots_on:
            return False
        folder = EvidenceFolder(self.settings.screenshots_dir, item.reference)
        traced = False
        try:
            page = browser.session.page
            if not page.is_closed():
                shot = folder.file(f"echec-{item.attempt}")
                page.screenshot(path=shot, full_page=True)
                item.add_evidence(folder.seal(shot))
        except Exception as e:
            logger.warning(
                "Élément {} : capture d'écran impossible ({})", item.reference, type(e).__name__
            )
        if browser.tracing:
            traced = True  # the chunk is over either way: never stop it twice
            try:
                trace = folder.file(f"trace-{item.attempt}", ".zip")
                browser.context.tracing.stop_chunk(path=trace)
                item.add_evidence(folder.seal(trace))
            except Exception as e:
                logger.warning(
                    "Élément {} : trace non enregistrée ({})", item.reference, type(e).__name__
                )
        return traced


def _default_session_factory(settings: Settings) -> Callable[[BrowserContext], Any]:
    from bot.pages.mapping import load_mapping
    from bot.pages.session import TargetSession

    mapping = load_mapping(settings.mapping)
    return lambda context: TargetSession(context, settings, mapping=mapping)


def run_batch(
    settings: Settings,
    queue: WorkQueue,
    options: RunOptions,
    *,
    on_event: Callable[[RunEvent], None] | None = None,
    stop: threading.Event | None = None,
    ask: Ask | None = None,
    flow: Flow | None = None,
    make_session: Callable[[BrowserContext], Any] | None = None,
) -> RunSummary:
    """Run one batch: every eligible item once (retries whose time has come included).

    ``stop`` set from outside (Ctrl-C, scheduler) ends the run after the current items. ``ask``
    is called after each exception when ``options.pause_on_exception`` (one worker only).
    ``flow`` and ``make_session`` default to :func:`bot.flows.double_entry.double_entry` and a
    :class:`bot.pages.session.TargetSession` on the configured mapping.
    """
    if options.workers < 1:
        raise ValueError("il faut au moins un robot (workers ≥ 1)")
    if options.pause_on_exception and options.workers != 1:
        raise ValueError("la pause sur exception ne fonctionne qu'avec un seul robot (--workers 1)")
    if flow is None:
        from bot.flows.double_entry import double_entry

        flow = double_entry
    run = _Run(
        settings,
        queue,
        options,
        on_event=on_event,
        stop=stop or threading.Event(),
        ask=ask,
        flow=flow,
        make_session=make_session or _default_session_factory(settings),
    )
    started = datetime.now(UTC)
    recovered = recover_dead_workers(queue)
    unknown: list[str] = []
    for ref in options.references or ():
        try:
            queue.get(ref)
        except KeyError:
            unknown.append(ref)
    if unknown:
        logger.warning("Références inconnues dans la file : {}", ", ".join(unknown))
    logger.info(
        "Lot démarré : {} robot(s){}", options.workers, ", essai à blanc" if options.dry_run else ""
    )
    run.emit(RunEvent("run_started", total=run.expected_total()))
    names = [worker_name(n) for n in range(1, options.workers + 1)]
    threads = [
        # Daemon: a second Ctrl-C leaves at once; the items' leases cover what was in progress.
        threading.Thread(target=_guarded, args=(run, name), name=f"robot-{i}", daemon=True)
        for i, name in enumerate(names, 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = RunSummary(
        started_at=started,
        finished_at=datetime.now(UTC),
        workers=options.workers,
        dry_run=options.dry_run,
        items=list(run.records),
        stopped_reason=run.stopped_reason,
        message=run.message,
        unknown_references=unknown,
        recovered_leases=recovered,
        queue_counts={s.value: n for s, n in queue.counts().items() if n},
    )
    logger.info(
        "Lot terminé : {} élément(s), code de sortie {}{}",
        len(summary.final),
        summary.exit_code,
        f", arrêt {summary.stopped_reason}" if summary.stopped_reason else "",
    )
    run.emit(RunEvent("run_finished", summary=summary))
    return summary


def _guarded(run: _Run, worker: str) -> None:
    """A worker thread: an unexpected error stops the run instead of vanishing silently."""
    try:
        run.work(worker)
    except Exception as e:
        logger.opt(exception=True).error("Robot {} arrêté sur une erreur", worker)
        run.halt_with("worker_error", cause=type(e).__name__)
