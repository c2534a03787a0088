"""Throughput benchmark: items per minute through the whole double entry, and its floor.

    .venv/bin/python benchmarks/throughput.py                  # full run, figures into docs/benchmarks.md
    .venv/bin/python benchmarks/throughput.py --items-per-worker 3 --workers 1 2 --no-record

For each added latency of the e-parcours (sandbox fault ``latency_ms``: 0 and 300 ms per request)
and each number of workers (1, 2, 4), a fresh queue of sample self-assessments is entered by
:func:`bot.runner.run_batch` with real Chromium against the sandbox, which runs in its own process
(so its work is not counted in the bot's process). Measured: items per minute (wall clock of the
whole run: browser start and login included), the median seconds per item, and the peak memory of
the bot's process tree (python + Playwright driver + every Chromium process, from /proc): PSS,
where a page shared by several processes is split between them (what the tree costs the
machine), and summed RSS, where it is counted once per process (an overstatement).

The **floor** is the same work without a browser: one httpx client per worker makes the requests
a person's browser makes for one item (search, new usager form and POST, chooser, STEP 1 form and
POST with its CSRF token, evaluation page, alerts panel), logged in once per worker.

Memory and CPU by process (section "Mémoire et workers" of docs/benchmarks.md): the bot's
processes are read from /proc (``stat`` for CPU time every 0.5 s, ``smaps_rollup`` for PSS every
2 s; the sampling thread's own CPU left out of the bot's figures) and sorted
by kind: the bot's python, the Playwright drivers (one node per worker thread), the browser
server (one node per run with several workers), Chromium's browser process, its renderers, its
other processes (GPU, network, zygotes), and the sandbox (its own process, never counted in the
bot's memory). The first worker's PSS is the 1-worker run's peak; an additional worker's is
(peak with N − peak with 1) / (N − 1).

Targets: at 0 ms, the bot's time per item is at most 5× the floor's; at 300 ms, 4 workers enter
at least 3.3× as many items per minute as 1 worker; at most 350 MB PSS per additional worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.bot_process import process_tree  # noqa: E402
from tests.fixtures.eparcours_http import EParcoursClient, step1_form, usager_form  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Throughput"
BEGIN, END = "<!-- throughput figures: begin -->", "<!-- throughput figures: end -->"
WORKERS_HEADING = "### Mémoire et workers"
WORKERS_BEGIN = "<!-- workers memory figures: begin -->"
WORKERS_END = "<!-- workers memory figures: end -->"
BOT_USER, BOT_PASSWORD = "bot", "bot-icope-2025"  # the sandbox's training account
EFFECTEUR = "Julien Moreau"
RATIO_TARGET = 5.0
SCALING_TARGET = 3.3


@dataclass
class Measure:
    latency_ms: int
    workers: int
    items: int
    seconds: float
    per_minute: float
    median_item_s: float | None
    peak_rss_mb: float | None
    outcomes: dict[str, int]
    peak_pss_mb: float | None = None
    #: CPU seconds of the measured side (the bot's process tree, or the floor's clients), the
    #: sandbox's process left out: on a shared machine this moves less than the wall time.
    cpu_seconds: float | None = None
    load: float | None = None  # the machine's 1-minute load average at the end of the run
    #: PSS by process kind at the peak (MB), and CPU seconds per item by process kind.
    pss_by_kind: dict[str, float] | None = None
    cpu_per_item: dict[str, float] | None = None
    loads: str = ""  # load averages (1, 5, 15 min) at the end of the run


# --- the sandbox, in its own process ---------------------------------------------------------------


def serve_sandbox(db: Path) -> None:
    """Child mode: serve a sandbox (no second factor, test routes on); print its URL; run until
    standard input closes."""
    from sandbox.config import SandboxConfig
    from sandbox.server import serve_in_thread

    config = SandboxConfig(db_path=db, otp_mode="none", test_endpoints=True, demo_data=False)
    with serve_in_thread(config) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


class Sandbox:
    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-sandbox", str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("le bac à sable n'a pas démarré")
        from sandbox.server import RunningSandbox

        self.control = RunningSandbox(base_url=self.base_url, config=None, app=None)  # type: ignore[arg-type]

    def prepare(self, latency_ms: int) -> None:
        self.control.reset()
        self.control.set_faults(latency_ms=latency_ms)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- the bot -----------------------------------------------------------------------------------------


KINDS = (
    "bot (python)",
    "Playwright drivers (node)",
    "browser server (node)",
    "Chromium browser",
    "Chromium renderers",
    "Chromium GPU",
    "Chromium other",  # network and storage services, zygotes
)
CLOCK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:  # the process ended meanwhile
        return ""


def _exe(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds used so far) of ``pid``; (0, 0) if it is gone."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    if len(fields) < 13:
        return 0, 0.0
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK


def _kind(pid: int, me: int) -> str:
    if pid == me:
        return KINDS[0]
    exe = _exe(pid)
    # Chromium rewrites its helpers' command lines as one string: search it whole.
    command = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
    if exe == "node":
        return KINDS[1] if " run-driver" in command else KINDS[2]
    if "chrom" in exe:
        if "chrom" not in _exe(_stat(pid)[0]):
            return KINDS[3]
        if "--type=renderer" in command:
            return KINDS[4]
        return KINDS[5] if "--type=gpu-process" in command else KINDS[6]
    return "other"


class PeakRss:
    """Samples this process's tree (the sandbox's process excluded): each process's CPU time
    every 0.5 s (a cheap read of /proc/<pid>/stat), and every 2 s the summed RSS and PSS and
    the PSS of each process kind at the peak (``smaps_rollup`` makes the kernel walk each
    process's memory: ≈ 3 ms of CPU a process, too dear to read twice a second beside a
    CPU-bound run). The sampler's own CPU is measured (``sampler_cpu``) and left out of the
    bot's python figure: it is the benchmark's, not the bot's."""

    #: Memory is read every this many CPU samples.
    MEMORY_EVERY = 4

    def __init__(self, exclude: int | None = None) -> None:
        self.exclude = exclude
        self.peak = 0
        self.peak_pss = 0
        self.pss_by_kind: dict[str, int] = {}
        self.cpu_by_kind: dict[str, float] = {}
        self._start_cpu: dict[int, float] = {}  # processes there before the run
        self._last: dict[int, tuple[str, float]] = {}  # pid → (kind, CPU seconds last seen)
        self.sampler_cpu = 0.0  # CPU seconds of the sampling thread itself
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[int]:
        skip = set(process_tree(self.exclude)) if self.exclude else set()
        return [p for p in process_tree(os.getpid()) if p not in skip]

    def sample(self, *, memory: bool = True) -> None:
        me = os.getpid()
        rss = pss = 0
        by_kind: dict[str, int] = {}
        for pid in self._pids():
            kind = self._last[pid][0] if pid in self._last else _kind(pid, me)
            if memory:
                rss += _kb(pid, "status", "VmRSS")
                kb = _kb(pid, "smaps_rollup", "Pss")
                pss += kb
                by_kind[kind] = by_kind.get(kind, 0) + kb
            cpu = os.times().user + os.times().system if pid == me else _stat(pid)[1]
            if cpu:
                self._last[pid] = (kind, cpu)
        self.peak = max(self.peak, rss)
        if pss > self.peak_pss:
            self.peak_pss, self.pss_by_kind = pss, by_kind

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.thread_time()
            self.sample(memory=n % self.MEMORY_EVERY == 0)
            self.sampler_cpu += time.thread_time() - started
            n += 1
            self._stop.wait(0.5)

    def __enter__(self) -> PeakRss:
        me = os.getpid()
        for pid in self._pids():
            self._start_cpu[pid] = (
                os.times().user + os.times().system if pid == me else _stat(pid)[1]
            )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        for pid, (kind, cpu) in self._last.items():
            used = cpu - self._start_cpu.get(pid, 0.0)
            self.cpu_by_kind[kind] = self.cpu_by_kind.get(kind, 0.0) + used
        if KINDS[0] in self.cpu_by_kind:  # this process: the sampler is the benchmark's
            self.cpu_by_kind[KINDS[0]] -= self.sampler_cpu


