"""What every request of one sandbox run shares: config, storage, faults, clock, templates."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from sandbox.config import Account, Faults, SandboxConfig
from sandbox.db import Store
from sandbox.identity import format_date
from sandbox.labels import renamed, search_columns, section_order, texts

__all__ = ["Clock", "FaultState", "Runtime", "render", "runtime"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


class Clock:
    """Wall-clock time that tests may move forward (session expiry, code validity, lock-out)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def timestamp(self) -> float:
        return self.now().timestamp()


class FaultState:
    """The current fault knobs and the random generator that decides when they fire."""

    def __init__(self, faults: Faults) -> None:
        self.set(faults)

    def set(self, faults: Faults) -> None:
        self.current = faults
        self._rng = random.Random(faults.seed)

    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply some knobs (unknown or invalid ones raise ValueError); the rest keep their value."""
        unknown = set(changes) - set(Faults.model_fields)
        if unknown:
            raise ValueError(f"réglages inconnus : {sorted(unknown)}")
        faults = Faults(**{**self.current.model_dump(), **changes})
        renamed(texts(faults.ui_variant), faults.renamed_texts)  # a typo'd key: ValueError
        self.set(faults)
        return self.current

    def fires(self, rate: float) -> bool:
        """Whether a fault with this rate happens now (no draw at all when the rate is 0)."""
        return rate > 0 and self._rng.random() < rate

    def latency_seconds(self) -> float:
        f = self.current
        if not f.latency_ms and not f.jitter_ms:
            return 0.0
        jitter = self._rng.uniform(-f.jitter_ms, f.jitter_ms) if f.jitter_ms else 0.0
        return max(0.0, f.latency_ms + jitter) / 1000


@dataclass
class Runtime:
    """The state of one running sandbox, reachable from any request as ``runtime(request)``."""

    config: SandboxConfig
    store: Store
    faults: FaultState
    clock: Clock = field(default_factory=Clock)
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES_DIR))
    )

    def __post_init__(self) -> None:
        self.templates.env.filters["date_fr"] = format_date
        self.templates.env.filters["decimal_fr"] = _decimal_fr

    def account(self, username: str | None) -> Account | None:
        return next((a for a in self.config.accounts if a.username == username), None)

    def texts(self) -> dict[str, Any]:
        faults = self.faults.current
        shown = texts(faults.ui_variant)
        return renamed(shown, faults.renamed_texts) if faults.renamed_texts else shown


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime  # Starlette's app.state is untyped
    return found


def _decimal_fr(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}".replace(".", ",")


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """A full page: common context (texts, user, CSRF token, flash, footer) plus the page's own."""
    rt = runtime(request)
    session = getattr(request.state, "session", None) or {}
    flash = session.get("flash")
    if flash:
        rt.store.update_session(session["id"], flash=None)
    full_context = {
        "t": rt.texts(),
        "variant": rt.faults.current.ui_variant,
        "sections": section_order(rt.faults.current.ui_variant),
        "column_order": search_columns(rt.faults.current.ui_variant),
        "user": rt.account(session.get("username")),
        "csrf": session.get("csrf", ""),
        "flash": flash,
        "version": rt.config.version,
        # what the sandbox is playing, for whoever looks at a screenshot or the screen
        "playing": {
            "faults": rt.faults.current.describe(),
            "otp": rt.config.otp_mode,
            "data": Path(rt.config.db_path).name,
        },
        "shape": rt.faults.current,
        "info_modal": status < 400 and rt.faults.fires(rt.faults.current.info_modal_rate),
        "breadcrumb": [],
        **(context or {}),
    }
    return rt.templates.TemplateResponse(request, template, full_context, status_code=status)
