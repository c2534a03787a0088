"""The batch run: lease items one by one, enter each in the target, classify, stop when told.

::

    run_batch ─► recover leases of dead workers of this machine
              ─► lease heartbeat thread: renews the lease of every item in hand
              ─► N worker threads, each: one context + one session (login once); with N > 1
                   the contexts share one Chromium (bot.browser.SharedChromium, docs/scaling.md)
                   loop: stop asked? limit reached? ─► lease 1 ─► trace chunk ─► with item: flow
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

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic

from bot.browser import SharedChromium
from bot.errors import BusinessException, ConfigurationError
from bot.evidence import EvidencePolicy
from bot.locks import LockProvider
from bot.logs import logger, mask, register_pii
from bot.models import ItemState
from bot.runner.protocols import Flow, SessionFactory, SessionT, Untraced
from bot.runner.recovery import browser_tmp, chromium_env, recover_dead_workers, worker_name
from bot.runner.summary import (
    STOP_LABELS,
    STOP_MESSAGES,
    Ask,
    Category,
    ItemRecord,
    PauseChoice,
    PauseRequest,
    RunEvent,
    RunOptions,
    RunSummary,
    StopReason,
    duration_text,
)
from bot.runner.turns import Turns
from bot.runner.worker import LeaseHeartbeat, WorkerBrowser
from bot.workqueue import STATE_LABELS, RetryPolicy, WorkItem, WorkQueue, work_by_machine

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext

    from bot.config import Settings
    from bot.pages.session import TargetSession

__all__ = ["run_batch", "target_session_factory"]

S = ItemState


class _Run(Generic[SessionT]):
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
        flow: Flow[SessionT],
        make_session: SessionFactory[SessionT],
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.options = options
        self.on_event = on_event
        self.stop = stop
        self.ask = ask
        self.flow = flow
        self.make_session = make_session
        self.policy = RetryPolicy(settings.max_attempts, settings.backoff_seconds)
        self.evidence = EvidencePolicy.from_settings(settings)
        self.heartbeat = LeaseHeartbeat(
            queue, interval=settings.heartbeat_seconds, lease_seconds=settings.lease_seconds
        )
        self.lock = threading.RLock()
        self.halt = threading.Event()  # set by the run itself (breaker, stop time, abort)
        self.records: list[ItemRecord] = []
        self.taken = 0
        self.consecutive_system = 0
        self.stopped_reason: StopReason | None = None
        self.message = ""
        #: Not to be taken again in this run: dry-run items (back to pending) and skipped ones.
        self.excluded: set[str] = set()
        #: Items of people whose searches could meet go in lease order, as with one worker.
        self.turns = Turns()
        #: Several workers: one Chromium, one isolated context per worker (started on first use).
        self.shared: SharedChromium | None = None

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
                logger.warning("Arrêt du lot : {}", STOP_LABELS.get(reason, reason))
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
            from bot.flows.identity import search_keys

            self.turns.join(items[0].reference, search_keys(items[0].assessment.identity))
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
        """One worker's loop (its own thread): its own Playwright, context and session."""
        browser = WorkerBrowser(
            self.make_session,
            shared=self.shared,
            headed=self.options.headed,
            slow_mo_ms=self.options.slow_mo_ms,
            traced=self.evidence.traces,
            items_per_context=self.settings.items_per_context,
        )
        try:
            while (item := self.take(worker)) is not None:
                if self.should_stop():
                    # Stop asked while leasing: the item was not started, give it back.
                    self.queue.release_unstarted(item, item.actor)
                    self.turns.leave(item.reference)
                    break
                register_pii(
                    item.assessment.identity.birth_name,
                    item.assessment.identity.used_name,
                    *item.assessment.identity.first_names,
                )
                self.heartbeat.hold(item)
                browser.blank()
                try:
                    try:
                        session = browser.ready()
                    except Exception as e:
                        logger.opt(exception=True).error("Navigateur non démarré ({})", worker)
                        self.queue.release_unstarted(item, item.actor)
                        self.halt_with("browser", cause=type(e).__name__)
                        break
                    self.process(item, browser, session, worker)
                finally:
                    self.heartbeat.drop(item)
                    self.turns.leave(item.reference)
        finally:
            browser.stop()

    def process(
        self, item: WorkItem, browser: WorkerBrowser[SessionT], session: SessionT, worker: str
    ) -> None:
        settings, options = self.settings, self.options
        self.emit(RunEvent("item_started", worker, item.reference, item.attempt))
        logger.debug(
            "Élément {} : début (tentative {}{})",
            item.reference,
            item.attempt,
            ", reprise" if item.recovered else "",
        )
        started = time.monotonic()
        if self.evidence.traced(item.attempt):
            browser.start_trace(item.reference)
        captured: list[bool] = []
        in_flow: list[bool] = []

        def enter() -> None:
            try:
                if browser.fresh:
                    # Log in once per browser; the flow logs in again if the tool ends it.
                    session.ensure_logged_in()
                    browser.fresh = False
                in_flow.append(True)
                with self.turns.turn(item.reference):
                    self.flow(
                        session, item, settings, evidence=self.evidence, dry_run=options.dry_run
                    )
            except Exception as e:
                if not isinstance(e, BusinessException):
                    captured.append(self.capture_failure(item, browser, screen=not in_flow))
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
                browser.stop_trace()
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
        elif isinstance(error, ConfigurationError):
            category, reason, code = "configuration", error.message, error.code
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
            alerts=item.result.get("alerts") if item.result else None,
            identity_info=tuple(
                str(d.get("label")) for d in item.result.get("identity_info") or ()
            ),
            target=tuple((item.result.get("target") or {}).get("summary") or ()),
        )
        # DEBUG: the console already shows each item's end once (bot.console.RunProgress).
        logger.debug(
            "Élément {} : {}{} en {}",
            item.reference,
            STATE_LABELS[outcome],
            f" [{code}]" if code else "",
            duration_text(seconds),
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
            if record.category == "configuration":
                self.halt_with("configuration", cause=record.reason)
            elif breaker:
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

    def capture_failure(
        self, item: WorkItem, browser: WorkerBrowser[SessionT], *, screen: bool
    ) -> bool:
        """The item's trace and, if ``screen``, a full-page screenshot, as the evidence policy
        wants. True if the trace chunk was stopped here.

        ``screen`` only for a failure before the flow started (opening the tool, logging in:
        screens that show no person). Inside the flow, the flow alone knows whether the page
        shows this item's own usager, and asks for the screenshot itself.
        """
        session = browser.session
        # A page still blank (emptied before the item) has nothing to show.
        shows = session is not None and not session.page.is_closed()
        if screen and session is not None and shows and session.page.url != "about:blank":
            self.evidence.capture(item, f"echec-{item.attempt}", session.screenshot, failure=True)
        if not browser.tracing:
            return False

        def save_trace(path: Path) -> None:
            browser.stop_trace(path)

        # The chunk is over either way (written or not): it must never be stopped twice.
        self.evidence.capture(
            item, f"trace-{item.attempt}", save_trace, failure=True, suffix=".zip"
        )
        return True


def target_session_factory(
    settings: Settings, locks: LockProvider | None = None
) -> SessionFactory[TargetSession]:
    """Sessions on the configured target, its mapping read once for every worker.

    ``locks``: where the one-login-per-account lock lives (the run's queue).
    """
    from bot.pages.mapping import load_mapping
    from bot.pages.session import TargetSession

    mapping = load_mapping(settings.mapping)

    def make(context: BrowserContext, untraced: Untraced) -> TargetSession:
        return TargetSession(context, settings, mapping=mapping, untraced=untraced, locks=locks)

    return make


def run_batch(
    settings: Settings,
    queue: WorkQueue,
    options: RunOptions,
    *,
    on_event: Callable[[RunEvent], None] | None = None,
    stop: threading.Event | None = None,
    ask: Ask | None = None,
    flow: Flow[TargetSession] | None = None,
    make_session: SessionFactory[TargetSession] | None = None,
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
        make_session=make_session or target_session_factory(settings, locks=queue),
    )
    started = datetime.now(UTC)
    recovered = recover_dead_workers(queue, machine=settings.machine_name)
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
    names = [worker_name(n, settings.machine_name) for n in range(1, options.workers + 1)]
    threads = [
        # Daemon: a second Ctrl-C leaves at once; the items' leases cover what was in progress.
        threading.Thread(target=_guarded, args=(run, name), name=f"robot-{i}", daemon=True)
        for i, name in enumerate(names, 1)
    ]
    with browser_tmp(settings.queue_path):
        if options.workers > 1:
            run.shared = SharedChromium(headed=options.headed, env=chromium_env())
        try:
            run.heartbeat.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            run.heartbeat.stop()
        finally:
            if run.shared is not None:
                run.shared.close()  # before its profile folder is emptied
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
        machines=work_by_machine(queue, started),
        references_asked=options.references is not None,
    )
    _count_waiting(summary, queue, options)
    logger.info(
        "Lot terminé : {} élément(s), code de sortie {}{}",
        len(summary.final),
        summary.exit_code,
        f", arrêt {summary.stopped_reason}" if summary.stopped_reason else "",
    )
    run.emit(RunEvent("run_finished", summary=summary))
    return summary


def _count_waiting(summary: RunSummary, queue: WorkQueue, options: RunOptions) -> None:
    """What still waits among the items asked for: the exit code and last line depend on it."""
    wanted = set(options.references) if options.references is not None else None
    # A dry run gives its items back untouched: they were rehearsed, not left behind.
    rehearsed = set(summary.final) if options.dry_run else set()
    waiting: dict[str, int] = {}
    retries: list[datetime] = []
    for v in queue.items([S.PENDING, S.RETRY_WAIT, S.IN_PROGRESS]):
        if (wanted is not None and v.reference not in wanted) or v.reference in rehearsed:
            continue
        waiting[v.state.value] = waiting.get(v.state.value, 0) + 1
        if v.state == S.RETRY_WAIT and v.not_before is not None:
            retries.append(v.not_before)
    summary.waiting = waiting
    summary.next_retry_at = min(retries, default=None)


def _guarded(run: _Run[SessionT], worker: str) -> None:
    """A worker thread: an unexpected error stops the run instead of vanishing silently."""
    try:
        run.work(worker)
    except Exception as e:
        logger.opt(exception=True).error("Robot {} arrêté sur une erreur", worker)
        run.halt_with("worker_error", cause=type(e).__name__)
