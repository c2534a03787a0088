"""The inbox: every export ingested once, then archived under a dated name."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from bot.evidence import free_stem, private_dir
from bot.ingest._mapping import load_mapping
from bot.ingest._read import EXTENSIONS
from bot.ingest._rows import Progress, Summary, ingest_file
from bot.logs import logger
from bot.models import NameRules

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


def _free_name(folder: Path, base: str) -> Path:
    dest = folder / base
    n = 1
    while dest.exists() or dest.is_symlink():
        dest = folder / f"{Path(base).stem}-{n}{Path(base).suffix}"
        n += 1
    return dest


def _refuse(path: Path, refused: Path, stamp: str, reason: str) -> str | None:
    """Move a refused entry to ``refused/`` with a French reason file beside it.

    The entry itself is moved, never what it points to (a symlink stays a link, and the file
    outside the inbox is neither moved nor chmod'ed). Returns the name it got, or None when it
    could not be moved (then it stays in the inbox and is reported again next time).
    """
    private_dir(refused)
    dest = _free_name(refused, f"{stamp}_{path.name}")
    try:
        os.rename(path, dest)  # a rename moves the link or the pipe itself, never follows it
    except OSError:
        if not path.is_file() or path.is_symlink():
            logger.warning("inbox : {} ne peut pas être déplacé dans refused/", path.name)
            return None
        shutil.move(str(path), dest)  # another file system: a regular file is copied
    if dest.is_file() and not dest.is_symlink():
        dest.chmod(0o600)
    note = dest.with_name(dest.name + ".raison.txt")
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(
            f"Fichier « {path.name} » déposé dans la boîte d'entrée, refusé le {stamp[:8]} "
            f"à {stamp[9:11]}h{stamp[11:13]}.\n\n{reason}\n\nCorrigez le fichier puis "
            "déposez-le à nouveau dans la boîte d'entrée : il sera ingéré normalement.\n"
        )
    return dest.name


def _not_a_file(path: Path) -> str | None:
    """Why an inbox entry is not read (a link, a pipe, a device...), or None for a plain file."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return (
            f"« {path.name} » est un lien symbolique : seuls les fichiers déposés eux-mêmes dans "
            "la boîte d'entrée sont lus (un lien pourrait désigner n'importe quel fichier du "
            "disque). Copiez le fichier lui-même dans la boîte d'entrée."
        )
    if not stat.S_ISREG(st.st_mode):
        return (
            f"« {path.name} » n'est pas un fichier ordinaire (tube, périphérique ou socket) : "
            "seuls les fichiers d'export .xlsx ou .csv sont lus."
        )
    return None


def _candidates(inbox: Path) -> list[Path]:
    """Entries of the inbox that look like exports, whatever they are (links included)."""
    if not inbox.is_dir():
        return []
    out = []
    for p in inbox.iterdir():
        if p.name.startswith(("~$", ".", "_")) or p.suffix.lower() not in EXTENSIONS:
            continue
        if p.is_dir() and not p.is_symlink():
            continue  # a sub-folder a person made: not ours to judge
        out.append(p)
    return sorted(out)


def inbox_files(inbox: Path) -> list[Path]:
    """Export files waiting in the inbox: plain files only (links and pipes are refused)."""
    return [p for p in _candidates(inbox) if _not_a_file(p) is None]


def _name_rules(settings: Settings) -> NameRules:
    """The target's name rules (mappings/target.yaml ``rules.names``); defaults if unreadable."""
    try:
        from bot.pages.mapping import load_mapping as load_target_mapping

        return load_target_mapping(Path(settings.mapping)).rules.names
    except Exception:  # the run's preflight reports a broken target mapping; ingestion goes on
        logger.warning("règles de noms de la cible illisibles : règles par défaut")
        return NameRules()


def _refused(path: Path, refused: Path, stamp: str, why: str) -> Summary:
    s = Summary(file=path.name, refused=why)
    s.refused_as = _refuse(path, refused, stamp, why)
    logger.warning("inbox : {} refusé", path.name)
    return s


