"""One worker's browser (its context, logged-in session, traces) and the lease heartbeat.

With several workers, each worker's context lives in the run's one shared Chromium
(:class:`bot.browser.SharedChromium`); a single worker launches its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol

from bot.browser import SharedChromium, launch_chromium
from bot.logs import logger
from bot.runner.protocols import SessionFactory, SessionT
from bot.runner.recovery import chromium_env

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, BrowserContext, Playwright

    from bot.workqueue import WorkItem, WorkQueue

__all__ = ["LeaseHeartbeat", "WorkerBrowser"]

#: Every worker's context: French pages, Paris time (dates typed and read as a person would).
_CONTEXT: dict[str, Any] = {"locale": "fr-FR", "timezone_id": "Europe/Paris"}


class _Closable(Protocol):
    """The session and the context: closed in this order (the browser after them)."""

    def close(self) -> None: ...


class WorkerBrowser(Generic[SessionT]):
    """One worker's context and logged-in session; rebuilt if its page or browser dies.

    ``shared``: the run's one Chromium, where this worker opens its own context; without it
    the worker launches a Chromium of its own (a single worker needs no server in between).
    """

    def __init__(
        self,
        make_session: SessionFactory[SessionT],
        *,
        shared: SharedChromium | None = None,
        headed: bool = False,
        slow_mo_ms: int = 0,
        traced: bool = False,
        items_per_context: int = 0,
    ) -> None:
        self.make_session = make_session
        #: Items a context serves before a fresh one (0: no limit). Chromium's renderer of a
        #: context grows by ≈ 13 MB an item and never gives it back (docs/benchmarks.md,
        #: "Mémoire sur une nuit"): a new context every N items bounds it, the session's
        #: cookies carried over (one page load, no new login).
        self.items_per_context = items_per_context
        self.served = 0  # items served by the current context
        self.shared = shared
        self.headed = headed
        self.slow_mo_ms = slow_mo_ms
        self.traced = traced  # items may be traced (DOM snapshots), kept as evidence on failure
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.session: SessionT | None = None
        self.tracing = False  # the item in hand is being traced
        self.fresh = False  # a new session, not logged in yet
        self.item_reference = ""  # the item being traced (titles the trace chunks)

    def ready(self) -> SessionT:
        """The session, starting Playwright and Chromium on first use (not for an empty queue)."""
        alive = self.browser is not None and self.browser.is_connected()
        if alive and self.session is not None and not self.session.page.is_closed():
            if not self.items_per_context or self.served < self.items_per_context:
                self.served += 1
                return self.session
            logger.debug("Contexte du navigateur renouvelé après {} éléments", self.served)
            renewed = self._renew_context()
            if renewed is not None:
                return renewed
        self.close()
        if self.playwright is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
        self.close()
        if self.shared is not None:
            # This thread's Playwright connects to the run's Chromium (its API objects belong
            # to the thread that made them): a new context there, nothing launched.
            self.browser, self.context = self.shared.open_context(
                self.playwright, slow_mo_ms=self.slow_mo_ms, **_CONTEXT
            )
        else:
            # Ctrl-C belongs to the runner: the browser must outlive the first one.
            self.browser = launch_chromium(
                self.playwright,
                headed=self.headed,
                slow_mo_ms=self.slow_mo_ms,
                own_signals=True,
                env=chromium_env(),
            )
            self.context = self.browser.new_context(**_CONTEXT)
        return self._new_session(self.context)

    def _new_session(self, context: BrowserContext) -> SessionT:
        """A session in ``context``, to be logged in by its first item."""
        self.context = context
        self.tracing = False
        session = self.make_session(context, self.untraced)
        self.session = session
        self.fresh = True
        self.served = 1
        return session

    def _renew_context(self) -> SessionT | None:
        """A new context in the same browser (this worker's own, or its connection to the
        shared one), with the old one's cookies: the tool's session goes on, no new login (nor
        one-time code). The old context and its renderer are closed. None if it failed: the
        caller starts afresh."""
        assert self.browser is not None
        assert self.context is not None
        try:
            state = self.context.storage_state()  # in memory only, never written to a file
        except Exception as e:
            logger.debug("Cookies non repris ({})", type(e).__name__)
            state = None
        self._close_context()
        try:
            context = self.browser.new_context(**_CONTEXT, storage_state=state)
        except Exception as e:
            logger.debug("Nouveau contexte refusé ({})", type(e).__name__)
            return None
        return self._new_session(context)

    def _close_context(self) -> None:
        """Close the session and its context, not the browser."""
        closables: tuple[_Closable | None, ...] = (self.session, self.context)
        for closable in closables:
            if closable is None:
                continue
            try:
                closable.close()
            except Exception as e:  # a dead context cannot be closed politely
                logger.debug("Fermeture du contexte : {}", type(e).__name__)
        self.context = self.session = None
        self.tracing = False

    def blank(self) -> None:
        """Empty the page before the next item: nothing of the previous one stays on screen.

        Evidence taken for an item must never show another person's record (issue 11): the
        page of a reused session is reset to about:blank; one that cannot be reset is dropped
        with its browser, and :meth:`ready` starts a fresh one.
        """
        if self.session is None or self.fresh:
            return
        try:
            self.session.page.goto("about:blank")
        except Exception as e:
            logger.warning(
                "Page non vidée entre deux éléments ({}) : navigateur relancé", type(e).__name__
            )
            self.close()

    def start_trace(self, reference: str) -> None:
        """Trace the item about to be worked (its trace ends with :meth:`stop_trace`)."""
        if not self.traced or self.context is None:
            return
        self.item_reference = reference
        self.start_tracing()
        self.tracing = True

    def stop_trace(self, path: Path | None = None) -> None:
        """End the item's trace: written to ``path``, else dropped. Never twice."""
        if not self.tracing or self.context is None:
            return
        self.tracing = False
        self.context.tracing.stop(path=path)

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        """Nothing of a login reaches a trace: the typed password, its POST, the pages' values.

        Tracing stops for the login and starts afresh after it. Stopping a chunk is not enough:
        Playwright keeps one network log per tracing, and the login POST would come back in the
        next chunk's trace.zip.
        """
        context = self.context
        assert context is not None  # a session exists only with its context
        if not self.tracing:
            yield
            return
        context.tracing.stop()
        try:
            yield
        finally:
            self.start_tracing()

    def start_tracing(self) -> None:
        assert self.context is not None
        # DOM snapshots show the page at every action; the screencast (screenshots=True)
        # cost ~2.5 s per item, kept or not (docs/benchmarks.md, "Throughput"), and a
        # failure already gets its full-page screenshot.
        self.context.tracing.start(screenshots=False, snapshots=True, title=self.item_reference)

    def close(self) -> None:
        """Close the session and context; the browser if it is this worker's own, else only
        this worker's connection to the shared one (which the server then forgets)."""
        self._close_context()
        if self.browser is not None:
            try:
                self.browser.close()
            except Exception as e:  # a dead browser cannot be closed politely
                logger.debug("Fermeture du navigateur : {}", type(e).__name__)
        self.browser = None

    def stop(self) -> None:
        """Close the browser and end this thread's Playwright."""
        self.close()
        if self.playwright is not None:
            try:
                self.playwright.stop()
            except Exception as e:
                logger.debug("Arrêt de Playwright : {}", type(e).__name__)
            self.playwright = None


