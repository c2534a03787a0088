"""Several workers share one Chromium, each in its own context: isolated, and a crash stays local.

A run with N > 1 workers starts one Chromium (bot.browser.SharedChromium) and gives each worker
its own browser context there (docs/scaling.md). What must hold, checked on real runs against the
sandbox: one Chromium for the whole run; no worker sees another's cookies, session, storage,
downloads or even its context; and a crash of one worker's page (renderer crash, context closed)
costs that worker's item one attempt and nothing else, the item ending done with one STEP 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext
from playwright.sync_api import Error as PlaywrightError

from bot.config import Settings
from bot.evidence import EvidencePolicy
from bot.flows.double_entry import double_entry
from bot.models import ItemState
from bot.pages.evaluation import EvaluationPage
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage
from bot.runner import RunOptions, run_batch
from bot.runner.protocols import Untraced
from bot.workqueue import WorkItem, WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.bot_process import process_tree
from tests.fixtures.runner import enqueue_batch, run_settings

S = ItemState
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]


def _exe(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""  # ended meanwhile


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rpartition(")")[2].split()[1])


def chromium_browsers() -> set[int]:
    """Chromium *browser* processes under this test process: a Chromium whose parent is not one
    (its renderers, zygotes and helpers are its descendants; zygotes rewrite their argv)."""
    return {
        pid
        for pid in process_tree(os.getpid())
        if "chrom" in _exe(pid) and "chrom" not in _exe(_parent(pid))
    }


def test_workers_share_one_chromium_and_see_nothing_of_each_other(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    refs = enqueue_batch(work_queue, 4, prefix="AE-ISO")
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    downloads = tmp_path / "telechargements"
    downloads.mkdir()

    def flow(
        session: TargetSession,
        item: WorkItem,
        settings: Settings,
        *,
        evidence: EvidencePolicy,
        dry_run: bool = False,
    ) -> object:
        worker = threading.current_thread().name
        context = session.context
        assert context.browser is not None
        session.page.goto(settings.base_url)  # the site's storage, on its own origin
        seen[worker].append(
            {
                "contexts": len(context.browser.contexts),
                "cookies": {c["name"]: c["value"] for c in context.cookies()},
                "storage": session.page.evaluate("localStorage.getItem('robot')"),
                "browsers": chromium_browsers(),
            }
        )
        # Marks only this worker's context: a cookie, the site's storage, a download.
        context.add_cookies([{"name": "robot", "value": worker, "url": settings.base_url}])
        session.page.evaluate(f"localStorage.setItem('robot', '{worker}')")
        with session.page.expect_download() as caught:
            session.page.evaluate(
                """(worker) => {
                    const a = document.createElement('a');
                    a.href = URL.createObjectURL(new Blob([worker]));
                    a.download = 'robot.txt';
                    document.body.appendChild(a);
                    a.click();
                }""",
                worker,
            )
        caught.value.save_as(downloads / f"{item.reference}-{worker}.txt")
        return double_entry(session, item, settings, evidence=evidence, dry_run=dry_run)

    summary = run_batch(settings, work_queue, RunOptions(workers=2), flow=flow)

    assert summary.counts == {"done": 4}
    assert sorted(seen) == ["robot-1", "robot-2"]  # both workers entered items
    # One Chromium for the whole run, the same for both workers.
    browsers = {pid for views in seen.values() for v in views for pid in v["browsers"]}
    assert len(browsers) == 1, browsers
    sessions = {}
    for worker, views in seen.items():
        # A worker's connection shows its own context only: the other's cannot be reached.
        assert [v["contexts"] for v in views] == [1] * len(views)
        # Its own session cookie, the same for all its items (one login per worker)...
        values = {v["cookies"]["EPARCOURS_SESSION"] for v in views}
        assert len(values) == 1
        sessions[worker] = values.pop()
        # ...and, from its second item on, only its own marks: never the other worker's.
        for later in views[1:]:
            assert later["cookies"]["robot"] == worker
            assert later["storage"] == worker
        assert "robot" not in views[0]["cookies"]
        assert views[0]["storage"] is None
    assert sessions["robot-1"] != sessions["robot-2"]
    # Each download holds what its own worker's page made, nothing of the other's.
    saved = sorted(downloads.iterdir())
    assert len(saved) == 4
    for path in saved:  # <reference>-<worker>.txt
        worker = path.stem.removeprefix(path.stem[: len("AE-ISO-01-")])
        assert path.read_text() == worker
    # Evidence stays in each item's own folder.
    for ref in refs:
        evidence = work_queue.get(ref).evidence
        assert evidence
        assert all(Path(p).parent.name == ref for p in evidence), evidence
    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"], counts["duplicate_usagers"]) == (4, 0, 0)


class CrashAfterSave(Step1FormPage):
    """The STEP 1 is saved, then this worker's page dies before the bot reads the answer."""

    kind = ""
    armed = ""  # the worker (thread) whose next save crashes: one crash in the run

    def save(self) -> EvaluationPage | Step1FormPage:
        result = super().save()
        if CrashAfterSave.armed != threading.current_thread().name:
            return result
        CrashAfterSave.armed = ""
        if CrashAfterSave.kind == "renderer":
            # Chromium kills this page's renderer; the navigation itself fails as it dies.
            with contextlib.suppress(PlaywrightError):
                self.page.goto("chrome://crash")
        elif CrashAfterSave.kind == "context":
            self.page.context.close()
        else:  # the whole browser: every worker's context goes with it
            [browser] = chromium_browsers()
            os.kill(browser, signal.SIGKILL)
        self.page.title()  # what the flow would do next: fails on the dead page
        return result


