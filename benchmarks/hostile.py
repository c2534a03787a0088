"""What the .xlsx guards and the contained reader cost, and how fast a bomb is refused.

    .venv/bin/python benchmarks/hostile.py [--rows 20000]

CPU time (this process and its children) is reported for the reading figures: on a shared
machine wall time says more about the neighbours than about the code. Prints a Markdown table (docs/reliability.md, "Hostile exports"): time to refuse a 7 KB dimension
bomb and a 300 MB zip bomb; for a real export of ``--rows`` rows, the guard's scan, reading in the
child process against reading in-process, and the child's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the reader runs in one)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()

    from openpyxl import Workbook

    from bot.ingest import ReadLimits, ingest_file, load_mapping
    from bot.ingest._guard import guard_xlsx
    from bot.ingest._read import _read_xlsx
    from bot.logs import configure_logging
    from bot.sample import generate, write_export
    from bot.workqueue import open_queue

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        configure_logging("WARNING", work / "logs")
        small = generate(6, seed=1, as_of=date(2025, 6, 30))
        wb = Workbook()
        ws = wb.active
        ws.append(small.headers)
        ws["XFD1048576"] = "x"
        wb.save(work / "bombe.xlsx")
        zbomb = write_export(small, work / "zip.xlsx")
        with zipfile.ZipFile(zbomb, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("x.bin", "w") as f:
            for _ in range(300):
                f.write(bytes(1 << 20))
        big = write_export(generate(args.rows, seed=2, as_of=date(2025, 6, 30)), work / "gros.xlsx")
        lines = []
        with open_queue(work / "q.db") as queue:
            for name in ("bombe.xlsx", "zip.xlsx"):
                t = time.perf_counter()
                s = ingest_file(work / name, queue)
                lines.append(
                    f"| refusal of {name} ({(work / name).stat().st_size // 1024} KB) "
                    f"| {time.perf_counter() - t:.2f} s | {s.refused and s.refused[:60]}… |"
                )
            t = _cpu()
            guard_xlsx(big, ReadLimits())
            guard = _cpu() - t
            t = _cpu()
            src = _read_xlsx(big, load_mapping(), 20_000)
            n = sum(len(cols[0]) for _, cols in src.chunks)
            inproc = _cpu() - t
            t = _cpu()
            s = ingest_file(big, queue)
            total = _cpu() - t
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size_mb = big.stat().st_size / 1e6
        lines += [
            f"| guard scan of a {args.rows}-row export ({size_mb:.1f} MB) | {guard:.2f} s | |",
            f"| reading it in-process (calamine, {n} rows) | {inproc:.2f} s | |",
            f"| ingesting it (guard + child reader + validation + queue) | {total:.2f} s "
            f"| {s.new} new; reader child peak {child_mb:.0f} MB |",
        ]
    print("| what | time (wall for refusals, CPU otherwise) | notes |\n|---|---:|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
