"""Running the sandbox: in a background thread for tests and demos, or blocking for the CLI."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from sandbox.app import create_app
from sandbox.config import SandboxConfig

__all__ = ["RunningSandbox", "banner", "serve", "serve_in_thread"]


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is ready to take requests."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class RunningSandbox:
    """A sandbox serving on ``base_url``; the helpers call its test endpoints (when enabled)."""

    base_url: str
    config: SandboxConfig
    app: FastAPI

    # Any: the JSON of a test endpoint; each helper below annotates the shape it returns.
    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 URL
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def reset(self) -> dict[str, Any]:
        """Empty the data, restore the configured faults, unlock accounts, reset the clock."""
        knobs: dict[str, Any] = self._call("POST", "/__test__/reset", {})
        return knobs

    def snapshot(self) -> dict[str, Any]:
        """Every usager, evaluation and task as they are now (for :meth:`restore`)."""
        records: dict[str, Any] = self._call("GET", "/__test__/snapshot")
        return records

    def restore(self, snapshot: dict[str, Any]) -> None:
        """:meth:`reset`, then the records of a :meth:`snapshot` put back as they were."""
        self._call("POST", "/__test__/restore", snapshot)

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault knobs, e.g. ``set_faults(error_rate=1.0)``; returns all knobs."""
        knobs: dict[str, Any] = self._call("POST", "/__test__/faults", changes)
        return knobs

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock forward (session idle time, code validity, lock-out)."""
        self._call("POST", "/__test__/clock", {"advance_seconds": seconds})

    def counts(self) -> dict[str, int]:
        """``{usagers, step1, duplicate_usagers, duplicate_step1}``."""
        counts: dict[str, int] = self._call("GET", "/__test__/counts")
        return counts

    def step1s(self, **filters: Any) -> list[dict[str, Any]]:
        """Saved STEP 1s; filters ``usager_id``, ``date`` (aaaa-mm-jj), ``mode``."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        saved: list[dict[str, Any]] = self._call(
            "GET", "/__test__/step1" + (f"?{query}" if query else "")
        )
        return saved

    def usagers(self) -> list[dict[str, Any]]:
        """Every usager, in creation order (strict traits, INS, created_by)."""
        usagers: list[dict[str, Any]] = self._call("GET", "/__test__/usagers")
        return usagers

    def add_usager(self, **identity: Any) -> int:
        """Create a usager directly (form field names); returns its id."""
        return int(self._call("POST", "/__test__/usagers", identity)["id"])


def _uvicorn_config(app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )


@contextmanager
def serve_in_thread(
    config: SandboxConfig | None = None, *, port: int = 0
) -> Iterator[RunningSandbox]:
    """Serve a sandbox on 127.0.0.1 in a thread (``port`` 0: a free one); shut it down on exit."""
    config = config or SandboxConfig()
    app = create_app(config)
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections: with proto 0 it
    # does not, and Nagle + delayed ACKs add ~40 ms to every keep-alive request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = _Server(_uvicorn_config(app))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
    )
    thread.start()
    try:
        while not server.ready.wait(0.05):
            if not thread.is_alive():
                raise RuntimeError("le bac à sable e-parcours n'a pas pu démarrer")
        yield RunningSandbox(base_url=f"http://127.0.0.1:{port}", config=config, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def banner(config: SandboxConfig, url: str) -> str:
    """What the sandbox prints at start-up: where it runs and the training accounts."""
    lines = [
        f"e-parcours (bac à sable) version {config.version} sur {url}",
        f"Interface : {config.faults.ui_variant}",
        f"Défaillances simulées : {config.faults.describe()}",
        f"Second facteur : {config.otp_mode}"
        + (f" (SMTP {config.smtp_host}:{config.smtp_port})" if config.otp_mode == "email" else ""),
        f"Données : {config.db_path}",
        "Comptes de formation (bac à sable uniquement) :",
    ]
    lines += [
        f"  - {a.username} / {a.password.get_secret_value()} ({a.display_name}, {a.email})"
        for a in config.accounts
    ]
    return "\n".join(lines)


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox until interrupted (Ctrl+C)."""
    config = config or SandboxConfig()
    app = create_app(config)
    print(banner(config, f"http://{host}:{port}"), flush=True)
    # no access log: search URLs carry names and birth dates (?nom=…&date_naissance=…)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    server.run()
