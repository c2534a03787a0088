"""What one screen costs the bot through Playwright: a navigation and the read of the new page.

The floor of a per-item figure: the double entry loads 12–13 pages (docs/benchmarks.md,
"Throughput"), and each costs at least what this script prints. On the sandbox's results screen,
logged in, 0 ms latency, one Chromium as the runner launches it, it times (milliseconds, mean of
``--rounds`` rounds of ``--n`` each):

- ``clic`` : the search button's click (Playwright waits for the new page's commit);
- ``lecture`` : the read of the new page, as ``TargetSession.first_shown`` does it (the whole
  screen's ARIA snapshot once the heading is there, after DOMContentLoaded);
- ``relecture`` : the same read again on the loaded page (what a read costs without the new
  document: the difference is Chromium's first layout and Playwright's per-document set-up);
- ``evaluate`` : a round trip doing nothing (``page.evaluate("1")``);
- the other ways to start the navigation, for comparison (not what the bot does: a click is
  what a person does, with Playwright's checks that the button is really there to click).

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/page_cost.py [--n 20] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import Sandbox, bot_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="navigations per measure")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from bot.browser import find_chromium, launch_chromium
    from bot.logs import configure_logging
    from bot.pages.session import TargetSession

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="icope-page-cost-") as tmp:
        work = Path(tmp)
        sandbox = Sandbox(work / "e-parcours.db")
        try:
            sandbox.prepare(0)
            settings = bot_settings(sandbox, work)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
                session = TargetSession(context, settings)
                session.ensure_logged_in()
                session.open_search().search(birth_date=date(1950, 1, 1))
                page = session.page
                button = page.get_by_role("button", name="Rechercher", exact=True).first
                field = page.get_by_label("Nom de naissance", exact=True).first
                heading = page.get_by_role("heading", name="Rechercher un usager", exact=True)

                def read() -> None:
                    session.first_shown(heading, "mesure", failed="mesure")

                def timed(fn: Callable[[], object]) -> float:
                    started = time.perf_counter()
                    fn()
                    return (time.perf_counter() - started) * 1000

                ways: dict[str, Callable[[], object]] = {
                    "clic (ce que fait le robot)": button.click,
                    "clic sans vérifications (force)": lambda: button.click(force=True),
                    "touche Entrée dans un champ": lambda: field.press("Enter"),
                    "goto de l'adresse (commit)": lambda: page.goto(page.url, wait_until="commit"),
                }
                print(
                    f"Chromium : {find_chromium(headless=True) or 'Playwright'} ; "
                    f"{args.n} navigations par mesure, {args.rounds} tours"
                )
                for round_ in range(1, args.rounds + 1):
                    for name, start in ways.items():
                        go, first, again = [], [], []
                        for _ in range(args.n):
                            go.append(timed(start))
                            first.append(timed(read))
                            again.append(timed(read))
                        nothing = [timed(lambda: page.evaluate("1")) for _ in range(args.n)]
                        print(
                            f"tour {round_} · {name:34s} : navigation "
                            f"{statistics.mean(go):5.1f} ms + lecture "
                            f"{statistics.mean(first):5.1f} ms = "
                            f"{statistics.mean(go) + statistics.mean(first):5.1f} ms ; "
                            f"relecture {statistics.mean(again):5.1f} ms ; "
                            f"evaluate {statistics.mean(nothing):4.1f} ms"
                        )
                browser.close()
        finally:
            sandbox.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