def _kb(pid: int, file: str, field: str) -> int:
    """One field of /proc/<pid>/<file> in bytes (0 if the process is gone)."""
    for line in _read(f"/proc/{pid}/{file}").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_of(pid: int) -> float:
    return _stat(pid)[1]


def _cpu_seconds() -> float:
    """CPU (user + system) of this process and of its children that ended (the browser and
    Playwright's driver, once a run has closed them); the sandbox runs until the end."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def _queue_with(n: int, path: Path, seed: int) -> None:
    from bot.ingest import ingest_file, load_mapping
    from bot.sample import generate
    from bot.workqueue import open_queue

    export = generate(n, seed=seed, as_of=date(2025, 6, 30))
    consent = load_mapping().columns["consent_sharing"].header
    for row in export.rows:
        row[consent] = "Oui"  # every item goes the whole way
    with open_queue(path) as queue:
        summary = ingest_file(export.write(path.parent / "export.xlsx"), queue)
        if summary.new != n:
            raise RuntimeError(f"ingestion incomplète : {summary}")


def bot_settings(sandbox: Sandbox, folder: Path, **changes: Any) -> Settings:
    """The bot's settings for a benchmark against ``sandbox``: the robot's account, no second
    factor, the queue and every evidence, report and log folder beneath ``folder``."""
    from bot.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=sandbox.base_url,
        username=BOT_USER,
        password=BOT_PASSWORD,
        otp_source="none",
        effecteur=EFFECTEUR,
        queue_path=folder / "queue" / "queue.db",
        screenshots_dir=folder / "screenshots",
        reports_dir=folder / "reports",
        logs_dir=folder / "logs",
        **changes,
    )


def bot_run(
    sandbox: Sandbox, work: Path, latency_ms: int, workers: int, n: int, shots: str
) -> Measure:
    from bot.runner import RunOptions, run_batch
    from bot.workqueue import open_queue

    folder = work / f"bot-{latency_ms}-{workers}"
    folder.mkdir(parents=True)
    settings = bot_settings(sandbox, folder, screenshots=shots)
    queue_path = settings.queue_path
    _queue_with(n, queue_path, seed=latency_ms + workers)
    sandbox.prepare(latency_ms)
    cpu = _cpu_seconds()
    sandbox_cpu = _cpu_of(sandbox.proc.pid)
    with open_queue(queue_path) as queue, PeakRss(exclude=sandbox.proc.pid) as rss:
        summary = run_batch(settings, queue, RunOptions(workers=workers))
    cpu = _cpu_seconds() - cpu - rss.sampler_cpu
    items = max(len(summary.final), 1)
    by_kind = {k: round(v / items, 2) for k, v in sorted(rss.cpu_by_kind.items())}
    by_kind["sandbox"] = round((_cpu_of(sandbox.proc.pid) - sandbox_cpu) / items, 2)
    return Measure(
        latency_ms=latency_ms,
        workers=workers,
        items=len(summary.final),
        seconds=round(summary.duration_seconds, 2),
        per_minute=round(summary.per_minute, 1),
        median_item_s=round(summary.median_seconds, 2) if summary.median_seconds else None,
        peak_rss_mb=round(rss.peak / 2**20),
        outcomes=summary.counts,
        peak_pss_mb=round(rss.peak_pss / 2**20),
        cpu_seconds=round(cpu, 1),
        load=round(os.getloadavg()[0], 1),
        pss_by_kind={k: round(v / 2**20) for k, v in sorted(rss.pss_by_kind.items())},
        cpu_per_item=by_kind,
        loads=" / ".join(f"{x:.1f}" for x in os.getloadavg()),
    )


# --- the floor ---------------------------------------------------------------------------------------


def _floor_worker(base_url: str, first: int, n: int, seconds: list[float]) -> None:
    with EParcoursClient(base_url) as client:
        client.log_in(BOT_USER, BOT_PASSWORD)
        for k in range(first, first + n):
            started = time.perf_counter()
            form = usager_form(k)
            client.search(form["birth_date"])
            usager_id = client.create_usager(form)
            client.dossier(usager_id)
            evaluation_id = client.save_step1(usager_id, step1_form())
            client.evaluation(evaluation_id)
            client.alerts(evaluation_id)
            seconds.append(time.perf_counter() - started)


def floor_run(sandbox: Sandbox, latency_ms: int, workers: int, n: int) -> Measure:
    sandbox.prepare(latency_ms)
    per_worker = max(n // workers, 1)
    seconds: list[float] = []
    threads = [
        threading.Thread(
            target=_floor_worker, args=(sandbox.base_url, w * per_worker, per_worker, seconds)
        )
        for w in range(workers)
    ]
    cpu = _cpu_seconds()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    items = per_worker * workers
    return Measure(
        latency_ms=latency_ms,
        workers=workers,
        items=items,
        seconds=round(wall, 2),
        per_minute=round(items / wall * 60, 1),
        median_item_s=round(statistics.median(seconds), 3),
        peak_rss_mb=None,
        outcomes={"done": len(seconds)},
        cpu_seconds=round(cpu, 2),
        load=round(os.getloadavg()[0], 1),
    )


# --- report --------------------------------------------------------------------------------------------


def _table(bots: list[Measure], floors: list[Measure]) -> list[str]:
    floor_of = {(f.latency_ms, f.workers): f for f in floors}
    lines = [
        "| latency | workers | items | wall | items/min | median s/item | floor items/min "
        "| floor s/item | bot ÷ floor (per item) | CPU s/item bot / floor "
        "| peak memory, PSS (total / per worker) | peak RSS summed | outcomes | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for b in bots:
        f = floor_of.get((b.latency_ms, b.workers))
        ratio = f"{(b.seconds / b.items) / (f.seconds / f.items):.1f}×" if f and b.items else "–"
        pss = f"{b.peak_pss_mb} MB / {b.peak_pss_mb / b.workers:.0f} MB" if b.peak_pss_mb else "–"
        rss = f"{b.peak_rss_mb} MB" if b.peak_rss_mb else "–"
        cpu = "–"
        if b.cpu_seconds is not None and b.items:
            cpu = f"{b.cpu_seconds / b.items:.2f}"
            if f and f.cpu_seconds is not None and f.items:
                cpu += f" / {f.cpu_seconds / f.items:.2f}"
        lines.append(
            f"| {b.latency_ms} ms | {b.workers} | {b.items} | {b.seconds:.1f} s | {b.per_minute} "
            f"| {b.median_item_s} | {f.per_minute if f else '–'} "
            f"| {f.median_item_s if f else '–'} | {ratio} | {cpu} | {pss} | {rss} | {b.outcomes} | {b.load} |"
        )
    return lines


def _verdicts(bots: list[Measure], floors: list[Measure]) -> list[str]:
    out = []
    by = {(b.latency_ms, b.workers): b for b in bots}
    fl = {(f.latency_ms, f.workers): f for f in floors}
    b0, f0 = by.get((0, 1)), fl.get((0, 1))
    if b0 and f0 and b0.items:
        ratio = (b0.seconds / b0.items) / (f0.seconds / f0.items)
        met = "met" if ratio <= RATIO_TARGET else "NOT met"
        out.append(
            f"- 0 ms, 1 worker: bot {b0.seconds / b0.items:.2f} s/item vs floor "
            f"{f0.seconds / f0.items:.2f} s/item = **{ratio:.1f}×** (target ≤ {RATIO_TARGET:g}×: {met})."
        )
        if b0.median_item_s and f0.median_item_s:
            # The run's wall time counts the browser's start and the login once: per item
            # proper, the medians compare the same thing on both sides.
            out.append(
                f"  Medians per item (start and login left out): bot {b0.median_item_s:.2f} s vs "
                f"floor {f0.median_item_s:.2f} s = {b0.median_item_s / f0.median_item_s:.1f}×."
            )
    one, four = by.get((300, 1)), by.get((300, 4))
    if one and four and one.per_minute:
        scale = four.per_minute / one.per_minute
        met = "met" if scale >= SCALING_TARGET else "NOT met"
        out.append(
            f"- 300 ms: 4 workers {four.per_minute} items/min vs 1 worker {one.per_minute} = "
            f"**{scale:.2f}×** (target ≥ {SCALING_TARGET:g}×: {met})."
        )
    return out


def _memory_lines(bots: list[Measure]) -> list[str]:
    """The "Mémoire et workers" table: PSS of the first and each additional worker, PSS and CPU
    seconds per item by process kind."""
    kinds = [k for k in (*KINDS, "other") if any((b.pss_by_kind or {}).get(k) for b in bots)]
    cpu_kinds = [*kinds, "sandbox"]
    lines = [
        "| latency | workers | items | items/min | × 1 worker | peak PSS | first worker "
        "| each additional worker | PSS by kind (MB): " + ", ".join(kinds) + " "
        "| CPU s/item: " + ", ".join(cpu_kinds) + " | bot side CPU s/item "
        "| load average at the end (1 / 5 / 15 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|",
    ]
    first = {b.latency_ms: b for b in bots if b.workers == 1}
    for b in bots:
        one = first.get(b.latency_ms)
        scale = f"{b.per_minute / one.per_minute:.2f}×" if one and one.per_minute else "–"
        extra = "–"
        if one and one.peak_pss_mb and b.peak_pss_mb and b.workers > 1:
            extra = f"{(b.peak_pss_mb - one.peak_pss_mb) / (b.workers - 1):.0f} MB"
        pss = ", ".join(str((b.pss_by_kind or {}).get(k, 0)) for k in kinds)
        cpu = b.cpu_per_item or {}
        cpus = ", ".join(f"{cpu.get(k, 0):.2f}" for k in cpu_kinds)
        bot_side = sum(v for k, v in cpu.items() if k != "sandbox")
        lines.append(
            f"| {b.latency_ms} ms | {b.workers} | {b.items} | {b.per_minute} | {scale} "
            f"| {b.peak_pss_mb} MB | {one.peak_pss_mb if one else '–'} MB | {extra} | {pss} "
            f"| {cpus} | {bot_side:.2f} | {b.loads} |"
        )
    return lines


def _record(lines: list[str], begin: str = BEGIN, end: str = END, heading: str = HEADING) -> None:
    figures = "\n".join([begin, *lines, end])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        text = head + figures + rest.partition(end)[2]
    elif heading in text:
        text = text.replace(heading, f"{heading}\n\n{figures}", 1)
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{figures}\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 300], metavar="MS")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], metavar="N")
    parser.add_argument("--items-per-worker", type=int, default=6, metavar="N")
    parser.add_argument(
        "--screenshots",
        choices=("on", "off", "only-on-failure"),
        default="on",
        help="the bot's evidence setting (default on, as in production)",
    )
    parser.add_argument("--json", type=Path, help="also write the measures to this JSON file")
    parser.add_argument("--no-record", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--workers-section-only",
        action="store_true",
        help='record only the "Mémoire et workers" figures, not the throughput table',
    )
    parser.add_argument("--serve-sandbox", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox)
        return 0

    from bot.logs import configure_logging

    configure_logging("WARNING")
    load = f"{os.getloadavg()[0]:.1f}"
    bots: list[Measure] = []
    floors: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="icope-throughput-") as tmp:
        work = Path(tmp)
        sandbox = Sandbox(work / "e-parcours.db")
        try:
            for latency in args.latencies:
                for workers in args.workers:
                    n = args.items_per_worker * workers
                    floors.append(floor_run(sandbox, latency, workers, n))
                    bots.append(bot_run(sandbox, work, latency, workers, n, args.screenshots))
                    print(f"{latency} ms, {workers} robot(s) : bot {asdict(bots[-1])}", flush=True)
                    print(
                        f"{latency} ms, {workers} robot(s) : plancher {asdict(floors[-1])}",
                        flush=True,
                    )
        finally:
            sandbox.close()
    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    lines = [
        f"Latest run: `{command.strip()}` ({date.today():%Y-%m-%d}; {os.cpu_count()} CPU, "
        f"Python {platform.python_version()}, screenshots {args.screenshots}, "
        f"{args.items_per_worker} items per worker, load average {load} at start).",
        "",
        *_table(bots, floors),
        "",
        *_verdicts(bots, floors),
    ]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"bot": [asdict(b) for b in bots], "floor": [asdict(f) for f in floors]}, indent=2
            )
        )
    memory = [
        f"Latest run: `{command.strip()}` ({date.today():%Y-%m-%d}; {os.cpu_count()} CPU, "
        f"screenshots {args.screenshots}, {args.items_per_worker} items per worker, "
        f"load average {load} at start).",
        "",
        *_memory_lines(bots),
    ]
    print("\n".join(memory))
    if not args.no_record:
        if not args.workers_section_only:
            _record(lines)
        _record(memory, WORKERS_BEGIN, WORKERS_END, WORKERS_HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
