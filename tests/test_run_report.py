"""The HTML run report as the assistant sees it, rendered in Chromium after a real run."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from bot.runner import RunOptions, run_batch
from bot.runner.report import write_run_report
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_settings

pytestmark = pytest.mark.browser


def test_a_discordance_shows_each_source_per_domain_and_readable_clickable_captures(
    browser: Browser, sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path, timeout_ms=15_000)
    [ref] = enqueue_batch(work_queue, 1)
    sandbox.set_faults(wrong_domain="vision")  # the target computes vision inverted
    summary = run_batch(settings, work_queue, RunOptions())
    report = write_run_report(summary, settings.reports_dir)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(report.as_uri())
        section = page.locator(f"section[id='{ref}-1']")
        table = section.get_by_role("table")
        vision = table.get_by_role("row").filter(has_text="Vision")
        cells = [c.strip() for c in vision.get_by_role("cell").all_inner_texts()]
        assert cells[0] == "Vision"
        assert len(set(cells[1:])) == 2  # app and rule agree, the target says the opposite
        assert "differs" in (vision.get_by_role("cell").nth(2).get_attribute("class") or "")
        mobility = table.get_by_role("row").filter(has_text="Mobilité").get_by_role("cell")
        assert "differs" not in (mobility.nth(1).get_attribute("class") or "")

        thumbs = section.get_by_role("img")
        assert thumbs.count() >= 1
        box = thumbs.first.bounding_box()
        assert box is not None
        assert box["width"] >= 500  # the screen's texts can be read
        page.screenshot(path=str(tmp_path / "rapport.png"), full_page=True)

        thumbs.first.click()  # full size, over the page
        figure = section.locator("figure").first
        expect(figure).to_have_css("position", "fixed")
        natural = thumbs.first.evaluate("img => img.naturalWidth")
        shown = thumbs.first.bounding_box()
        assert shown is not None
        assert shown["width"] >= min(natural, 1200) - 2
        page.screenshot(path=str(tmp_path / "rapport-agrandi.png"))
        section.get_by_role("link", name="✕ fermer").click()
        expect(figure).not_to_have_css("position", "fixed")

        assert "playwright show-trace" not in page.content()  # no trace file in this run
    finally:
        page.close()
