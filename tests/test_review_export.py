"""The exceptions file: what a reviewer sees, and that Excel opens it safely and privately.

Items are put in the states a reviewer deals with by tests/fixtures/review.py.
"""

from __future__ import annotations

import stat
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from bot.errors import CODES
from bot.review import export_exceptions
from bot.workqueue import WorkQueue
from tests.fixtures.queue import make_assessment
from tests.fixtures.review import (
    DAY,
    HOSTILE_RAW,
    to_failed,
    to_invalid,
    to_review,
    xlsx_rows,
)

DECISIONS = ["valider", "relancer", "rejeter", "corriger"]
MOBILITY = "Alertes comparées — Mobilité"

# --- what the file lists ---------------------------------------------------------------------


def test_export_lists_only_the_items_a_person_must_decide_on(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    work_queue.enqueue(make_assessment(reference="AE-PENDING"), source="x.xlsx")
    work_queue.enqueue(make_assessment(reference="AE-DONE"), source="x.xlsx")
    with work_queue.lease("w1", references=["AE-DONE"])[0] as item:
        item.done()
    to_invalid(work_queue, "AE-INVALID", {"Nom de naissance": "TESTICOPE"})
    to_failed(work_queue, make_assessment(reference="AE-FAILED"))
    to_review(work_queue, make_assessment(reference="AE-REVIEW"))

    result = export_exceptions(work_queue, tmp_path / "reviews", today=DAY)

    assert result.xlsx == tmp_path / "reviews" / "exceptions-2025-06-02.xlsx"
    assert result.csv == tmp_path / "reviews" / "exceptions-2025-06-02.csv"
    assert result.count == 3
    rows = xlsx_rows(result.xlsx)
    assert [(r["Référence"], r["État"]) for r in rows] == [
        ("AE-REVIEW", "à vérifier"),
        ("AE-FAILED", "en échec"),
        ("AE-INVALID", "invalide (quarantaine)"),
    ]
    assert all(r["Décision"] is None and r["Commentaire"] is None for r in rows)


def test_export_explains_the_reason_and_compares_alerts_domain_by_domain(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1", answers={"chair_rise_seconds": 16.0}))
    to_failed(work_queue, make_assessment(reference="AE-2"))

    review, failed = xlsx_rows(export_exceptions(work_queue, tmp_path, today=DAY).xlsx)

    assert review["Motif"] == (
        "Alertes discordantes : Mobilité\nQue faire : " + CODES["alerts_discordant"].action
    )
    assert review["Détails"].startswith(
        "Mobilité : alerte dans ICOPE et Moi, pas dans l'e-parcours"
    )
    assert review[MOBILITY] == "⚠ app : alerte / e-parcours : pas d'alerte / règle : alerte"
    assert review["Alertes comparées — Vision"] == (
        "app : alerte / e-parcours : alerte / règle : alerte"
    )
    assert review["Origine"] == "export-mars.xlsx, ligne 7"
    # Failed before reading the target back: the app and the rules are still compared.
    assert failed["Motif"] == (
        "Le site e-parcours ne répond pas (délai dépassé)\nQue faire : " + CODES["timeout"].action
    )
    assert failed[MOBILITY] == "app : pas d'alerte / e-parcours : non lu / règle : pas d'alerte"


def test_export_shows_the_usager_in_full_by_default(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))

    (row,) = xlsx_rows(export_exceptions(work_queue, tmp_path, today=DAY).xlsx)

    assert row["Usager"] == "TESTICOPE Jeanne, née le 12/05/1940"
    assert row["Nom de naissance"] == "TESTICOPE"
    assert row["Prénoms de naissance"] == "Jeanne, Marie"
    assert row["INS"] == "240057511599982"


def test_masked_export_shows_initials_and_no_identity_columns(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))

    result = export_exceptions(work_queue, tmp_path, with_identity=False, today=DAY)

    (row,) = xlsx_rows(result.xlsx)
    assert row["Usager"] == "T. J."
    assert not {"Nom de naissance", "INS", "Date de naissance"} & set(row)
    assert row["Mots rappelés (sur 3)"] == 2  # the answers stay correctable
    text = result.csv.read_text(encoding="utf-8-sig")
    assert not [v for v in ("TESTICOPE", "Jeanne", "240057511599982") if v in text]


