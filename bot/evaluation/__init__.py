"""The evaluation of the experiment: queue ledger + e-parcours exports → figures, charts, gaps.

::

    queue (items, history, results) ─┐
                                     ├─ collect ─► compute (tables) ─► write: HTML, XLSX, CSV
    e-parcours Exports page (CSV) ───┘       └──► gaps (item by item, private)

:func:`run_evaluation` does the whole path (``icope-bot evaluation``); :func:`purge_reports`
erases the private gap lists of old periods (``icope-bot purge``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.evaluation.collect import Period, download_evaluations, ledger, read_evaluations
from bot.evaluation.compute import ALL, Evaluation, compute
from bot.evaluation.gaps import gaps
from bot.evaluation.territories import load_territories
from bot.evaluation.write import ReportFiles, write_report
from bot.evidence import private_dir
from bot.logs import logger

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from bot.config import Settings

__all__ = [
    "ALL",
    "Evaluation",
    "EvaluationRun",
    "Period",
    "purge_reports",
    "run_evaluation",
]


@dataclass(frozen=True)
class EvaluationRun:
    evaluation: Evaluation
    files: ReportFiles
    export: Path  # the e-parcours file it was computed from (private)
    items: int
    evaluations: int
    gaps: int


def run_evaluation(
    settings: Settings,
    period: Period,
    *,
    territory: str | None = None,
    out_dir: Path | None = None,
    browser: Browser | None = None,
    export_file: Path | None = None,
) -> EvaluationRun:
    """Collect (queue + e-parcours download), compute, write. ``export_file``: skip the download."""
    from bot.errors import ConfigurationError
    from bot.pages.mapping import load_mapping
    from bot.workqueue import open_queue

    territories = load_territories(settings.territories)
    chosen = ALL
    if territory:
        found = territories.find(territory)
        if found is None:
            raise ConfigurationError(
                f"Territoire « {territory} » inconnu : choisir parmi "
                f"{', '.join(territories.names())} (fichier {settings.territories.name}).",
                code="territory_unknown",
            )
        chosen = found
    out = private_dir(out_dir or settings.reports_dir)
    if export_file is None:
        export_file = out / f"e-parcours-evaluations-{date.today().isoformat()}.csv"
        download_evaluations(settings, export_file, browser=browser)
        export_file.chmod(0o600)
        logger.info("Export des évaluations de l'e-parcours téléchargé")
    exp = read_evaluations(export_file, load_mapping(settings.mapping), territories)
    with open_queue(settings.queue_target) as queue:
        led = ledger(queue, period, territories)
    evaluation = compute(led, exp, period, territory=chosen, observed_until=date.today())
    gap_list = gaps(
        led if chosen == ALL else led[led["territory"] == chosen],
        exp if chosen == ALL else exp[exp["territory"] == chosen],
    )
    in_period = exp["date"].between(str(period.start), str(period.end))
    gap_list = gap_list[
        gap_list["Date"].map(lambda d: period.start <= d <= period.end)
    ].reset_index(drop=True)
    files = write_report(evaluation, led, gap_list, out, threshold=settings.small_count_threshold)
    return EvaluationRun(
        evaluation=evaluation,
        files=files,
        export=export_file,
        items=len(led),
        evaluations=int(in_period.sum()),
        gaps=len(gap_list),
    )


_REPORT = re.compile(
    r"^evaluation-(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})(?:-[a-z0-9-]+)?-ecarts\.csv$"
)


def purge_reports(reports_dir: Path, before: date) -> int:
    """Erase the private gap lists whose period ended before ``before``; returns how many."""
    if not reports_dir.is_dir():
        return 0
    erased = 0
    for path in reports_dir.iterdir():
        m = _REPORT.match(path.name)
        if m and date.fromisoformat(m.group(2)) < before:
            path.unlink(missing_ok=True)
            erased += 1
    return erased
