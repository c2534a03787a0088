"""What the ingest progress bar costs: the same CSV ingested without a bar and with one drawn.

    .venv/bin/python benchmarks/progress.py --rows 20000 --workdir /tmp/bp

The bar is drawn by bot.console.RowProgress into a console forced to act as a terminal (its output
kept in memory), so the rendering thread and every update are paid as on a person's screen. Each
ingestion goes into a new SQLite queue; CPU time (``time.process_time``, this process and its
threads) is reported beside the wall time because the development machine is shared. The cost of
estimating the rows of the file (one pass counting line breaks) is measured on its own.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, required=True, help="generated file and queues")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from rich.console import Console

    from bot.console import RowProgress
    from bot.ingest import ingest_file, load_mapping
    from bot.ingest._read import _read_csv
    from bot.logs import configure_logging
    from bot.sample import stream_export
    from bot.workqueue import open_queue

    configure_logging("WARNING", None, console=False)
    args.workdir.mkdir(parents=True, exist_ok=True)
    export = args.workdir / f"{args.rows}_export.csv"
    if not export.exists():
        stream_export(export, args.rows, seed=1, as_of=date(2025, 6, 30))
    mapping = load_mapping()

    src = _read_csv(export, mapping, 20_000)
    started = time.perf_counter()
    expected = src.expected_rows()
    counting = time.perf_counter() - started
    src.close()
    size = export.stat().st_size / 1e6
    print(f"row estimate: {expected} rows in {counting * 1000:.0f} ms ({size:.1f} MB)")

    for run in range(args.repeat):
        for mode in ("sans barre", "avec barre"):
            queue_path = args.workdir / f"queue-{run}-{mode[:4]}.db"
            queue_path.unlink(missing_ok=True)
            wall, cpu = time.perf_counter(), time.process_time()
            with open_queue(queue_path) as queue:
                if mode == "avec barre":
                    screen = Console(file=io.StringIO(), force_terminal=True, width=100)
                    with RowProgress(screen) as bar:
                        summary = ingest_file(export, queue, mapping, progress=bar)
                else:
                    summary = ingest_file(export, queue, mapping)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"run {run + 1} {mode}: {summary.read} rows, wall {wall:.1f} s, CPU {cpu:.1f} s, "
                f"{cpu / summary.read * 1e6:.0f} µs CPU/row"
            )
            queue_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
