"""What the runner needs from a session on the target and from a flow: nothing more.

The runner never knows a form field; it hands a leased item to a flow with a logged-in session.
These protocols name exactly what it uses, so a test flow or a session on another target fits.
A flow and the session factory it is run with agree on one session type (``SessionT``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from bot.config import Settings
    from bot.evidence import EvidencePolicy
    from bot.workqueue import WorkItem

__all__ = ["Flow", "Session", "SessionFactory", "SessionT", "Untraced"]

#: Wraps a login so nothing of it reaches a trace (see :class:`bot.runner.worker.WorkerBrowser`).
Untraced = Callable[[], contextlib.AbstractContextManager[object]]


class Session(Protocol):
    """A session on the target: one page in one browser context, logged in on demand."""

    @property
    def page(self) -> Page: ...

    def ensure_logged_in(self) -> None: ...

    def screenshot(self, path: Path) -> Path:
        """The whole page as it is now, written to ``path`` (failure evidence)."""
        ...

    def close(self) -> None: ...


SessionT = TypeVar("SessionT", bound=Session)
SessionT_co = TypeVar("SessionT_co", bound=Session, covariant=True)
SessionT_contra = TypeVar("SessionT_contra", bound=Session, contravariant=True)


class SessionFactory(Protocol[SessionT_co]):
    """Builds the session of one worker's context; ``untraced`` wraps each of its logins."""

    def __call__(self, context: BrowserContext, untraced: Untraced) -> SessionT_co: ...


class Flow(Protocol[SessionT_contra]):
    """One business flow run on one leased item (e.g. :func:`bot.flows.double_entry.double_entry`)."""

    def __call__(
        self,
        session: SessionT_contra,
        item: WorkItem,
        settings: Settings,
        *,
        evidence: EvidencePolicy,
        dry_run: bool = ...,
    ) -> object: ...
