"""Two bot machines on one PostgreSQL queue; one is SIGKILLed again and again, the other goes on.

Each "machine" is a real ``icope-bot run`` process tree (python, Playwright driver, Chromium) with
its own data folder and its own machine name (``ICOPE_BOT_MACHINE_NAME``: worker names and crash
recovery are per machine), both on one PostgreSQL queue (``ICOPE_BOT_QUEUE_URL``, a real server
the suite started) and one sandbox, with the same bot account: the login lock and the
one-person-at-a-time lock are advisory locks of the shared database.

Machine A is killed at random moments while it enters items, then restarted; machine B keeps
running (a new run whenever its run ends while items are still waiting, as the night scheduler
would). At the end: every item in exactly one final state, nothing lost, no dossier and no STEP 1
twice in the e-parcours, and the items A held when it was killed were finished by someone.

Reduced in ``make test`` (8 items, 2 kills); full with ``make chaos`` (200 items, 12 kills);
``CHAOS_MACHINES_ITEMS`` / ``CHAOS_MACHINES_KILLS`` set other sizes.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.models import ItemState
from bot.runner.recovery import machine_of
from bot.workqueue import WorkQueue, open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.bot_process import ITEM_STARTED, BotProcess
from tests.fixtures.chaos import ChaosScale, Figures
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.runner import run_env
from tests.fixtures.sample_batch import export_in_queue

S = ItemState
FINAL = {S.DONE, S.NEEDS_REVIEW, S.FAILED}
WAITING = [S.PENDING, S.RETRY_WAIT, S.IN_PROGRESS]
#: Short leases: an item of a dead machine that nobody recovers comes back within 20 s.
LEASE_SECONDS, HEARTBEAT_SECONDS = 20, 3


def _machine(sandbox: RunningSandbox, root: Path, name: str, url: str, attempts: int) -> Path:
    folder = root / name
    folder.mkdir(mode=0o700)
    env = run_env(
        sandbox,
        folder,
        queue_url=url,
        machine_name=name,
        max_attempts=attempts,  # a kill is not the item's fault: never exhaust its attempts
        backoff_seconds=0,
        screenshots="off",
        workers=1,
        lease_seconds=LEASE_SECONDS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        log_level="DEBUG",  # the item's start line, where machine A is killed
    )
    (folder / "env").write_text("\n".join(f"{k}={v}" for k, v in env.items()))
    return folder


def _env(folder: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (folder / "env").read_text().splitlines())


def _finisher(queue: WorkQueue, reference: str) -> str:
    """The machine whose worker moved the item to its final state."""
    last = [h for h in queue.history(reference) if h.event == "transition"][-1]
    return machine_of(last.actor)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(3600)
def test_two_machines_on_one_postgres_queue_one_killed_repeatedly(
    sandbox: RunningSandbox,
    postgres_server: PostgresCluster,
    tmp_path: Path,
    chaos_scale: ChaosScale,
    chaos_figures: Figures,
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    started = time.monotonic()
    n_items = int(os.environ.get("CHAOS_MACHINES_ITEMS") or chaos_scale.machines_items)
    n_kills = int(os.environ.get("CHAOS_MACHINES_KILLS") or chaos_scale.machines_kills)
    url = postgres_server.new_database("machines")
    batch = export_in_queue(n_items, seed, tmp_path, url)
    attempts = n_kills + 3
    a = _machine(sandbox, tmp_path, "machine-a", url, attempts)
    b = _machine(sandbox, tmp_path, "machine-b", url, attempts)
    args = ["--json"]

    # Machine B: one run after another while items wait (its run ends when nothing is leasable,
    # e.g. everything left is held by A), until the queue is empty.
    b_codes: list[int] = []
    b_failure: list[str] = []
    b_done = threading.Event()

    def machine_b() -> None:
        try:
            with open_queue(url) as q:
                while q.items(WAITING) and len(b_codes) < 200:
                    proc = BotProcess(args, _env(b), b)
                    code = proc.wait(timeout=3000)
                    b_codes.append(code)
                    if code not in (0, 1, 2):
                        b_failure.append(proc.output()[-3000:])
                        return
                    time.sleep(0.5)
        finally:
            b_done.set()

    b_thread = threading.Thread(target=machine_b, name="machine-b", daemon=True)
    b_thread.start()

    kills: list[list[str]] = []  # at each kill: the items machine A held
    a_runs = 0
    with open_queue(url) as queue:
        while len(kills) < n_kills and queue.items(WAITING):
            proc = BotProcess(args, _env(a), a)
            a_runs += 1
            line = None
            for _ in range(rng.randint(1, 2)):  # into its 1st or 2nd item of this run
                line = proc.wait_for_line(ITEM_STARTED, timeout=300)
                if line is None:
                    break
            if line is not None:
                end = time.monotonic() + rng.uniform(0, 2)
                while proc.alive() and time.monotonic() < end:
                    time.sleep(0.05)
            if not proc.alive():
                proc.wait(timeout=60)
                continue  # the run ended on its own (nothing left for it)
            held = [
                v.reference
                for v in queue.items([S.IN_PROGRESS])
                if machine_of(v.lease_owner) == "machine-a"
            ]
            proc.kill()
            kills.append(held)

        # A back for good: both machines finish what is left.
        finals = 0
        while queue.items(WAITING) and finals < 5:
            proc = BotProcess(args, _env(a), a)
            a_runs += 1
            code = proc.wait(timeout=3000)
            finals += 1
            assert code in (0, 1, 2), proc.output()[-3000:]
            if queue.items(WAITING):
                time.sleep(LEASE_SECONDS / 4)  # B may hold the last items
        assert b_done.wait(timeout=3000)
        assert not b_failure, b_failure[0]

        views = {v.reference: v for v in queue.items()}
        killed_held = {r for held in kills for r in held}
        finished_by = {r: _finisher(queue, r) for r in views}
        took_over = {
            r
            for r in killed_held
            if any(h.event == "expire" or h.reason.startswith("Repris") for h in queue.history(r))
        }
    counts = sandbox.counts()
    states = Counter(v.state.value for v in views.values())
    by_machine = Counter(finished_by.values())
    chaos_figures.append(
        f"deux machines : {len(views)} éléments, {len(kills)} kill -9 de machine-a "
        f"({a_runs} lancements ; machine-b {len(b_codes)} lancements), "
        f"{len(killed_held)} éléments tenus par machine-a au kill, repris par "
        f"{dict(Counter(finished_by[r] for r in killed_held))}, terminés par {dict(by_machine)}, "
        f"états {dict(states)}, e-parcours {counts}, {time.monotonic() - started:.0f} s "
        f"(graine {seed})"
    )

    # Nothing lost, each item in exactly one final state.
    assert sorted(views) == sorted(batch.references)
    assert {v.state for v in views.values()} <= FINAL, states
    for v in views.values():
        if v.reference in batch.no_consent:
            assert (v.state, v.error_code) == (S.NEEDS_REVIEW, "consent_missing"), v
        else:
            assert v.state == S.DONE, (v.reference, v.state, v.reason, v.details)
    # Nothing twice, across machines: one dossier per person, one STEP 1 per assessment.
    assert counts["duplicate_usagers"] == 0
    assert counts["duplicate_step1"] == 0
    assert counts["step1"] == counts["usagers"] == batch.to_enter
    # The kills landed on items in hand, and those were finished by someone after a takeover.
    assert len(kills) >= n_kills, kills
    assert killed_held, "no kill fell while machine A held an item"
    # (An item may have been released between the snapshot and the kill: most were taken over.)
    assert took_over, "no item of the killed machine was taken over"
    assert all(views[r].state in FINAL for r in killed_held)
    # Both machines really shared the work.
    assert by_machine["machine-a"] > 0, by_machine
    assert by_machine["machine-b"] > 0, by_machine
