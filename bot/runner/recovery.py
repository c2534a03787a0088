"""Crash recovery: items leased by a worker of this machine whose process is gone come back.

Worker names are ``machine:pid:n``. ``machine`` is the host name, or ``Settings.machine_name``
when set (two bot "machines" on one host in the tests; a clearer name in the reports). Only this
machine's processes can be checked; another machine's items come back when their lease runs out —
at most ``lease_seconds`` after that machine's last heartbeat (:class:`bot.runner.worker.LeaseHeartbeat`).
"""

from __future__ import annotations

import os
import socket

from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import WorkQueue

__all__ = ["machine_of", "recover_dead_workers", "worker_name"]

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