def test_export_prefills_the_correctable_columns_from_the_payload(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))

    result = export_exceptions(work_queue, tmp_path, today=DAY)

    (row,) = xlsx_rows(result.xlsx)
    assert row["Date d'évaluation"].date() == date(2025, 3, 14)
    assert row["Date de naissance"].date() == date(1940, 5, 12)
    assert row["Code INSEE lieu de naissance"] == "75115"
    assert row["Consentement au partage"] == "Oui"
    assert row["Lever de chaise (secondes)"] == 11.5
    assert row["Problème de vision"] == "Oui"
    assert row["Alerte vision"] == "Oui"
    assert row["Test d'audition"] == "aucun"
    (csv_row,) = pd.read_csv(result.csv, sep=";", encoding="utf-8-sig", dtype=str).to_dict(
        "records"
    )
    assert csv_row["Date d'évaluation"] == "14/03/2025"
    assert csv_row["Lever de chaise (secondes)"] == "11,5"  # decimal comma for French Excel


def test_an_invalid_row_is_prefilled_from_the_raw_export_row(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    # The export's own headers, aliases of mappings/icope_et_moi.yaml included.
    raw = {"Nom": "TESTICOPE", "DDN": "31/02/1940", "Genre": "F", "Lever de chaise": "NR"}
    to_invalid(work_queue, "AE-BAD", raw)

    (row,) = xlsx_rows(export_exceptions(work_queue, tmp_path, today=DAY).xlsx)

    assert row["Motif"] == (
        "« Date de naissance » : date impossible\nQue faire : " + CODES["invalid_row"].action
    )
    # A date column holds dates only: the unreadable one is left empty, quoted in the details
    # for the reviewer to correct.
    assert row["Date de naissance"] is None
    assert "« DDN » : 31/02/1940" in row["Détails"]
    assert row["Nom de naissance"] == "TESTICOPE"
    assert row["Sexe"] == "F"
    assert row["Lever de chaise (secondes)"] is None  # "NR": not done, as on a valid row
    assert row[MOBILITY] is None  # nothing to compare yet


def test_export_links_the_screenshots(work_queue: WorkQueue, tmp_path: Path) -> None:
    shots = [tmp_path / "01-form.png", tmp_path / "02-alerts.png"]
    for shot in shots:
        shot.write_bytes(b"\x89PNG")
    to_review(work_queue, make_assessment(reference="AE-1"), evidence=shots)

    result = export_exceptions(work_queue, tmp_path / "reviews", today=DAY)

    ws = load_workbook(result.xlsx)["Exceptions"]
    headers = [c.value for c in ws[1]]
    link = ws.cell(row=2, column=headers.index("Capture") + 1)
    assert link.value == "02-alerts.png"  # the latest first
    assert link.hyperlink.target == shots[1].as_uri()
    assert ws.cell(row=2, column=headers.index("Autres captures") + 1).value == shots[0].as_uri()


def test_exceptions_files_are_private(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))

    result = export_exceptions(work_queue, tmp_path / "reviews", today=DAY)

    assert stat.S_IMODE((tmp_path / "reviews").stat().st_mode) == 0o700
    assert stat.S_IMODE(result.xlsx.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.csv.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "reviews").iterdir()) == [
        "exceptions-2025-06-02.csv",
        "exceptions-2025-06-02.xlsx",
    ]