def _one_file(
    path: Path,
    queue: WorkQueue,
    known: dict[str, dict[str, Any]],
    archive: Path,
    refused: Path,
    stamp: str,
    now: Callable[[], datetime],
    read: Callable[[Path], Summary],
) -> Summary:
    digest = _file_sha256(path)
    if digest in known:
        dest = _archive(path, archive, stamp, "_DEJA-INGERE")
        s = Summary(file=path.name, already_ingested=True, archived_as=dest.name)
        s.detected = f"contenu déjà ingéré (archivé sous « {known[digest]['archived_as']} »)"
        logger.info("inbox : {} déjà ingéré, archivé sans réingestion", path.name)
        return s
    s = read(path)
    if not s.ok:
        s.refused_as = _refuse(path, refused, stamp, s.refused or "")
        return s
    dest = _archive(path, archive, stamp)
    s.archived_as = dest.name
    entry = {
        "sha256": digest,
        "file": path.name,
        "archived_as": dest.name,
        "at": now().isoformat(timespec="seconds"),
        **{k: getattr(s, k) for k in ("read", "new", "duplicates", "conflicts", "invalid")},
    }
    _record(archive, entry)
    known[digest] = entry
    return s


def refused_dir(settings: Settings) -> Path:
    """``refused/`` beside the archive, unless ICOPE_BOT_REFUSED_DIR says otherwise."""
    return Path(settings.refused_dir or Path(settings.archive_dir).parent / "refused")


def ingest_inbox(
    settings: Settings,
    queue: WorkQueue | None = None,
    *,
    now: Callable[[], datetime] = datetime.now,
    progress: Progress | None = None,
) -> list[Summary]:
    """Ingest every export in the inbox once, then move it to the archive under a dated name.

    The content hash of each ingested file is appended to ``archive_dir/ingested.jsonl`` (0600):
    the same content, even renamed, is archived without being ingested again. A file that cannot
    be read (refused whole, a symbolic link, not a regular file) goes to ``refused/`` beside the
    archive with a ``.raison.txt`` in French, and the next files go on: no file can stop the
    night. It is not recorded, so it can be dropped in again once fixed. Runs under a file lock,
    so the scheduler and a person never ingest at the same time.
    """
    from bot.ingest._guard import ReadLimits

    inbox, archive = Path(settings.inbox_dir), Path(settings.archive_dir)
    refused = refused_dir(settings)
    private_dir(archive)
    if not inbox.exists():
        private_dir(inbox)
    mapping = load_mapping(Path(settings.export_mapping))
    limits = ReadLimits.from_settings(settings)
    name_rules = _name_rules(settings)
    own_queue = queue is None
    if queue is None:
        from bot.workqueue import open_queue

        queue = open_queue(settings.queue_target)
    into: WorkQueue = queue

    def read(path: Path) -> Summary:
        return ingest_file(
            path, into, mapping, limits=limits, name_rules=name_rules, progress=progress
        )

    summaries = []
    try:
        with FileLock(str(archive / ".ingest.lock"), mode=0o600):
            known = _ledger(archive)
            for path in _candidates(inbox):
                stamp = now().strftime("%Y%m%d-%H%M%S")
                try:
                    summaries.append(
                        _one_file(path, queue, known, archive, refused, stamp, now, read)
                        if (why := _not_a_file(path)) is None
                        else _refused(path, refused, stamp, why)
                    )
                except Exception as e:  # whatever happens to one file, the next ones go on
                    # The type only: a traceback's variables could hold a cell of the file.
                    logger.error("inbox : {} en erreur ({})", path.name, type(e).__name__)
                    why = f"Erreur inattendue pendant l'ingestion ({type(e).__name__})."
                    summaries.append(_refused(path, refused, stamp, why))
    finally:
        if own_queue:
            queue.close()
    return summaries
