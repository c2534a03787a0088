"""Crash recovery: items leased by a worker of this machine whose process is gone come back.

Worker names are ``machine:pid:n``. ``machine`` is the host name, or ``Settings.machine_name``
when set (two bot "machines" on one host in the tests; a clearer name in the reports). Only this
machine's processes can be checked; another machine's items come back when their lease runs out —
at most ``lease_seconds`` after that machine's last heartbeat (:class:`bot.runner.worker.LeaseHeartbeat`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.evidence import private_dir
from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import WorkQueue

__all__ = ["browser_tmp", "chromium_env", "machine_of", "recover_dead_workers", "worker_name"]

S = ItemState


def worker_name(n: int, machine: str = "") -> str:
    """``machine:pid:n``: unique across the machines and processes sharing a queue."""
    return f"{machine or socket.gethostname()}:{os.getpid()}:{n}"


def machine_of(worker: str | None) -> str:
    """The machine part of a worker name (``bot:`` prefix of history actors tolerated)."""
    name = (worker or "").removeprefix("bot:")
    parts = name.rsplit(":", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_dead_workers(
    queue: WorkQueue, *, actor: str = "bot:recovery", machine: str = ""
) -> list[str]:
    """End the leases of this machine's workers whose process is gone; returns their references.

    Only this machine's processes can be checked; other machines' leases run out on their own.
    """
    host = machine or socket.gethostname()
    dead: set[str] = set()
    for view in queue.items([S.IN_PROGRESS]):
        owner = view.lease_owner or ""
        parts = owner.rsplit(":", 2)  # machine:pid:n (see worker_name)
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


# --- the browsers' temporary files ------------------------------------------------------------

#: Under the queue's folder: one ``run-<pid>`` folder per running process.
TMP_DIR = "tmp"


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        try:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        except OSError as e:
            logger.warning("Fichier temporaire du navigateur non effacé : {}", type(e).__name__)


_system_tmp: list[str] = []  # the temp folder before browser_tmp changed it


def chromium_env() -> dict[str, str] | None:
    """Chromium's own environment during a run: the system temp folder back.

    Chromium keeps only its single-instance socket there (no page data: the profile is in
    the private folder, made by the driver). A socket path is limited to 107 bytes, which a
    private folder deep in an installation could exceed (Chromium then aborts).
    """
    if not _system_tmp:
        return None
    return {**os.environ, "TMPDIR": _system_tmp[-1]}


@contextlib.contextmanager
def browser_tmp(queue_path: Path) -> Iterator[Path]:
    """Playwright and Chromium write their temporary files in the bot's private folder.

    The driver creates ``playwright-artifacts-*`` (downloads, traces) and Chromium's profile
    (cache included) in the temp folder of its environment: left in /tmp by a killed run, they
    held names and birth dates for anyone to read. During a run, ``TMPDIR`` (read by the driver
    when Playwright starts) points at ``<queue folder>/tmp/run-<pid>/`` (0700); the folder is
    emptied at the end, and the folders of this machine's dead runs at the start of the next.
    """
    base = private_dir(queue_path.parent / TMP_DIR)
    for child in base.iterdir():
        pid = child.name.removeprefix("run-")
        if (
            child.is_dir()
            and pid.isdigit()
            and int(pid) != os.getpid()
            and not _pid_alive(int(pid))
        ):
            _empty(child)
            with contextlib.suppress(OSError):
                child.rmdir()
            logger.info("Fichiers temporaires d'un passage interrompu effacés")
    folder = private_dir(base / f"run-{os.getpid()}")
    _empty(folder)
    previous = os.environ.get("TMPDIR")
    _system_tmp.append(tempfile.gettempdir())  # resolved (and cached) before the change
    os.environ["TMPDIR"] = str(folder)
    try:
        yield folder
    finally:
        _system_tmp.pop()
        if previous is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous
        _empty(folder)
        with contextlib.suppress(OSError):
            folder.rmdir()
