"""A leased item as a context manager: released exactly once, as its outcome says."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

from bot.errors import BusinessException, ConfigurationError, SystemException
from bot.logs import logger, register_pii
from bot.models import ItemState, SelfAssessment
from bot.workqueue.contract import STATE_LABELS, IllegalTransition, RetryPolicy, TransitionChanges

if TYPE_CHECKING:
    from bot.workqueue.contract import WorkQueue

__all__ = ["WorkItem"]

S = ItemState


class WorkItem:
    """A leased item, released exactly once; use it as a context manager.

    ``with item:`` releases it as ``done`` on a normal exit, ``needs_review`` on a
    BusinessException, ``retry_wait`` (or ``failed`` on the last attempt) on a SystemException
    or any other Exception — those are suppressed so the batch goes on; read ``outcome`` and
    ``error`` afterwards. KeyboardInterrupt and SystemExit leave the item ``in_progress`` (its
    lease expires and recovery handles it) and propagate.
    """

    def __init__(
        self,
        queue: WorkQueue,
        *,
        reference: str,
        assessment: SelfAssessment,
        attempt: int,
        recovered: bool,
        worker: str,
        policy: RetryPolicy,
        lease_expires: datetime,
    ) -> None:
        self.queue = queue
        self.reference = reference
        self.assessment = assessment
        # Whatever logs about this item from now on (an unexpected exception's traceback quoting
        # a form value, say) has its names masked, whoever leased it.
        identity = assessment.identity
        register_pii(
            identity.birth_name, identity.used_name, identity.used_first_name, *identity.first_names
        )
        self.attempt = attempt
        self.recovered = recovered
        self.worker = worker
        self.policy = policy
        self.lease_expires = lease_expires
        self.evidence: list[str] = []
        self.result: dict[str, Any] = {}
        self.outcome: ItemState | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return (
            f"WorkItem(reference={self.reference!r}, attempt={self.attempt}, "
            f"recovered={self.recovered}, outcome={self.outcome})"
        )

    @property
    def actor(self) -> str:
        return f"bot:{self.worker}"

    @property
    def released(self) -> bool:
        return self.outcome is not None

    def add_evidence(self, path: Path | str) -> None:
        """Attach a screenshot or trace; it is recorded with the release."""
        self.evidence.append(str(path))

    def done(self, reason: str = "") -> None:
        """Release as done: entered, read back identical, alerts agree."""
        self._release(S.DONE, reason=reason)

    def needs_review(self, reason: str, details: str = "", code: str | None = None) -> None:
        """Release to a person: ``reason`` short and French, ``details`` for the reviewer."""
        self._release(S.NEEDS_REVIEW, reason=reason, details=details, error_code=code)

    def _retry_or_fail(self, reason: str, code: str | None, details: str = "") -> None:
        if self.attempt >= self.policy.max_attempts:
            self._release(
                S.FAILED,
                reason=reason,
                details=details or f"Abandon après {self.attempt} tentative(s).",
                error_code=code,
            )
        else:
            wait = timedelta(seconds=self.policy.delay(self.attempt))
            self._release(
                S.RETRY_WAIT,
                reason=reason,
                details=details,
                error_code=code,
                not_before=self.queue.now() + wait,
            )

    def _release(self, to: ItemState, **changes: Unpack[TransitionChanges]) -> None:
        if self.released:
            raise IllegalTransition(
                f"l'élément {self.reference} a déjà été libéré ({self.outcome})"
            )
        # Only the holder of the lease releases; what it found travels with the release.
        held: TransitionChanges = {
            "expect_from": [S.IN_PROGRESS],
            "owner": self.worker,
            "evidence": list(self.evidence),
            "result": self.result or None,
        }
        reached = self.queue.transition(self.reference, to, actor=self.actor, **(held | changes))
        self.outcome = reached
        if reached != to:
            # A conflicting version came in during the entry: the item went to a person
            # instead of ``done``. The run reports it as the business exception it is.
            view = self.queue.get(self.reference)
            self.error = BusinessException(view.reason, code=view.error_code or "conflict")

    def __enter__(self) -> WorkItem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit: the lease expires and recovery checks the target.
            self.error = exc
            logger.warning(
                "Élément {} laissé en cours ({}) : il sera repris à l'expiration du bail",
                self.reference,
                type(exc).__name__,
            )
            return False
        if exc is not None:
            self.error = exc
        try:
            if exc is None:
                if not self.released:
                    self.done()
            elif self.released:
                logger.opt(exception=exc).error(
                    "Erreur après la libération de l'élément {} ({})",
                    self.reference,
                    self.outcome,
                )
            elif isinstance(exc, ConfigurationError):
                # Not the item's fault: it goes back untouched; the runner halts the run.
                self.queue.release_unstarted(self, f"bot:{self.worker}")
            elif isinstance(exc, BusinessException):
                self.needs_review(exc.message, exc.details, exc.code)
            elif isinstance(exc, SystemException):
                self._retry_or_fail(exc.message, exc.code, exc.details)
            else:
                # A bug: retried like a system error so it surfaces, but its message may quote
                # personal data, so only the type is stored; the masked traceback goes to the log.
                logger.opt(exception=exc).error(
                    "Erreur inattendue sur l'élément {} (tentative {})",
                    self.reference,
                    self.attempt,
                )
                self._retry_or_fail(f"Erreur inattendue : {type(exc).__name__}", "unexpected")
        except IllegalTransition as lost:
            # The lease expired and another worker took the item over: it is theirs now.
            self.error = exc or lost
            logger.warning("Élément {} non libéré : {}", self.reference, lost.message)
        if self.outcome is not None:
            # DEBUG: the console already says how each item ended, once (bot.console).
            logger.debug(
                "Élément {} : {} (tentative {})",
                self.reference,
                STATE_LABELS[self.outcome],
                self.attempt,
            )
        return exc is not None