@pytest.mark.parametrize("kind", ["renderer", "context", "browser"])
def test_a_crashed_page_costs_its_own_item_one_attempt_and_nothing_else(
    kind: str, sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(
        sandbox, tmp_path, backoff_seconds=0, circuit_breaker=5, screenshots="off"
    )
    refs = enqueue_batch(work_queue, 5, prefix="AE-CRASH")
    made: Counter[str] = Counter()  # sessions built per worker
    browsers: list[set[int]] = []
    crashed_on: list[str] = []  # the worker whose page dies

    def make_session(context: BrowserContext, untraced: Untraced) -> TargetSession:
        made[threading.current_thread().name] += 1
        session = TargetSession(context, settings, untraced=untraced, locks=work_queue)
        session.screen_types[Step1FormPage] = CrashAfterSave
        return session

    def flow(
        session: TargetSession,
        item: WorkItem,
        settings: Settings,
        *,
        evidence: EvidencePolicy,
        dry_run: bool = False,
    ) -> object:
        browsers.append(chromium_browsers())
        if item.reference == refs[1] and not crashed_on:
            crashed_on.append(threading.current_thread().name)
            CrashAfterSave.armed = crashed_on[0]
        return double_entry(session, item, settings, evidence=evidence, dry_run=dry_run)

    CrashAfterSave.kind = kind
    CrashAfterSave.armed = ""
    summary = run_batch(
        settings, work_queue, RunOptions(workers=2), flow=flow, make_session=make_session
    )

    # Every item ends done, the crashed one on its second attempt, with one STEP 1 each: the
    # retry found the STEP 1 saved before the crash instead of entering it again.
    assert summary.stopped_reason is None
    assert [work_queue.get(r).state for r in refs] == [S.DONE] * 5
    assert len(crashed_on) == 1
    crashed = work_queue.get(refs[1])
    assert crashed.attempts == 2
    counts = sandbox.counts()
    assert (counts["step1"], counts["duplicate_step1"], counts["duplicate_usagers"]) == (5, 0, 0)
    failures = [r for r in summary.items if r.category == "system"]
    if kind == "browser":
        # Chromium itself died: both workers lost their context, one new Chromium serves both.
        assert len({pid for b in browsers for pid in b}) == 2
        assert refs[1] in {r.reference for r in failures}
        assert made[crashed_on[0]] == 2, made
    else:
        # Only the crashed worker rebuilt its context; the other never noticed.
        assert [r.reference for r in failures] == [refs[1]]
        assert len({pid for b in browsers for pid in b}) == 1
        assert made == {crashed_on[0]: 2, ({"robot-1", "robot-2"} - set(crashed_on)).pop(): 1}


def test_the_driver_found_by_its_private_function_is_the_packages_known_layout() -> None:
    # The multi-worker browser server needs Playwright's own Node; if the private function
    # moves, the fallback must point at the same files.
    import playwright
    from playwright._impl._driver import compute_driver_executable

    from bot.browser import _driver_executable

    node, cli = _driver_executable()
    driver = Path(playwright.__file__).parent / "driver"
    assert (Path(node), Path(cli)) == (driver / "node", driver / "package" / "cli.js")
    assert tuple(map(str, compute_driver_executable())) == (node, cli)
    assert Path(node).is_file()
    assert Path(cli).is_file()


def test_a_worker_asking_for_a_context_while_chromium_dies_gets_one_on_a_new_chromium() -> None:
    # The race a CI run hit: Chromium is killed, and a worker connects before the dying server
    # has exited. The connection can still succeed; the new context on it then fails. The worker
    # must end with a working context on a new Chromium, not with "navigateur non démarré".
    from playwright.sync_api import sync_playwright

    from bot.browser import SharedChromium

    shared = SharedChromium()
    with sync_playwright() as playwright:
        try:
            first, context = shared.open_context(playwright)
            context.new_page().set_content("<title>premier</title>")
            before = chromium_browsers()
            assert len(before) == 1
            for kills in range(3):  # the race is timing: several chances to hit it
                [browser] = chromium_browsers()
                os.kill(browser, signal.SIGKILL)
                again, context = shared.open_context(playwright)
                page = context.new_page()
                page.set_content("<title>après la panne</title>")
                assert page.title() == "après la panne"
                assert shared.launches == 2 + kills
                assert chromium_browsers() != {browser}
                again.close()
            with contextlib.suppress(PlaywrightError):
                first.close()
        finally:
            shared.close()
    assert chromium_browsers() == set()
