"""Ingestion reads exports however they were saved: every encoding, separator and date style.

Each test writes a real file (CSV bytes, or an XLSX through openpyxl) from the same sample
export, ingests it into a real SQLite queue and checks that the same self-assessments come out.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from bot.ingest import FIELD_KINDS, ingest_file
from bot.models import ItemState
from bot.sample import SampleExport, generate
from bot.workqueue import WorkQueue, open_queue

AS_OF = date(2025, 6, 30)


def _latin1_safe(export: SampleExport) -> SampleExport:
    """Keep rows every tested encoding can hold (drops names like « Œillet »)."""

    def ok(row: dict[str, str]) -> bool:
        try:
            "".join(row.values()).encode("latin-1")
        except UnicodeEncodeError:
            return False
        return True

    export.rows = [r for r in export.rows if ok(r)]
    return export


@pytest.fixture(scope="module")
def export() -> SampleExport:
    return _latin1_safe(generate(40, seed=7, as_of=AS_OF))


@pytest.fixture(scope="module")
def expected(export: SampleExport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the French-Excel CSV gives: reference → assessment, the yardstick for variants."""
    folder = tmp_path_factory.mktemp("yardstick")
    with open_queue(folder / "q.db") as q:
        s = ingest_file(export.write(folder / "export.csv"), q)
        assert (s.read, s.new, s.invalid) == (len(export.rows), len(export.rows), 0)
        return {v.reference: v.assessment for v in q.items()}


def _ingested(queue: WorkQueue) -> dict[str, Any]:
    return {v.reference: v.assessment for v in queue.items([ItemState.PENDING])}


def _iso_dates(key: str, header: str, text: str) -> str:
    if FIELD_KINDS.get(key) == "date" and text:
        return datetime.strptime(text, "%d/%m/%Y").strftime("%Y-%m-%d")
    return text


def _serial_dates(key: str, header: str, text: str) -> str:
    if FIELD_KINDS.get(key) == "date" and text:
        return str((datetime.strptime(text, "%d/%m/%Y") - datetime(1899, 12, 30)).days)
    return text


def _decimal_points(key: str, header: str, text: str) -> str:
    return text.replace(",", ".") if FIELD_KINDS.get(key) in ("decimal", "seconds") else text


@pytest.mark.parametrize(
    ("options", "detected"),
    [
        pytest.param({}, "CSV, UTF-8 avec BOM, séparateur « ; »", id="french-excel"),
        pytest.param({"encoding": "utf-8"}, "CSV, UTF-8, séparateur « ; »", id="utf8-no-bom"),
        pytest.param(
            {"encoding": "latin-1"}, "CSV, ISO-8859-1 (latin-1), séparateur « ; »", id="latin1"
        ),
        pytest.param(
            {"sep": ",", "encoding": "utf-8", "transform": _decimal_points},
            "CSV, UTF-8, séparateur « , »",
            id="comma-separated-decimal-points",
        ),
        pytest.param(
            {"sep": ",", "encoding": "utf-8"},
            "CSV, UTF-8, séparateur « , »",
            id="comma-separated-decimal-commas-quoted",
        ),
        pytest.param({"sep": "\t"}, "séparateur « tabulation »", id="tab-separated"),
        pytest.param(
            {"sep": "\t", "encoding": "utf-16"},
            "CSV, UTF-16, séparateur « tabulation »",
            id="excel-unicode-text",
        ),
        pytest.param({"transform": _iso_dates}, "CSV", id="iso-dates"),
        pytest.param({"transform": _serial_dates}, "CSV", id="excel-serial-dates-as-text"),
    ],
)
def test_csv_variants_give_the_same_assessments(
    export: SampleExport,
    expected: dict[str, Any],
    work_queue: WorkQueue,
    tmp_path: Path,
    options: dict[str, Any],
    detected: str,
) -> None:
    path = export.write(tmp_path / "export.csv", **options)
    summary = ingest_file(path, work_queue)
    assert detected in summary.detected
    assert (summary.read, summary.new, summary.invalid) == (len(export.rows), len(export.rows), 0)
    assert _ingested(work_queue) == expected


