"""The billing exports: STEP 1 counts per month and effecteur, and the detailed list, as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from sandbox.rules import Step1, compute_alerts
from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import CLEAR_STEP1, add_usager

pytestmark = pytest.mark.browser

MARTIN = ("10001234567", "Dr Claire Martin")
MOREAU = ("10007654321", "Julien Moreau")


def record_step1(
    server: RunningSandbox, usager: int, day: str, mode: str, who: tuple[str, str]
) -> None:
    """A STEP 1 stored straight into the sandbox's database (the UI path has its own tests)."""
    store = server.app.state.runtime.store
    store.insert_evaluation(
        usager_id=usager,
        kind="step1",
        eval_date=day,
        mode=mode,
        effecteur_rpps=who[0],
        effecteur_name=who[1],
        answers=CLEAR_STEP1,
        alerts=compute_alerts(Step1(**CLEAR_STEP1)),
        created_by="test",
    )


def download(page: Page, link: str) -> tuple[bytes, list[list[str]]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    raw = info.value.path().read_bytes()
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def three_step1s(sandbox: RunningSandbox) -> None:
    first, second = add_usager(sandbox), add_usager(sandbox, birth_name="ROUX")
    record_step1(sandbox, first, "2025-03-03", "auto", MOREAU)
    record_step1(sandbox, second, "2025-03-20", "hetero", MOREAU)
    record_step1(sandbox, second, "2025-04-02", "hetero", MARTIN)


@pytest.mark.usefixtures("three_step1s")
def test_monthly_summary_counts_step1_per_effecteur(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    logged_in_page.get_by_role("navigation", name="Menu principal").get_by_role(
        "link", name="Exports"
    ).click()
    expect(logged_in_page.get_by_role("row")).to_have_count(3)
    raw, rows = download(logged_in_page, "Télécharger la synthèse mensuelle par effecteur (CSV)")
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows == [
        ["Mois", "Effecteur", "RPPS", "Type", "Nombre"],
        ["2025-03", "Julien Moreau", "10007654321", "STEP 1", "2"],
        ["2025-04", "Dr Claire Martin", "10001234567", "STEP 1", "1"],
    ]


@pytest.mark.usefixtures("three_step1s")
def test_detailed_list_has_one_line_per_act(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    logged_in_page.goto(f"{sandbox.base_url}/exports")
    _, rows = download(logged_in_page, "Télécharger la liste détaillée des actes (CSV)")
    assert rows[0] == ["Mois", "Date", "Effecteur", "RPPS", "Type", "Mode", "Dossier", "Évaluation"]
    assert rows[1][:6] == [
        "2025-03",
        "03/03/2025",
        "Julien Moreau",
        "10007654321",
        "STEP 1",
        "Auto-évaluation (ICOPE et Moi)",
    ]
    assert [r[1] for r in rows[1:]] == ["03/03/2025", "20/03/2025", "02/04/2025"]


def test_empty_export_page_says_there_is_nothing(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    logged_in_page.goto(f"{sandbox.base_url}/exports")
    expect(logged_in_page.get_by_text("Aucun acte à exporter")).to_be_visible()