class LeaseHeartbeat:
    """Renews, every ``interval`` seconds, the lease of each item the run's workers hold.

    A long item (a slow target, a wait for a one-time code) is then never taken by a worker of
    another machine while its own worker lives; when the worker's machine dies the renewals stop
    and the item comes back at most ``lease_seconds`` later. One thread per run.
    """

    def __init__(self, queue: WorkQueue, *, interval: float, lease_seconds: float) -> None:
        self.queue = queue
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.renewals = 0
        self._held: dict[str, WorkItem] = {}  # worker → item in hand
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bail-battement", daemon=True)

    def hold(self, item: WorkItem) -> None:
        with self._lock:
            self._held[item.worker] = item

    def drop(self, item: WorkItem) -> None:
        with self._lock:
            if self._held.get(item.worker) is item:
                del self._held[item.worker]

    def start(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 30)

    def beat(self) -> None:
        """Renew every held lease once (the loop's body; tests call it directly)."""
        with self._lock:
            items = list(self._held.values())
        for item in items:
            try:
                until = self.queue.renew(
                    item.reference, item.worker, lease_seconds=self.lease_seconds
                )
            except Exception as e:  # the database away for a moment: try again next beat
                logger.warning("Bail de {} non renouvelé ({})", item.reference, type(e).__name__)
                continue
            if until is not None:
                item.lease_expires = until
                self.renewals += 1
            elif not item.released:
                logger.warning(
                    "Élément {} : bail perdu (expiré et repris par un autre robot)",
                    item.reference,
                )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
