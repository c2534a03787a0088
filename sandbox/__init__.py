"""A stand-in of the regional e-parcours web tool (FastAPI + Jinja2 + SQLite), in French.

It is "the other system" for icope-bot: it never imports ``bot``. Build it with
``create_app(SandboxConfig(...))``, or run it with ``serve_in_thread`` (tests) / ``serve`` (CLI).
"""

from sandbox.app import create_app
from sandbox.config import Account, Faults, Professional, SandboxConfig
from sandbox.server import RunningSandbox, serve, serve_in_thread

__all__ = [
    "Account",
    "Faults",
    "Professional",
    "RunningSandbox",
    "SandboxConfig",
    "create_app",
    "serve",
    "serve_in_thread",
]
