"""Entering a STEP 1 in the sandbox: form rules, saving, alerts panel, read-only view, STEP 2 tasks."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import (
    CLEAR_STEP1,
    add_usager,
    fill_step1,
    open_step1_form,
    read_alerts,
    save_step1,
)

pytestmark = pytest.mark.browser

POSITIVE_STEP1 = CLEAR_STEP1 | {
    "orientation_weekday_ok": False,
    "chair_rise_seconds": None,
    "hearing_test": "hearwho",
    "hearing_score": 45,
    "weight_loss_kg": 2.5,
}


def test_saved_step1_shows_a_spinner_then_all_six_domains(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(alerts_delay_ms=400)
    page = logged_in_page
    usager = add_usager(sandbox)
    open_step1_form(page, sandbox, usager)
    fill_step1(page, POSITIVE_STEP1)
    save_step1(page)
    expect(
        page.get_by_role("status").filter(has_text="Calcul des alertes en cours…")
    ).to_be_visible()
    assert read_alerts(page) == {
        "cognition": True,
        "mobilite": True,
        "nutrition": False,
        "vision": False,
        "audition": True,
        "psychologie": False,
    }
    region = page.get_by_role("region", name="Alertes")
    expect(region.locator("[data-domain=mobilite]")).to_have_text(
        "Mobilité : Alerte – STEP 2 à réaliser"
    )
    expect(region.locator("[data-domain=vision]")).to_have_text("Vision : Pas d'alerte")
    [saved] = sandbox.step1s(usager_id=usager)
    assert saved["date"] == "2025-03-03"
    assert saved["mode"] == "auto"
    assert saved["effecteur_rpps"] == "10007654321"
    assert saved["answers"]["chair_rise_seconds"] is None
    assert saved["answers"]["weight_loss_kg"] == 2.5


def test_read_only_page_shows_every_answer_as_entered(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    usager = add_usager(sandbox)
    open_step1_form(page, sandbox, usager)
    fill_step1(
        page,
        CLEAR_STEP1
        | {
            "chair_rise_seconds": 12.5,
            "hearing_test": "chuchotement",
            "hearing_whisper_passed": True,
        },
        mode="hetero",
    )
    save_step1(page)
    page.goto(f"{sandbox.base_url}/usagers/{usager}?onglet=evaluations")
    row = page.get_by_role("row").filter(has_text="03/03/2025")
    expect(row).to_contain_text("ICOPE – STEP 1")
    expect(row).to_contain_text("Hétéroévaluation")
    expect(row).to_contain_text("Julien Moreau")
    row.get_by_role("link", name="Consulter").click()

    def shown(term: str) -> str:
        return (
            page.locator("dt", has_text=term).locator("xpath=following-sibling::dd[1]").inner_text()
        )

    assert shown("Date de l'évaluation") == "03/03/2025"
    assert shown("Mode") == "Hétéroévaluation"
    assert shown("L'année en cours") == "Oui"
    assert shown("Plainte de mémoire aggravée au cours des 6 derniers mois") == "Non"
    assert shown("Test du lever de chaise réalisé") == "Oui"
    assert shown("Durée des 5 levers de chaise (secondes)") == "12,5"
    assert shown("Perte de poids involontaire sur 3 mois (kg)") == "0"
    assert shown("Test d'audition réalisé") == "Test du chuchotement"
    assert shown("Test du chuchotement réussi") == "Oui"
    assert shown("Score hearWHO (sur 100)") == "Non réalisé"
    expect(page.get_by_role("textbox")).to_have_count(0)
    assert not any(read_alerts(page).values())


def test_alerted_domains_become_step2_tasks_in_the_dossier(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    usager = add_usager(sandbox)
    open_step1_form(page, sandbox, usager)
    fill_step1(page, POSITIVE_STEP1)
    save_step1(page)
    page.get_by_role("link", name="Retour au dossier").click()
    tasks = page.get_by_role("listitem").filter(has_text="STEP 2 à réaliser –")
    expect(tasks).to_have_count(3)
    for domain in ("Cognition", "Mobilité", "Audition"):
        expect(tasks.filter(has_text=f"STEP 2 à réaliser – {domain}")).to_have_count(1)


def test_conditional_fields_follow_their_trigger(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    open_step1_form(page, sandbox, add_usager(sandbox))
    seconds = page.get_by_label("Durée des 5 levers de chaise (secondes)", exact=True)
    expect(seconds).to_be_hidden()
    page.get_by_role("radiogroup", name="Test du lever de chaise réalisé").get_by_label(
        "Oui"
    ).check()
    expect(seconds).to_be_visible()
    hearing = page.get_by_label("Test d'audition réalisé", exact=True)
    score = page.get_by_label("Score hearWHO (sur 100)", exact=True)
    db = page.get_by_label("Seuil audiométrique (dB)", exact=True)
    expect(score).to_be_hidden()
    hearing.select_option(label="hearWHO")
    expect(score).to_be_visible()
    expect(db).to_be_hidden()
    hearing.select_option(label="Audiométrie")
    expect(db).to_be_visible()
    expect(score).to_be_hidden()


def test_server_refuses_missing_answers_and_bad_numbers(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    open_step1_form(page, sandbox, add_usager(sandbox))
    fill_step1(
        page,
        CLEAR_STEP1 | {"words_recalled": 5, "chair_rise_seconds": None},
        assessed_on="31/13/2024",
    )
    page.get_by_role("radiogroup", name="Test du lever de chaise réalisé").get_by_label(
        "Oui"
    ).check()
    page.get_by_label("Test d'audition réalisé", exact=True).select_option(label="hearWHO")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "Le formulaire contient des erreurs (4)"
    )
    expect(page.get_by_label("Date de l'évaluation", exact=True)).to_have_accessible_description(
        "jj/mm/aaaa Date invalide : saisissez-la au format jj/mm/aaaa"
    )
    expect(
        page.get_by_label("Nombre de mots rappelés (sur 3)", exact=True)
    ).to_have_accessible_description("Saisissez un nombre entier entre 0 et 3")
    expect(
        page.get_by_label("Durée des 5 levers de chaise (secondes)", exact=True)
    ).to_have_accessible_description("Virgule ou point acceptés Ce champ est obligatoire")
    expect(page.get_by_label("Score hearWHO (sur 100)", exact=True)).to_have_accessible_description(
        "Ce champ est obligatoire"
    )
    expect(
        page.get_by_role("radiogroup", name="L'année en cours").get_by_label("Oui")
    ).to_be_checked()
    assert sandbox.counts()["step1"] == 0


def test_decimal_comma_and_dot_are_both_accepted(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    usager = add_usager(sandbox)
    open_step1_form(page, sandbox, usager)
    fill_step1(page, CLEAR_STEP1)
    page.get_by_label("Durée des 5 levers de chaise (secondes)", exact=True).fill("14.2")
    page.get_by_label("Perte de poids involontaire sur 3 mois (kg)", exact=True).fill("3,5")
    save_step1(page)
    alerts = read_alerts(page)
    assert alerts["mobilite"]
    assert alerts["nutrition"]
    answers = sandbox.step1s(usager_id=usager)[0]["answers"]
    assert (answers["chair_rise_seconds"], answers["weight_loss_kg"]) == (14.2, 3.5)


def test_evaluation_types_other_than_step1_are_not_available(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    usager = add_usager(sandbox)
    page.goto(f"{sandbox.base_url}/usagers/{usager}/evaluations/nouvelle")
    expect(page.get_by_role("link", name="ICOPE – STEP 2")).to_have_count(0)
    page.get_by_role("link", name="Grille AGGIR").click()
    expect(page.get_by_role("heading", name="Fonctionnalité indisponible")).to_be_visible()
