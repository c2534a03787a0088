"""The inbox: every export ingested once, then archived under a dated name."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from bot.evidence import free_stem
from bot.ingest._mapping import load_mapping
from bot.ingest._read import EXTENSIONS
from bot.ingest._rows import Summary, ingest_file
from bot.logs import logger

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.workqueue import WorkQueue


LEDGER_NAME = "ingested.jsonl"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _ledger(archive: Path) -> dict[str, dict[str, Any]]:
    """Content hash → what was recorded when that content was ingested."""
    p = archive / LEDGER_NAME
    if not p.exists():
        return {}
    out = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            out[entry["sha256"]] = entry
    return out


def _record(archive: Path, entry: dict[str, Any]) -> None:
    p = archive / LEDGER_NAME
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _archive(path: Path, archive: Path, stamp: str, tag: str = "") -> Path:
    """Move a file into the archive under a dated name; never overwrite, never delete."""
    base = Path(f"{stamp}{tag}_{path.name}")
    dest = archive / f"{free_stem(archive, base.stem, (path.suffix,), first=1)}{path.suffix}"
    shutil.move(str(path), dest)
    dest.chmod(0o600)
    return dest


def inbox_files(inbox: Path) -> list[Path]:
    """Export files waiting in the inbox (Excel lock files and hidden files left alone)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file()
        and p.suffix.lower() in EXTENSIONS
        and not p.name.startswith(("~$", ".", "_"))
    )


def ingest_inbox(
    settings: Settings,
    queue: WorkQueue | None = None,
    *,
    now: Callable[[], datetime] = datetime.now,
) -> list[Summary]:
    """Ingest every export in the inbox once, then move it to the archive under a dated name.

    The content hash of each ingested file is appended to ``archive_dir/ingested.jsonl`` (0600):
    the same content, even renamed, is archived without being ingested again. A refused file is
    archived with ``_REFUSE`` in its name and not recorded, so it can be dropped in again once
    fixed. Runs under a file lock, so the scheduler and a person never ingest at the same time.
    """
    inbox, archive = Path(settings.inbox_dir), Path(settings.archive_dir)
    for d in (inbox, archive):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    archive.chmod(0o700)
    mapping = load_mapping(Path(settings.export_mapping))
    own_queue = queue is None
    if queue is None:
        from bot.workqueue import open_queue

        queue = open_queue(settings.queue_target)
    summaries = []
    try:
        with FileLock(str(archive / ".ingest.lock")):
            known = _ledger(archive)
            for path in inbox_files(inbox):
                stamp = now().strftime("%Y%m%d-%H%M%S")
                digest = _file_sha256(path)
                if digest in known:
                    dest = _archive(path, archive, stamp, "_DEJA-INGERE")
                    s = Summary(file=path.name, already_ingested=True, archived_as=dest.name)
                    s.detected = (
                        f"contenu déjà ingéré (archivé sous « {known[digest]['archived_as']} »)"
                    )
                    logger.info("inbox : {} déjà ingéré, archivé sans réingestion", path.name)
                    summaries.append(s)
                    continue
                s = ingest_file(path, queue, mapping)
                dest = _archive(path, archive, stamp, "" if s.ok else "_REFUSE")
                s.archived_as = dest.name
                if s.ok:
                    entry = {
                        "sha256": digest,
                        "file": path.name,
                        "archived_as": dest.name,
                        "at": now().isoformat(timespec="seconds"),
                        **{
                            k: getattr(s, k)
                            for k in ("read", "new", "duplicates", "conflicts", "invalid")
                        },
                    }
                    _record(archive, entry)
                    known[digest] = entry
                summaries.append(s)
    finally:
        if own_queue:
            queue.close()
    return summaries
