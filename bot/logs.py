"""Logging: loguru configured once by the entry point, with personal data masked everywhere.

Code logs references and ids, never names. The mask is the safety net for what slips through
(an exception message quoting a form value, a URL with a query string): it removes e-mail
addresses, INS/NIR numbers, phone numbers, dates and any name registered with :func:`register_pii`.

Times are written in the schedule's zone (``ICOPE_BOT_SCHEDULE_TIMEZONE``, Europe/Paris) with
their offset, whatever the machine's own zone (often UTC on a server): the log, the run report
and the night's schedule then speak of the same hours. :func:`local_text` does the same for
every other time a person reads.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
import sys
import unicodedata
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

__all__ = [
    "CONSOLE_FORMAT",
    "configure_logging",
    "local_text",
    "local_time",
    "logger",
    "mask",
    "register_pii",
]

#: A console log line: local time with its offset ("21:05:03+02:00 INFO    …").
CONSOLE_FORMAT = "{time:HH:mm:ssZ} {level:<7} {message}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSSZ} {level:<7} {message}"

_zone: tzinfo | None = None  # None: the machine's own zone


def local_time(moment: datetime) -> datetime:
    """The moment in the people's zone, as a fixed offset (so that it prints as +02:00)."""
    t = moment.astimezone(_zone)
    offset = t.utcoffset()
    return t if offset is None else t.astimezone(timezone(offset))


def local_text(moment: datetime, fmt: str = "%d/%m/%Y %H:%M:%S") -> str:
    """A time as a person reads it: local to the schedule's zone, with its offset."""
    t = local_time(moment)
    offset = f"{t:%z}"  # "+0200"
    return f"{t:{fmt}} (UTC{offset[:3]}:{offset[3:]})"


def _local_record_time(record: Record) -> None:
    record["time"] = local_time(record["time"])


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # INS / NIR: 13 or 15 characters starting with the sex digit, Corsica letters allowed
    (
        re.compile(r"\b[1-478]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}(?:\s?\d{2})?\b"),
        "<ins>",
    ),
    # French phone numbers: 0X XX XX XX XX, +33 X XX XX XX XX, with spaces, dots or dashes
    (re.compile(r"(?:\+33\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b"), "<tel>"),
    # dates: birth dates are health-adjacent identifiers; assessment dates are logged as ids do
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{4}\b"), "<date>"),
    (re.compile(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b(?!T)"), "<date>"),
)

# Registered names are kept as word keys (no accents, case-folded): masking looks each word of a
# message up in a set, so its cost does not grow with the number of people seen (a regex
# alternation of thousands of names cost ~350 µs per log line).
_name_words: set[str] = set()
_WORD = re.compile(r"[^\W\d_]+")


@functools.lru_cache(maxsize=8192)
def _key(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def register_pii(*values: str | None) -> None:
    """Add personal values (names, first names) seen in input so the log filter masks them.

    Each word of three letters or more counts: "Le Guen-Dubois" masks "Guen" and "Dubois".
    """
    fresh = {_key(w) for v in values if v for w in _WORD.findall(v) if len(w) >= 3}
    if not fresh <= _name_words:
        _name_words.update(fresh)  # set.update is atomic under the GIL: no lock needed


def _mask_word(match: re.Match[str]) -> str:
    word = match.group()
    return "<nom>" if len(word) >= 3 and _key(word) in _name_words else word


def mask(text: str) -> str:
    """The text with personal data replaced by placeholders."""
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    if _name_words:
        text = _WORD.sub(_mask_word, text)
    return text


def _mask_record(record: Record) -> bool:
    record["message"] = mask(record["message"])
    if record["exception"] is not None:
        exc_type, exc, _tb = record["exception"]
        if exc is not None:
            # Keep the exception type and traceback, mask what its message says.
            fresh = type(exc).__new__(type(exc))
            masked: BaseException | None = fresh
            try:
                fresh.args = (mask(str(exc)),)
            except Exception:  # an exotic exception type: drop its message
                masked = exc_type("<message masqué>") if exc_type else None
            record["exception"] = record["exception"]._replace(value=masked)
    for key, value in list(record["extra"].items()):
        if isinstance(value, str):
            record["extra"][key] = mask(value)
    return True


def configure_logging(
    level: str = "INFO",
    log_dir: Path | None = None,
    *,
    console: bool = True,
    timezone_name: str | None = None,
    **sink_options: Any,
) -> None:
    """Configure loguru once: masked console output, and a masked JSON log file with rotation.

    ``timezone_name`` (the schedule's zone) is kept for later calls that do not repeat it.
    """
    global _zone
    if timezone_name:
        _zone = ZoneInfo(timezone_name)
    logger.remove()
    logger.configure(patcher=_local_record_time)
    # A traceback is formatted after the masking filter: loguru's "diagnose" would print every
    # frame's variables (an identity, a row) as they are, and "backtrace" the frames above the
    # catch, into the log. Off for every sink: the frames where it failed, and the masked message.
    traced: dict[str, Any] = {"backtrace": False, "diagnose": False}
    if console:
        logger.add(
            sys.stderr,
            level=level,
            filter=_mask_record,
            format=CONSOLE_FORMAT,
            **traced,
        )
    if log_dir is not None:
        from bot.evidence import private_dir  # deferred: logs is imported by everything

        private_dir(log_dir)
        options: dict[str, Any] = {
            "rotation": "10 MB",
            "retention": 30,
            "compression": _gzip_private,
            # loguru opens its files with the process umask (0644 under the usual 022): the
            # current log and each one it starts after a rotation are created private instead.
            "opener": _open_private,
        }
        logger.add(
            log_dir / "icope-bot.jsonl",
            level="DEBUG",
            filter=_mask_record,
            serialize=True,
            format=_FILE_FORMAT,  # the "text" of each JSON line
            enqueue=True,
            **(options | traced | sink_options),
        )
        # A log written before this fix, or by hand: made private too.
        for f in log_dir.glob("icope-bot*.jsonl*"):
            f.chmod(0o600)


def _open_private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _gzip_private(path: str) -> None:
    """Compress a rotated log into a private ``.gz`` (loguru's own gzip follows the umask)."""
    fd = os.open(f"{path}.gz", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    name = os.path.basename(path)
    with (
        open(path, "rb") as source,
        os.fdopen(fd, "wb") as raw,
        gzip.GzipFile(filename=name, mode="wb", fileobj=raw) as packed,
    ):
        shutil.copyfileobj(source, packed)
    os.remove(path)
