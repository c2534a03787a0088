"""Evidence of one work item: what is captured, when, and where it is written.

:class:`EvidencePolicy` is the one place that reads ``settings.screenshots``: the runner builds it
and hands it to the flow, which only says "capture this step" (or "this failure"); the policy
decides whether that capture happens, writes it privately and attaches it to the item.

::

    mode               steps (form, alerts)   failures (business, system)   trace (.zip)
    on                 yes                    yes                           on system failure
    only-on-failure    no                     yes                           on system failure
    off                no                     no                            no

Files go to ``screenshots/<date>/<reference>/`` with folders 0700 and files 0600. File names
carry the queue reference and a step name, never a person's name.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ScreenshotMode, TraceMode
from bot.logs import logger

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.workqueue import WorkItem

__all__ = [
    "EvidenceFolder",
    "EvidencePolicy",
    "free_stem",
    "private_dir",
    "private_file",
    "write_private",
]

#: Writes one piece of evidence into the path it is given (a screenshot, a trace).
Capture = Callable[[Path], object]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; tighten it if it already exists and is ours.

    A folder someone else owns, or a shared sticky folder such as /tmp, is left as it is: a user
    pointing an option at /tmp must not lock everybody out of it. Missing parents are created
    0700 too (``mkdir(parents=True)`` would give them the umask's mode: 0777 under umask 000).
    """
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by another process
            continue
    st = path.stat()
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX:
        path.chmod(0o700)
    return path


def private_file(path: Path, *, create: bool = False, empty: bool = False) -> Path:
    """Restrict a file to its owner; ``create`` it first (0600 from its first instant, before
    another program such as SQLite or the browser opens it), ``empty`` it if it exists."""
    if create:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if empty else 0)
        os.close(os.open(path, flags, 0o600))
    path.chmod(0o600)  # an existing file may have been created looser (umask, another tool)
    return path


def write_private(path: Path, content: str | Callable[[Path], object]) -> Path:
    """Write ``path`` (text, or a writer given a path) through a 0600 temporary file in the same
    folder, then rename: never readable by others, never seen half-written."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            content(tmp)
        tmp.chmod(0o600)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def free_stem(folder: Path, stem: str, suffixes: Iterable[str], *, first: int = 2) -> str:
    """``stem``, else ``stem-<first>``, ``stem-<first + 1>``…: the first with no file of any of
    ``suffixes`` in ``folder``. Never overwrite a report, a file a reviewer may be filling, or an
    archived export."""
    suffixes = tuple(suffixes)
    candidate, n = stem, first
    while any((folder / f"{candidate}{s}").exists() for s in suffixes):
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


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
        return private_file(self.path / f"{_SAFE.sub('_', step)}{suffix}", create=True, empty=True)

    def seal(self, path: Path) -> Path:
        """Call after a tool wrote ``path``: makes sure it is private."""
        return private_file(path)


class EvidencePolicy:
    """Decides what evidence an item gets, when, and where it is written (see the module doc)."""

    def __init__(
        self, mode: ScreenshotMode, root: Path, traces: TraceMode = TraceMode.ON_RETRY
    ) -> None:
        self.mode = ScreenshotMode(mode)
        self.root = root
        self.trace_mode = TraceMode(traces)

    @classmethod
    def from_settings(cls, settings: Settings) -> EvidencePolicy:
        return cls(settings.screenshots, settings.screenshots_dir, settings.traces)

    @property
    def traces(self) -> bool:
        """Whether any attempt is traced (no evidence at all: no trace either)."""
        return self.mode is not ScreenshotMode.OFF and self.trace_mode is not TraceMode.OFF

    def traced(self, attempt: int) -> bool:
        """Whether this attempt of an item is traced (the trace is kept on a system failure
        only): every one, or from the second (the default)."""
        if not self.traces:
            return False
        return self.trace_mode is TraceMode.ON or attempt > 1

    def capture(
        self,
        item: WorkItem,
        step: str,
        write: Capture,
        *,
        failure: bool = False,
        suffix: str = ".png",
    ) -> Path | None:
        """Capture ``step`` of ``item`` if the policy wants it: the private path, else None.

        ``write`` writes the file into the path it is given. A step's capture fails like any
        other screen action; a failure's capture never hides the failure itself: a problem is
        logged (type only) and None returned.
        """
        wanted = self.mode is ScreenshotMode.ON or (failure and self.mode is not ScreenshotMode.OFF)
        if not wanted:
            return None
        folder = EvidenceFolder(self.root, item.reference)
        try:
            path = folder.file(step, suffix)
            write(path)
        except Exception as e:
            if not failure:
                raise
            logger.warning(
                "Élément {} : preuve « {} » non enregistrée ({})",
                item.reference,
                step,
                type(e).__name__,
            )
            return None
        folder.seal(path)
        item.add_evidence(path)
        return path
