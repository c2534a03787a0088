"""Crash recovery: items leased by a worker of this host whose process is gone come back."""

from __future__ import annotations

import os
import socket

from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import WorkQueue

__all__ = ["recover_dead_workers", "worker_name"]

S = ItemState


def worker_name(n: int) -> str:
    """``host:pid:n``: unique across the machines and processes sharing a queue."""
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_dead_workers(queue: WorkQueue, *, actor: str = "bot:recovery") -> list[str]:
    """End the leases of this host's workers whose process is gone; returns their references.

    Only this host's processes can be checked; other hosts' leases run out on their own.
    """
    host = socket.gethostname()
    dead: set[str] = set()
    for view in queue.items([S.IN_PROGRESS]):
        owner = view.lease_owner or ""
        parts = owner.rsplit(":", 2)  # host:pid:n (see worker_name)
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
