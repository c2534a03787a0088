"""The Excel reader runs in a child process: whatever a workbook does to it, ingestion goes on.

The reader (python-calamine, Rust) allocates what a sheet declares and aborts the whole process
when it cannot (exit 134, no Python exception to catch). So the parent guards the file first
(:mod:`bot.ingest._guard`), then this module reads it in ``python -m bot.ingest._excel_child``
under an address-space limit; the rows come back over a pipe with :mod:`marshal` (plain lists of
strings: nothing to execute), chunk by chunk. A crash, a memory limit or a timeout in the child
becomes a :class:`FileRefused` with a French reason in the parent.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bot.ingest._mapping import ExportMapping
from bot.ingest._read import Detected, FileRefused, _Source

__all__ = ["read_xlsx_in_child"]

_MB = 1024 * 1024
_EXIT_MEMORY = 3


def read_xlsx_in_child(
    path: Path,
    mapping: ExportMapping,
    chunk_rows: int,
    engine: str | None,
    memory_mb: int,
    timeout_seconds: float,
) -> _Source:
    """Open an .xlsx in a contained child process; its rows stream back chunk by chunk."""
    # a Rust backtrace may be long: a file, never a pipe nobody reads (closed in finish())
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    args = [str(path), engine or "", str(chunk_rows), str(memory_mb)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.ingest._excel_child", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    timed_out = threading.Event()

    def kill_late() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_seconds, kill_late)
    timer.daemon = True
    timer.start()
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(mapping.model_dump_json().encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    out: IO[bytes] = proc.stdout

    def finish(wait: float = 0) -> None:
        if wait and proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        out.close()
        stderr.close()

    def why(e: BaseException | None = None) -> FileRefused:
        finish(wait=5)
        return FileRefused(_explain(proc.returncode, memory_mb, timeout_seconds, timed_out))

    try:
        head = marshal.load(out)  # noqa: S302 - our own child; marshal builds data, never code
    except (EOFError, ValueError, TypeError) as e:
        raise why(e) from None
    if head.get("refused"):
        finish(wait=5)
        raise FileRefused(head["refused"])
    detected = Detected("XLSX", None, None, sheet=head["sheet"], header_row=head["header_row"])

    def chunks() -> Iterator[tuple[int, list[list[str]]]]:
        try:
            while (chunk := marshal.load(out)) is not None:  # noqa: S302 - as above
                yield chunk[0], chunk[1]
        except (EOFError, ValueError, TypeError) as e:
            raise why(e) from None
        finish(wait=30)  # the child has sent everything: let it exit on its own
        if proc.returncode != 0:
            raise FileRefused(_explain(proc.returncode, memory_mb, timeout_seconds, timed_out))

    def failure() -> str | None:
        """Why the reader stopped, if it did not end well (asked by its parent only)."""
        finish(wait=5)
        if proc.returncode == 0:
            return None
        return _explain(proc.returncode, memory_mb, timeout_seconds, timed_out)

    src = _Source(detected, head["headers"], chunks(), finish, failure=failure)
    src.title = head["title"]
    src.first_column = head["first_column"]
    return src


def _explain(code: int | None, memory_mb: int, timeout: float, timed_out: threading.Event) -> str:
    if code == _EXIT_MEMORY or code == -signal.SIGABRT:
        return (
            f"le lecteur Excel a dépassé la mémoire autorisée ({memory_mb} Mo) : le classeur est "
            "piégé ou trop gros, enregistrez les données dans un classeur plus petit"
        )
    if timed_out.is_set():
        return (
            f"la lecture du classeur a duré plus de {timeout:g} secondes et a été arrêtée "
            "(classeur piégé ou trop gros)"
        )
    if code is not None and code < 0:
        return f"le lecteur Excel s'est arrêté brutalement sur ce classeur (signal {-code})"
    return f"le lecteur Excel s'est arrêté sur ce classeur (code {code})"


# --- the child ------------------------------------------------------------------------------------


def _limit_memory(budget_mb: int) -> None:
    """Cap the address space at what the process uses now plus ``budget_mb``."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    used = pages * os.sysconf("SC_PAGE_SIZE")
    cap = used + budget_mb * _MB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _child(argv: list[str]) -> int:
    from bot.ingest._read import _read_xlsx

    path, engine, chunk_rows, memory_mb = argv[0], argv[1] or None, int(argv[2]), int(argv[3])
    mapping = ExportMapping.model_validate_json(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    with contextlib.suppress(ImportError):
        import python_calamine  # noqa: F401  (loaded before the cap: its code is not data)
    _limit_memory(memory_mb)
    try:
        src = _read_xlsx(Path(path), mapping, chunk_rows, engine)
    except FileRefused as e:
        marshal.dump({"refused": e.message}, out)
        return 0
    except MemoryError:
        return _EXIT_MEMORY
    head: dict[str, Any] = {
        "sheet": src.detected.sheet,
        "header_row": src.detected.header_row,
        "headers": src.headers,
        "title": src.title,
        "first_column": src.first_column,
    }
    marshal.dump(head, out)
    try:
        for first_row, columns in src.chunks:
            marshal.dump((first_row, columns), out)
    except MemoryError:
        return _EXIT_MEMORY
    except FileRefused as e:
        sys.stderr.write(e.message)
        return 4
    marshal.dump(None, out)
    out.flush()
    src.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
