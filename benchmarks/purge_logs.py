"""What the purge's log pass costs on a full log file (just under loguru's 10 MB rotation).

    .venv/bin/python benchmarks/purge_logs.py --workdir /tmp/bpl --megabytes 9.5

The log is written by the bot's own sink (bot.logs.configure_logging: masked JSON lines), then
``purge`` runs on an empty queue twice: with an age longer than the log (every line parsed, none
erased: the usual night) and with age 0 (every line erased: the worst rewrite). CPU time
(``time.process_time``, this process and its threads) is printed beside the wall time because the
machine is shared.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    # below the sink's 10 MB rotation: one current file holding it all, the largest to trim
    parser.add_argument("--megabytes", type=float, default=9.5)
    args = parser.parse_args()

    from bot.config import Settings
    from bot.logs import configure_logging, logger
    from bot.retention import LOG_NAME, _old_log_lines, purge_health_data
    from bot.workqueue import open_queue

    shutil.rmtree(args.workdir, ignore_errors=True)
    settings = Settings(_env_file=None, home=args.workdir)  # type: ignore[call-arg]
    logs = Path(settings.logs_dir)
    configure_logging("INFO", logs, console=False)
    log = logs / LOG_NAME
    n = 0
    while log.stat().st_size < args.megabytes * 1e6:
        for _ in range(1000):
            logger.info("Élément AE-RUN-{:05d} : terminé en 12,3 s (tentative 1)", n)
            n += 1
        logger.complete()
    size = log.stat().st_size / 1e6
    print(f"log: {n} lines, {size:.1f} MB")

    # The log pass alone (every line parsed, none older than 1970): what each purge pays for it.
    wall, cpu = time.perf_counter(), time.process_time()
    _old_log_lines(logs, 0.0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"log pass alone, nothing to erase: CPU {cpu:.2f} s, wall {wall:.2f} s")

    with open_queue(settings.queue_target) as queue:
        for label, age in (
            ("nothing older (1d)", timedelta(days=1)),
            ("all older (0)", timedelta()),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            report = purge_health_data(settings, queue, age)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{label}: {report.log_lines} lines erased, CPU {cpu:.2f} s, wall {wall:.2f} s")
    logger.remove()


if __name__ == "__main__":
    main()