def test_a_second_export_the_same_day_keeps_the_first(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    first = export_exceptions(work_queue, tmp_path, today=DAY)
    second = export_exceptions(work_queue, tmp_path, today=DAY)

    assert first.xlsx.exists()
    assert second.xlsx.name == "exceptions-2025-06-02-2.xlsx"
    assert second.csv.name == "exceptions-2025-06-02-2.csv"


# --- Excel opens it right ----------------------------------------------------------------------


def test_xlsx_has_a_decision_dropdown_a_frozen_header_and_filters(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-1"))
    to_failed(work_queue, make_assessment(reference="AE-2"))

    wb = load_workbook(export_exceptions(work_queue, tmp_path, today=DAY).xlsx)

    ws = wb["Exceptions"]
    headers = [c.value for c in ws[1]]
    column = ws.cell(row=1, column=headers.index("Décision") + 1).column_letter
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list"
    assert dv.formula1 == '"' + ",".join(DECISIONS) + '"'
    assert str(dv.sqref) == f"{column}2:{column}3"
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(row=1, column=len(headers)).column_letter}3"
    assert ws.cell(row=2, column=headers.index("Détails") + 1).alignment.wrap_text
    assert ws.column_dimensions["A"].width >= 20
    assert "Mode d'emploi" in wb.sheetnames
    guide = "\n".join(str(c.value or "") for c in wb["Mode d'emploi"]["A"])
    assert all(d in guide for d in DECISIONS)


def test_xlsx_stores_formula_like_values_as_text(work_queue: WorkQueue, tmp_path: Path) -> None:
    to_invalid(work_queue, "AE-EVIL", HOSTILE_RAW)

    result = export_exceptions(work_queue, tmp_path, today=DAY)

    ws = load_workbook(result.xlsx)["Exceptions"]
    headers = [c.value for c in ws[1]]
    for header in ("Nom de naissance", "Prénoms de naissance", "Téléphone", "E-mail", "Adresse"):
        cell = ws.cell(row=2, column=headers.index(header) + 1)
        assert cell.value == HOSTILE_RAW[header]
        assert cell.data_type == "s"
        assert cell.quotePrefix
    with zipfile.ZipFile(result.xlsx) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_csv_opens_in_french_excel_and_neutralises_formulas(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_invalid(work_queue, "AE-EVIL", HOSTILE_RAW)
    to_review(work_queue, make_assessment(reference="AE-1"))

    path = export_exceptions(work_queue, tmp_path, today=DAY).csv

    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns[:4]) == ["Référence", "Usager", "Motif", "Décision"]
    evil = frame.set_index("Référence").loc["AE-EVIL"]
    for header in ("Nom de naissance", "Prénoms de naissance", "Téléphone", "E-mail", "Adresse"):
        assert evil[header] == "'" + HOSTILE_RAW[header]
    cells = [str(v) for v in frame.to_numpy().ravel()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_decision_sits_next_to_the_reason_and_every_column_keeps_one_type(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    to_review(work_queue, make_assessment(reference="AE-OK", answers={"chair_rise_seconds": 11.5}))
    raw = {
        "Date d'évaluation": "14/03/2025",
        "Nom de naissance": "TESTICOPE",
        "Date de naissance": "31/02/1940",
        "Mots rappelés (sur 3)": "2",
        "Lever de chaise (secondes)": "12,5",
        "Perte de poids 3 mois (kg)": "beaucoup",
    }
    to_invalid(work_queue, "AE-BAD", raw)

    rows = xlsx_rows(export_exceptions(work_queue, tmp_path, today=DAY).xlsx)

    assert list(rows[0])[:5] == ["Référence", "Usager", "Motif", "Décision", "Commentaire"]
    dates = ("Date d'évaluation", "Date de naissance")
    numbers = (
        "Mots rappelés (sur 3)",
        "Lever de chaise (secondes)",
        "Perte de poids 3 mois (kg)",
        "Score hearWHO (sur 100)",
        "Audiométrie (dB)",
    )
    for row in rows:  # the invalid row too
        for header in dates:
            assert row[header] is None or isinstance(row[header], date), (header, row[header])
        for header in numbers:
            value = row[header]
            assert value is None or isinstance(value, int | float), (header, value)
    bad = next(r for r in rows if r["Référence"] == "AE-BAD")
    assert bad["Date d'évaluation"].date() == date(2025, 3, 14)
    assert bad["Lever de chaise (secondes)"] == 12.5
    assert bad["Mots rappelés (sur 3)"] == 2
    assert bad["Perte de poids 3 mois (kg)"] is None
    assert "« Perte de poids 3 mois (kg) » : beaucoup" in bad["Détails"]