def test_windows_1252_is_named_when_its_own_characters_appear(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    def curly(key: str, header: str, text: str) -> str:
        return text + " – bât. l’Orée" if key == "identity.address" and text else text

    path = export.write(tmp_path / "export.csv", encoding="cp1252", transform=curly)
    summary = ingest_file(path, work_queue)
    assert "Windows-1252" in summary.detected
    assert summary.new == len(export.rows)
    addresses = [v.assessment.identity.address for v in work_queue.items()]
    assert all(a.endswith("– bât. l’Orée") for a in addresses if a)


def test_quoted_cells_may_hold_line_breaks(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    def two_lines(key: str, header: str, text: str) -> str:
        return text.replace(", ", "\n") if key == "identity.address" else text

    path = export.write(tmp_path / "export.csv", transform=two_lines)
    summary = ingest_file(path, work_queue)
    assert (summary.read, summary.new) == (len(export.rows), len(export.rows))
    assert any("\n" in (v.assessment.identity.address or "") for v in work_queue.items())


def test_lf_line_endings_excel_sep_hint_and_a_title_row(
    export: SampleExport, expected: dict[str, Any], work_queue: WorkQueue, tmp_path: Path
) -> None:
    body = export.write(tmp_path / "plain.csv", encoding="utf-8").read_text(encoding="utf-8")
    path = tmp_path / "titled.csv"
    path.write_text(
        "sep=;\nExport ICOPE et Moi du 30/06/2025;;;\n" + body.replace("\r\n", "\n"),
        encoding="utf-8",
    )
    summary = ingest_file(path, work_queue)
    assert "en-têtes ligne 2" in summary.detected
    assert _ingested(work_queue) == expected
    first = min(v.row for v in work_queue.items())
    assert first == 3  # rows are counted as Excel shows them: title 1, headers 2


def test_headers_match_whatever_their_case_accents_and_spacing(
    export: SampleExport, expected: dict[str, Any], work_queue: WorkQueue, tmp_path: Path
) -> None:
    import unicodedata

    def shout(h: str) -> str:
        plain = unicodedata.normalize("NFKD", h).encode("ascii", "ignore").decode()
        return "  " + plain.upper().replace(" ", "_") + " "

    export_copy = SampleExport(
        headers=[shout(h) for h in export.headers],
        rows=[{shout(h): v for h, v in r.items()} for r in export.rows],
        keys={shout(h): k for h, k in export.keys.items()},
    )
    summary = ingest_file(export_copy.write(tmp_path / "export.csv"), work_queue)
    assert summary.new == len(export.rows)
    assert _ingested(work_queue) == expected


@pytest.mark.parametrize("engine", ["calamine", "openpyxl"])
@pytest.mark.parametrize("typed", [True, False], ids=["typed-cells", "text-cells"])
def test_xlsx_with_real_dates_and_numbers_or_with_text(
    export: SampleExport,
    expected: dict[str, Any],
    work_queue: WorkQueue,
    tmp_path: Path,
    typed: bool,
    engine: str,
) -> None:
    path = export.write(tmp_path / "export.xlsx", typed_xlsx=typed)
    summary = ingest_file(path, work_queue, xlsx_engine=engine)
    assert summary.detected == "XLSX"
    assert (summary.read, summary.new, summary.invalid) == (len(export.rows), len(export.rows), 0)
    assert _ingested(work_queue) == expected


@pytest.mark.parametrize("engine", ["calamine", "openpyxl"])
def test_xlsx_serial_dates_codes_without_leading_zero_a_title_and_a_second_sheet(
    export: SampleExport,
    expected: dict[str, Any],
    work_queue: WorkQueue,
    tmp_path: Path,
    engine: str,
) -> None:
    wb = Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes.append(["Export généré par l'application"])
    ws = wb.create_sheet("Données")
    ws.append([])
    ws.append([None, "Auto-évaluations ICOPE et Moi"])
    ws.append([])
    ws.append(export.headers)
    for row in export.rows:
        cells: list[object] = []
        for h in export.headers:
            key, text = export.keys[h], row[h]
            if FIELD_KINDS.get(key) == "date" and text:
                cells.append((datetime.strptime(text, "%d/%m/%Y") - datetime(1899, 12, 30)).days)
            elif key in ("identity.birth_insee", "identity.ins") and text.isdigit():
                cells.append(int(text))  # Excel turned the code into a number
            elif key == "answers.words_recalled":
                cells.append(float(text))  # 3.0
            else:
                cells.append(text)
        ws.append(cells)
    path = tmp_path / "export.xlsx"
    wb.save(path)
    summary = ingest_file(path, work_queue, xlsx_engine=engine)
    assert summary.detected == "XLSX, feuille « Données », en-têtes ligne 4"
    assert _ingested(work_queue) == expected
    assert min(v.row for v in work_queue.items()) == 5


def test_unreadable_or_unsupported_files_are_refused_whole(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    fake = tmp_path / "export.xlsx"
    fake.write_bytes(b"this is not a zip file")
    old = tmp_path / "export.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    s1, s2, s3 = (ingest_file(p, work_queue) for p in (fake, old, empty))
    assert "pas un classeur Excel" in s1.refused
    assert ".xlsx ou .csv" in s2.refused
    assert "vide" in s3.refused
    assert work_queue.counts()[ItemState.PENDING] == 0
