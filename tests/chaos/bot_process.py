"""``icope-bot run`` as a real process the chaos tests can watch and SIGKILL, browser included.

The process tree (python, Playwright's driver, Chromium and its helpers) is found through /proc
and killed by process id: a kill -9 of the whole machine's worth of the bot, as a power cut or
the OOM killer would do it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.config import PROJECT_ROOT

__all__ = ["BotProcess", "process_tree", "tree_pss_bytes", "tree_rss_bytes"]


def _children() -> dict[int, list[int]]:
    """Parent pid → child pids, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # the command name (field 2) may hold spaces and parentheses: split after its last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Chromium is a grandchild: python → node driver → chromium)."""
    tree = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _sum_kb(pid: int, file: str, field: str) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/{file}").read_text()
        except OSError:  # ended meanwhile
            continue
        m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
        if m:
            total += int(m.group(1)) * 1024
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, summed (pages shared between Chromium's
    processes counted once per process: an overstatement)."""
    return _sum_kb(pid, "status", "VmRSS")


def tree_pss_bytes(pid: int) -> int:
    """Proportional memory of ``pid`` and its descendants: each shared page split between the
    processes sharing it, so the sum is what the tree really costs the machine."""
    return _sum_kb(pid, "smaps_rollup", "Pss")


class BotProcess:
    """One ``python -m bot.cli run …`` with its stderr lines available as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", *args],
            cwd=cwd,  # no stray .env from the project folder
            env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout.extend(self.proc.stdout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_line(self, pattern: str, timeout: float) -> str | None:
        """The first new stderr line matching ``pattern``; None if the process ended first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line matching {pattern!r} in {timeout:g} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put(None)  # later waits see the end too
                return None
            if regex.search(line):
                return line

    def kill(self) -> int:
        """SIGKILL the whole tree at once, reap the runner; returns how many processes died."""
        pids = process_tree(self.proc.pid)
        for p in pids:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(p, signal.SIGKILL)
        # Reaped, or its pid would still answer kill(pid, 0) and look like a live worker.
        self.proc.wait(timeout=30)
        self.finish()
        return len(pids)

    def wait(self, timeout: float) -> int:
        """Wait for a normal end; the exit code."""
        code = self.proc.wait(timeout=timeout)
        self.finish()
        return code

    def finish(self) -> None:
        for t in self._readers:
            t.join(timeout=10)

    def output(self) -> str:
        return "".join(self.stderr)
