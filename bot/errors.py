"""The one error tree of icope-bot.

::

    BotError                      code + a message a non-programmer understands
    ├── BusinessException         a person must decide; never retried  → needs_review
    │     identity_ambiguous, identity_near_match, consent_missing,
    │     alerts_discordant, readback_mismatch, invalid_input, ...
    ├── SystemException           retrying may help                     → retry_wait / failed
    │     timeout, server_error, session_lost, ui_changed, navigation, otp_unavailable, ...
    └── ConfigurationError        the bot is set up wrong: the run halts at once, the item
          credentials_refused, ...  goes back to pending untouched (no attempt counted)

Page objects catch Playwright errors and re-raise one of these with ``raise ... from e``.
Any other exception reaching the runner counts as a SystemException, so real bugs still surface
(they are retried a bounded number of times, then the item fails with the traceback in the log).
"""

from __future__ import annotations

__all__ = ["BotError", "BusinessException", "ConfigurationError", "SystemException"]


class BotError(Exception):
    """Base of every error icope-bot raises on purpose."""

    default_code = "bot_error"

    def __init__(self, message: str, *, code: str | None = None, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        #: Extra explanation for the reviewer (candidates listed, field differences...).
        self.details = details

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class BusinessException(BotError):
    """The item cannot go on without a person's decision; retrying would not help."""

    default_code = "business"


class SystemException(BotError):
    """Something technical went wrong (timeout, server error, UI change); a retry may help."""

    default_code = "system"


class ConfigurationError(BotError):
    """The bot is set up wrong (credentials, effecteur, OTP, mapping): no item can succeed.

    Retrying item after item would only lock the robot's account or trip the breaker late: the
    run halts at once, the item in hand goes back to ``pending`` untouched, and the message says
    what to fix.
    """

    default_code = "configuration"
