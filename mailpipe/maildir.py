"""Maildir delivery, the way a mail transfer agent drops a message into a mailbox.

A message is written under ``tmp/``, its owner and mode set, then renamed into ``new/``: the
IMAP server never sees a half-written or unreadable file. The file's modification time is the
arrival time the IMAP server reports as INTERNALDATE.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from datetime import datetime
from pathlib import Path

__all__ = ["MailOwner", "create_maildir", "deliver_to_maildir"]

_counter = itertools.count()


class MailOwner:
    """The system account the IMAP server reads the mail files as."""

    def __init__(self, uid: int, gid: int) -> None:
        self.uid = uid
        self.gid = gid

    @classmethod
    def current(cls) -> MailOwner:
        return cls(os.getuid(), os.getgid())

    def chown(self, path: Path) -> None:
        # Only root may give files away; an unprivileged pipeline already owns them.
        if os.geteuid() == 0 and (path.stat().st_uid, path.stat().st_gid) != (self.uid, self.gid):
            os.chown(path, self.uid, self.gid)


def create_maildir(path: Path, owner: MailOwner) -> Path:
    """Create an empty Maildir (``cur``, ``new``, ``tmp``) owned by ``owner``."""
    for sub in (path.parent, path, path / "cur", path / "new", path / "tmp"):
        sub.mkdir(mode=0o700, exist_ok=True)
        owner.chown(sub)
    return path


def deliver_to_maildir(
    maildir: Path, message: bytes, owner: MailOwner, received_at: datetime | None = None
) -> Path:
    """Drop one message into ``maildir/new`` and return its path."""
    name = f"{time.time_ns()}.P{os.getpid()}Q{next(_counter)}.{socket.gethostname()}"
    tmp = maildir / "tmp" / name
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(message)
        if os.geteuid() == 0:
            os.fchown(f.fileno(), owner.uid, owner.gid)
    if received_at is not None:
        stamp = received_at.timestamp()
        os.utime(tmp, (stamp, stamp))
    final = maildir / "new" / name
    tmp.rename(final)
    return final
