"""Evidence files: screenshots and traces of one work item, private by construction.

``screenshots/<date>/<reference>/`` with folders 0700 and files 0600. File names carry the queue
reference and a step name, never a person's name.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import date
from pathlib import Path

__all__ = ["EvidenceFolder", "private_dir", "private_file"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; tighten it if it already exists and is ours.

    A folder someone else owns, or a shared sticky folder such as /tmp, is left as it is: a user
    pointing an option at /tmp must not lock everybody out of it.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Restrict an existing file to its owner (the browser writes evidence with the umask)."""
    path.chmod(0o600)
    return path


class EvidenceFolder:
    """Where one item's evidence goes: ``<root>/<yyyy-mm-dd>/<reference>/``."""

    def __init__(self, root: Path, reference: str, *, day: date | None = None) -> None:
        # Leading dots removed too: a reference of ".." must not climb out of the day folder.
        safe_ref = _SAFE.sub("_", reference).lstrip(".") or "_"
        self.root = root
        self.path = root / (day or date.today()).isoformat() / safe_ref
        self.reference = safe_ref

    def file(self, step: str, suffix: str = ".png") -> Path:
        """A fresh private path for a step's evidence, e.g. ``02-alerts.png``; the folder exists."""
        private_dir(self.root)
        private_dir(self.path.parent)
        private_dir(self.path)
        target = self.path / f"{_SAFE.sub('_', step)}{suffix}"
        # Pre-create the file 0600 so that even the instant before chmod it is never world-readable.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        return target

    def seal(self, path: Path) -> Path:
        """Call after a tool wrote ``path``: makes sure it is private."""
        return private_file(path)
