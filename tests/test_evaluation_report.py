"""``icope-bot evaluation`` on real data paths: a seeded sandbox year plus a queue from a real run.

A sample ICOPE et Moi export is ingested and entered by a real batch run (Chromium against the
sandbox), the sandbox also holds a year of professional activity (``seed_year``), and the
evaluation downloads the e-parcours's export through its Exports page. The report's figures are
checked against counts the test computes on its own, straight from the sandbox's database and the
queue; the HTML is opened in Chromium and every chart must be drawn.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from playwright.sync_api import Browser

from bot.cli import main
from bot.config import Settings
from bot.evaluation import Period, run_evaluation
from bot.evaluation.write import fr_percent
from bot.ingest import ingest_inbox
from bot.logs import logger
from bot.models import ItemState
from bot.runner import RunOptions, run_batch
from bot.sample import generate
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox, serve_in_thread
from tests.fixtures.runner import run_settings
from tests.fixtures.sandbox import sandbox_test_config

# The module's fixture does a real run and a real download before the first test.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

YEAR = 2026
PERIOD = Period(date(2025, 1, 1), date.today())
DOMAIN_NAMES = ["Cognition", "Mobilité", "Nutrition", "Vision", "Audition", "Psychologie"]
DOMAINS = ["cognition", "mobilite", "nutrition", "vision", "audition", "psychologie"]


@dataclass
class Evaluated:
    sandbox: RunningSandbox
    settings: Settings
    run: object
    root: Path

    @property
    def files(self) -> object:
        return self.run.files  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def evaluated(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluated]:
    """Seeded year + sample export → ingest → real run → evaluation (real download)."""
    root = tmp_path_factory.mktemp("evaluation")
    config = sandbox_test_config(root / "e-parcours.db", seed_year=YEAR, seed_per_month=40)
    with serve_in_thread(config) as server:
        settings = run_settings(
            server,
            root,
            inbox_dir=root / "queue" / "inbox",
            archive_dir=root / "queue" / "archive",
            screenshots="off",
            timeout_ms=15_000,
            max_attempts=1,
        )
        generate(6, seed=21, errors=1, discordant=1).write(settings.inbox_dir / "export.xlsx")
        ingest_inbox(settings)
        with open_queue(settings.queue_path) as queue:
            run_batch(settings, queue, RunOptions(workers=1))
        run = run_evaluation(settings, PERIOD, browser=browser)
        yield Evaluated(server, settings, run, root)


def eparcours_rows(server: RunningSandbox) -> list[dict[str, object]]:
    """Every evaluation, read from the sandbox's own database (not through the bot)."""
    db = sqlite3.connect(f"file:{server.app.state.runtime.store.path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in db.execute("SELECT * FROM evaluations ORDER BY id")]
    finally:
        db.close()
    for r in rows:
        r["alerts"] = json.loads(str(r["alerts"]))
        r["answers"] = json.loads(str(r["answers"]))
        r["day"] = date.fromisoformat(str(r["eval_date"]))
    return [r for r in rows if PERIOD.start <= r["day"] <= PERIOD.end]  # type: ignore[operator]


def sheet_rows(path: Path, sheet: str) -> list[dict[str, object]]:
    ws = load_workbook(path)[sheet]
    header = [c.value for c in ws[4]]
    width = header.index(None) if None in header else len(header)
    return [
        dict(zip(header[:width], row[:width], strict=True))
        for row in ws.iter_rows(min_row=5, values_only=True)
        if row[0] is not None
    ]


def test_eparcours_volumes_by_month_and_mode_match_the_sandbox(evaluated: Evaluated) -> None:
    rows = eparcours_rows(evaluated.sandbox)
    report = [
        r
        for r in sheet_rows(evaluated.files.xlsx, "e-parcours")  # type: ignore[attr-defined]
        if r["Territoire"] == "Ensemble"
    ]
    assert len(report) == len({(d.year, d.month) for d in _months(PERIOD)})
    checked = 0
    for r in report:
        month = r["Mois"]
        expected = {
            ("step1", "hetero"): 0,
            ("step1", "auto"): 0,
            ("step2", "hetero"): 0,
        }
        for e in rows:
            day = e["day"]
            if (day.year, day.month) == (month.year, month.month):  # type: ignore[attr-defined]
                expected[(str(e["kind"]), str(e["mode"]))] += 1
        for column, key in (
            ("STEP 1 hétéroévaluation", ("step1", "hetero")),
            ("STEP 1 auto-évaluation", ("step1", "auto")),
            ("STEP 2", ("step2", "hetero")),
        ):
            if r[column] == "< 11":
                continue
            assert r[column] == expected[key], (month, column)
            checked += 1
    assert checked >= 24  # a seeded year: most months are well above the threshold


def test_alert_rates_of_every_step1_match_the_sandbox(evaluated: Evaluated) -> None:
    step1 = [e for e in eparcours_rows(evaluated.sandbox) if e["kind"] == "step1"]
    report = {
        r["Domaine"]: r
        for r in sheet_rows(evaluated.files.xlsx, "alertes")  # type: ignore[attr-defined]
        if r["Territoire"] == "Ensemble" and r["Source"] == "e-parcours (toutes STEP 1)"
    }
    for code, name in zip(DOMAINS, DOMAIN_NAMES, strict=True):
        alerted = sum(1 for e in step1 if e["alerts"][code])  # type: ignore[index]
        assert report[name]["Évaluées"] == len(step1)
        assert report[name]["En alerte"] == alerted
        assert report[name]["Taux d'alerte"] == pytest.approx(alerted / len(step1))
    anyone = sum(1 for e in step1 if any(e["alerts"].values()))  # type: ignore[attr-defined]
    assert report["Au moins une alerte"]["En alerte"] == anyone
    html = evaluated.files.html.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert fr_percent(anyone / len(step1)) in html


def test_step2_follow_up_matches_the_sandbox(evaluated: Evaluated) -> None:
    rows = eparcours_rows(evaluated.sandbox)
    last = min(PERIOD.end, date.today() - timedelta(days=90))
    alerted = [
        e
        for e in rows
        if e["kind"] == "step1" and any(e["alerts"].values()) and e["day"] <= last  # type: ignore[attr-defined,operator]
    ]
    step2: dict[int, list[date]] = {}
    for e in eparcours_rows(evaluated.sandbox):
        if e["kind"] == "step2":
            step2.setdefault(int(e["usager_id"]), []).append(e["day"])  # type: ignore[arg-type,call-overload]

    def within(e: dict[str, object], days: int) -> bool:
        return any(
            0 <= (d - e["day"]).days <= days  # type: ignore[operator]
            for d in step2.get(int(e["usager_id"]), [])  # type: ignore[call-overload]
        )

    [row] = [
        r
        for r in sheet_rows(evaluated.files.xlsx, "suivi-step2")  # type: ignore[attr-defined]
        if r["Territoire"] == "Ensemble" and r["Mode"] == "Ensemble"
    ]
    assert row["STEP 1 avec alerte"] == len(alerted)
    for k in (30, 60, 90):
        assert row[f"STEP 2 sous {k} j"] == sum(within(e, k) for e in alerted)


def test_gap_list_names_every_item_not_entered_and_every_hand_entered_step1(
    evaluated: Evaluated,
) -> None:
    with open_queue(evaluated.settings.queue_path) as queue:
        items = queue.items()
    not_entered = {
        v.reference
        for v in items
        if not (v.result or {}).get("step1_id")
        and (v.assessment is None or v.assessment.assessed_on >= PERIOD.start)
    }
    linked = {str((v.result or {}).get("step1_id")) for v in items if v.result}
    by_hand = {
        str(e["id"])
        for e in eparcours_rows(evaluated.sandbox)
        if e["kind"] == "step1" and e["mode"] == "auto" and str(e["id"]) not in linked
    }
    raw = evaluated.files.gaps.read_text(encoding="utf-8-sig")  # type: ignore[attr-defined]
    gaps = list(csv.DictReader(io.StringIO(raw), delimiter=";"))
    listed = {
        g["Référence"] for g in gaps if g["Écart"] == "Auto-évaluation absente de l'e-parcours"
    }
    assert listed == not_entered
    assert any(v.state is ItemState.INVALID for v in items)  # the bad row is one of them
    hand = {
        g["N° évaluation"]
        for g in gaps
        if g["Écart"].startswith("STEP 1 auto-évaluation")  # sans … reçue / en double
    }
    assert hand == by_hand
    assert len(by_hand) > 11


def test_files_are_private_and_the_aggregate_csv_is_french_excel(evaluated: Evaluated) -> None:
    files = evaluated.files
    for path in (files.html, files.xlsx, files.csv, files.gaps):  # type: ignore[attr-defined]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.html.parent.stat().st_mode) == 0o700  # type: ignore[attr-defined]
    raw = files.csv.read_bytes()  # type: ignore[attr-defined]
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Tableau", "Territoire", "Ligne", "Indicateur", "Valeur"]
    # Aggregates only: no queue reference, no dossier or evaluation number of the gap list.
    with open_queue(evaluated.settings.queue_path) as queue:
        references = {v.reference for v in queue.items()}
    assert not any(ref in raw.decode("utf-8-sig") for ref in references)
    # Every small count is masked: no value from 1 to 10 in a count cell.
    counts = [r[4] for r in rows[1:] if "(%)" not in r[3] and "jours" not in r[3]]
    assert not {c for c in counts if c.isdigit() and 1 <= int(c) <= 10}
    assert "< 11" in counts


def test_xlsx_has_one_sheet_per_table_with_native_charts(evaluated: Evaluated) -> None:
    wb = load_workbook(evaluated.files.xlsx)  # type: ignore[attr-defined]
    assert {"chiffres-clés", "volumes", "e-parcours", "alertes", "concordance"} <= set(
        wb.sheetnames
    )
    charted = [name for name in wb.sheetnames if wb[name]._charts]
    assert charted == [
        "volumes",
        "delais-repartition",
        "alertes",
        "concordance-mois",
        "suivi-step2",
    ]
    rates = wb["alertes"]
    header = [c.value for c in rates[4]]
    column = header.index("Taux d'alerte") + 1
    cells = [rates.cell(row=r, column=column) for r in range(5, rates.max_row + 1)]
    shown = [c for c in cells if isinstance(c.value, float)]
    assert shown
    assert all(c.number_format == "0.0%" for c in shown)
    assert {c.value for c in cells if isinstance(c.value, str)} == {"< 11"}
    assert wb["volumes"]["B5"].number_format == "[$-fr-FR]mmmm yyyy"


def test_concordance_trend_is_given_for_everyone_and_for_each_territory(
    evaluated: Evaluated,
) -> None:
    frame = evaluated.run.evaluation.tables["concordance-mois"].frame  # type: ignore[attr-defined]
    territories = set(frame["Territoire"]) - {"Ensemble"}
    assert territories  # the run's usagers live in the experiment's territories
    keys = ["Mois", "Domaine", "Comparaison"]
    everyone = frame[frame["Territoire"] == "Ensemble"].set_index(keys)
    by_territory = frame[frame["Territoire"] != "Ensemble"].groupby(keys).sum(numeric_only=True)
    assert everyone["Comparées"].sum() > 0
    for column in ("Comparées", "Concordantes"):
        assert (
            by_territory[column].reindex(everyone.index, fill_value=0) == everyone[column]
        ).all()
    # The reader's sheet lists the same territories, month by month.
    shown = {r["Territoire"] for r in sheet_rows(evaluated.files.xlsx, "concordance-mois")}  # type: ignore[attr-defined]
    assert shown == {"Ensemble", *territories}


def test_html_shows_every_chart_in_chromium(
    evaluated: Evaluated, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    # Self-contained: any request other than the file itself would be a broken promise.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(evaluated.files.html.as_uri())  # type: ignore[attr-defined]
    images = page.get_by_role("img")
    assert images.count() == 5
    for i in range(5):
        image = images.nth(i)
        decoded = image.evaluate("img => img.complete && img.naturalWidth > 0")
        assert decoded, image.get_attribute("alt")
        shot = tmp_path / f"chart-{i}.png"
        image.screenshot(path=shot)
        colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 16) or []
        assert len(colours) > 20, f"chart {i} looks empty"
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    assert [u for u in requests if not u.startswith("file:")] == []
    assert page.get_by_role("heading", name="Chiffres clés").is_visible()
    context.close()


def test_one_territory_from_an_export_already_downloaded(
    evaluated: Evaluated,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in {
        "QUEUE_PATH": evaluated.settings.queue_path,
        "REPORTS_DIR": tmp_path / "reports",
        "LOGS_DIR": tmp_path / "logs",
    }.items():
        monkeypatch.setenv(f"ICOPE_BOT_{key}", str(value))
    argv = ["evaluation", "--from", PERIOD.start.isoformat(), "--to", PERIOD.end.isoformat()]
    try:
        code = main(
            [*argv, "--territory", "cpts o'tours", "--export-file", str(evaluated.run.export)]  # type: ignore[attr-defined]
        )
        unknown = main([*argv, "--territory", "Paris", "--export-file", str(evaluated.run.export)])  # type: ignore[attr-defined]
    finally:
        logger.remove()
    out = capsys.readouterr()
    assert code == 0
    assert unknown == 2
    assert "Territoire « Paris » inconnu" in out.err
    [xlsx] = (tmp_path / "reports").glob("evaluation-*-cpts-o-tours.xlsx")
    territories = {r["Territoire"] for r in sheet_rows(xlsx, "e-parcours")}
    assert territories == {"CPTS O'Tours"}


def _months(period: Period) -> list[date]:
    out, day = [], period.start.replace(day=1)
    while day <= period.end:
        out.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return out


def test_headline_gives_the_share_of_self_assessed_step1s_and_the_rules_agreement(
    evaluated: Evaluated,
) -> None:
    """Two figures a committee asks first, checked against the sandbox and the queue."""
    ws = load_workbook(evaluated.files.xlsx)["chiffres-clés"]  # type: ignore[attr-defined]
    figures = {r[0]: (r[1], r[2]) for r in ws.iter_rows(min_row=4, values_only=True) if r[0]}
    step1 = [e for e in eparcours_rows(evaluated.sandbox) if e["kind"] == "step1"]
    auto = sum(1 for e in step1 if e["mode"] == "auto")
    assert 11 <= auto <= len(step1) - 11  # a seeded year: neither share is masked
    assert figures["STEP 1 de l'e-parcours en auto-évaluation"] == (
        fr_percent(auto / len(step1)),
        f"sur {len(step1):,} STEP 1 de la période".replace(",", "\u202f"),
    )
    with open_queue(evaluated.settings.queue_path) as queue:
        said = [
            v.result["alerts"]
            for v in queue.items()
            if v.result and isinstance(v.result.get("alerts"), dict)
        ]
    compared = [a for a in said if a.get("target") and a.get("reference")]
    assert 1 <= len(compared) < 11  # six items: a count under the threshold, share masked
    value, detail = figures["Alertes identiques e-parcours / Règles (6 domaines)"]
    assert (value, detail) == ("< 11", "sur < 11 auto-évaluations saisies")
    html = evaluated.files.html.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert "STEP 1 de l&#x27;e-parcours en auto-évaluation" in html
    assert fr_percent(auto / len(step1)) in html
