"""Evaluation benchmark: 100,000 queue items and a year of e-parcours exports → the report.

    .venv/bin/python benchmarks/evaluation.py                # full run, figures into docs/benchmarks.md
    .venv/bin/python benchmarks/evaluation.py --items 10000 --per-month 800 --no-record

Set-up (not timed): a sample ICOPE et Moi export of ``--items`` rows is ingested into a new queue,
then each item is moved as a night run would (done with its alerts by source; a share to review,
to retry, or failed) in one transaction; a sandbox database is seeded with a year of STEP 1s and
STEP 2s (``--per-month`` STEP 1s a month) and written as the Exports page's evaluations CSV.
Timed: what ``icope-bot evaluation --export-file`` does — the queue's ledger, the export read,
the tables, the gap list, the HTML/XLSX/CSV with charts — phase by phase. Target: < 30 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Evaluation report"
TARGET_S = 30.0
BEGIN, END = "<!-- evaluation figures: begin -->", "<!-- evaluation figures: end -->"


def build_queue(path: Path, items: int, work: Path) -> None:
    """Ingest a sample export, then play a night's outcomes on every item (one transaction)."""
    from bot.icope import alerts_for
    from bot.ingest import ingest_file
    from bot.models import DOMAINS, ItemState
    from bot.sample import stream_export
    from bot.workqueue import open_queue

    export = stream_export(work / "export.csv", items, seed=5)
    rng = random.Random(5)
    with open_queue(path) as queue:
        ingest_file(export, queue)
        with queue.transaction():
            for v in queue.items():
                a = v.assessment
                assert a is not None
                app = a.app_alerts.as_dict()
                target = dict(app)
                if rng.random() < 0.04:  # the e-parcours disagrees on one domain
                    d = rng.choice(DOMAINS)
                    target[d] = not target[d]
                rules = alerts_for(a.answers, age=a.age_on_assessment()).as_dict()
                result = {
                    "alerts": {"app": app, "target": target, "reference": rules},
                    "step1_id": str(100_000 + rng.randrange(10**6)),
                    "dossier_id": str(rng.randrange(10**6)),
                }
                roll = rng.random()
                queue.transition(v.reference, ItemState.IN_PROGRESS, actor="bot:w1")
                if roll < 0.9:
                    to = ItemState.NEEDS_REVIEW if target != app else ItemState.DONE
                    queue.transition(v.reference, to, actor="bot:w1", result=result)
                elif roll < 0.95:
                    queue.transition(v.reference, ItemState.RETRY_WAIT, actor="bot:w1")
                else:
                    queue.transition(v.reference, ItemState.FAILED, actor="bot:w1")


def build_export(path: Path, year: int, per_month: int, work: Path) -> int:
    """A year of professional activity in a sandbox database, written as the evaluations CSV."""
    from sandbox.db import Store
    from sandbox.labels import texts
    from sandbox.routes.exports import evaluations_table
    from sandbox.seed import seed_year

    store = Store(work / "e-parcours.db")
    seed_year(store, year, per_month=per_month)
    header, rows = evaluations_table(store, texts("standard"))
    store.close()
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def _cpu() -> float:
    """CPU seconds of this process and its children (user + system): what other processes on a
    loaded machine cannot inflate the way they inflate wall time."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed_report(queue_path: Path, export: Path, out: Path, period: object) -> dict[str, float]:
    from bot.config import Settings
    from bot.evaluation.collect import ledger, read_evaluations
    from bot.evaluation.compute import compute
    from bot.evaluation.gaps import gaps
    from bot.evaluation.territories import load_territories
    from bot.evaluation.write import write_report
    from bot.pages.mapping import load_mapping
    from bot.workqueue import open_queue

    settings = Settings()
    times: dict[str, float] = {}
    start = last = time.perf_counter()
    last_cpu = _cpu()

    def lap(name: str) -> None:
        nonlocal last, last_cpu
        now, cpu = time.perf_counter(), _cpu()
        times[name] = round(now - last, 2)
        times[f"{name} (CPU)"] = round(cpu - last_cpu, 2)
        last, last_cpu = now, cpu

    territories = load_territories(settings.territories)
    with open_queue(queue_path) as queue:
        led = ledger(queue, period, territories)  # type: ignore[arg-type]
    lap("ledger")
    exp = read_evaluations(export, load_mapping(settings.mapping), territories)
    lap("export read")
    evaluation = compute(led, exp, period)  # type: ignore[arg-type]
    lap("tables")
    gap_list = gaps(led, exp)
    lap("gaps")
    write_report(evaluation, led, gap_list, out)
    lap("files + charts")
    times["total"] = round(time.perf_counter() - start, 2)
    times["items"] = len(led)
    times["evaluations"] = len(exp)
    times["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return times


def _record(t: dict[str, float], command: str, load: str) -> None:
    met = "yes" if t["total"] < TARGET_S else "NO"
    phases = ("ledger", "export read", "tables", "gaps", "files + charts")

    def fr(n: float) -> str:
        return f"{int(n):,}".replace(",", " ")

    lines = [
        BEGIN,
        f"Latest run: `{command}` ({date.today():%Y-%m-%d}; {os.cpu_count()} CPU, "
        f"Python {platform.python_version()}, load average {load} from start to end of the "
        "timed part). Each phase: wall time / CPU time (process + children).",
        "",
        "| queue items | e-parcours rows | "
        + " | ".join(phases)
        + " | total wall | total CPU | peak memory | target (wall) | met |",
        "|---:|---:|" + "---:|" * len(phases) + "---:|---:|---:|---|---|",
        f"| {fr(t['items'])} | {fr(t['evaluations'])} | "
        + " | ".join(f"{t[p]} s / {t[p + ' (CPU)']} s" for p in phases)
        + f" | **{t['total']} s** | **{t['cpu']} s** | {int(t['peak_mb'])} MB "
        f"| < {TARGET_S:.0f} s | {met} |",
        END,
    ]
    figures = "\n".join(lines)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + figures + rest.partition(END)[2]
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{figures}\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-month", type=int, default=8_000, help="e-parcours STEP 1s a month")
    parser.add_argument("--no-record", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--workdir", type=Path, help="keep the set-up here and reuse it when present (re-timing)"
    )
    args = parser.parse_args()

    from bot.evaluation import Period
    from bot.logs import configure_logging

    configure_logging("WARNING")
    today = date.today()
    period = Period(date(today.year - 2, 1, 1), today)
    with tempfile.TemporaryDirectory(prefix="icope-eval-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not (work / "evaluations.csv").exists():  # a set-up kept by --workdir is reused
            build_queue(work / "queue.db", args.items, work)
            rows = build_export(work / "evaluations.csv", today.year, args.per_month, work)
            print(f"Préparation : {time.perf_counter() - t0:.0f} s ({rows} lignes e-parcours)")
        load = f"{os.getloadavg()[0]:.1f}"
        cpu0 = _cpu()
        t = timed_report(work / "queue.db", work / "evaluations.csv", work / "reports", period)
        t["cpu"] = round(_cpu() - cpu0, 1)
        load += f" → {os.getloadavg()[0]:.1f}"
    print(t)
    if not args.no_record:
        command = " ".join(
            ["python benchmarks/evaluation.py", *(a for a in sys.argv[1:] if a != "--no-record")]
        )
        _record(t, command, load)
    return 0 if t["total"] < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
