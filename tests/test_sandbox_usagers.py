"""Usagers in the sandbox: creation with validation, potential doubles, search and pagination."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from sandbox.server import RunningSandbox
from tests.fixtures.sandbox import add_usager

pytestmark = pytest.mark.browser

IDENTITY = {
    "Nom de naissance": "Le Guen-d'Hérouville",
    "Prénoms de naissance": "Anne-Marie Louise",
    "Date de naissance": "14/02/1943",
    "Code INSEE du lieu de naissance": "29019",
}


def fill_identity(page: Page, values: dict[str, str], sex: str = "Féminin") -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Sexe", exact=True).select_option(label=sex)


def test_invalid_form_shows_errors_next_to_fields_and_keeps_the_input(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    page = logged_in_page
    page.goto(f"{sandbox.base_url}/usagers/nouveau")
    fill_identity(page, IDENTITY | {"Date de naissance": "31/02/1943"})
    page.get_by_label("Matricule INS", exact=True).fill("243022901912345")
    page.get_by_role("button", name="Créer l'usager").click()

    birth = page.get_by_label("Date de naissance", exact=True)
    expect(birth).to_have_attribute("aria-invalid", "true")
    expect(birth).to_have_accessible_description(
        "jj/mm/aaaa Date invalide : saisissez-la au format jj/mm/aaaa"
    )
    expect(page.get_by_label("Matricule INS", exact=True)).to_have_accessible_description(
        "Facultatif : 15 caractères, clé de contrôle vérifiée "
        "Matricule INS invalide : 15 caractères et clé de contrôle exacte"
    )
    consent = page.get_by_role("checkbox", name="Consentement au partage d'informations")
    expect(consent).to_have_accessible_description(
        "Le consentement de l'usager au partage d'informations est obligatoire"
    )
    expect(page.get_by_label("Nom de naissance", exact=True)).to_have_value("Le Guen-d'Hérouville")
    assert sandbox.counts()["usagers"] == 0

    birth.fill("14/02/1943")
    page.get_by_label("Matricule INS", exact=True).fill("")
    consent.check()
    page.get_by_role("button", name="Créer l'usager").click()
    expect(page.get_by_role("heading", name="Dossier usager", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Usager créé")
    page.get_by_role("tab", name="Synthèse").click()
    expect(page.get_by_role("tabpanel")).to_contain_text("Provisoire")
    assert sandbox.counts()["usagers"] == 1


def test_ins_with_a_good_key_is_accepted(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    page = logged_in_page
    page.goto(f"{sandbox.base_url}/usagers/nouveau")
    fill_identity(page, IDENTITY)
    page.get_by_label("Matricule INS", exact=True).fill("2 43 02 29 019 012 49")
    page.get_by_label("Statut de l'identité", exact=True).select_option(label="Qualifiée")
    page.get_by_role("checkbox", name="Consentement au partage d'informations").check()
    page.get_by_role("button", name="Créer l'usager").click()
    expect(page.get_by_role("heading", name="Dossier usager", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Le Guen-d'Hérouville")


def test_same_strict_traits_show_the_potential_double_page(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    existing = add_usager(
        sandbox,
        birth_name="LE GUEN D HEROUVILLE",
        first_names=["Anne-Marie", "Louise"],
        birth_date="1943-02-14",
        birth_insee="29019",
    )
    page = logged_in_page
    page.goto(f"{sandbox.base_url}/usagers/nouveau")
    fill_identity(page, IDENTITY)
    page.get_by_role("checkbox", name="Consentement au partage d'informations").check()
    page.get_by_role("button", name="Créer l'usager").click()
    expect(page.get_by_role("heading", name="Doublon potentiel", exact=True)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="LE GUEN D HEROUVILLE")
    expect(row.get_by_role("link", name="Ouvrir le dossier")).to_have_attribute(
        "href", f"/usagers/{existing}"
    )

    page.get_by_role("button", name="Annuler").click()
    expect(page.get_by_role("heading", name="Rechercher un usager")).to_be_visible()
    assert sandbox.counts()["usagers"] == 1

    page.go_back()
    page.get_by_role("button", name="Créer quand même").click()
    expect(page.get_by_role("heading", name="Dossier usager", exact=True)).to_be_visible()
    assert sandbox.counts() | {} == {
        "usagers": 2,
        "step1": 0,
        "duplicate_usagers": 1,
        "duplicate_step1": 0,
    }


def test_another_birth_place_is_not_a_double(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    add_usager(
        sandbox,
        birth_name="Le Guen d'Hérouville",
        first_names=["Anne-Marie"],
        birth_date="1943-02-14",
        birth_insee="29020",
    )
    page = logged_in_page
    page.goto(f"{sandbox.base_url}/usagers/nouveau")
    fill_identity(page, IDENTITY)
    page.get_by_role("checkbox", name="Consentement au partage d'informations").check()
    page.get_by_role("button", name="Créer l'usager").click()
    expect(page.get_by_role("heading", name="Dossier usager", exact=True)).to_be_visible()


def search(page: Page, server: RunningSandbox, **fields: str) -> None:
    labels = {
        "nom": "Nom de naissance",
        "prenom": "Prénom",
        "date": "Date de naissance",
        "ins": "Matricule INS",
    }
    page.goto(f"{server.base_url}/usagers")
    for key, value in fields.items():
        page.get_by_label(labels[key], exact=True).fill(value)
    page.get_by_role("button", name="Rechercher").click()


def test_search_ignores_accents_and_case_and_finds_homonyms(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    for first_name, birth in (
        ("Gérard", "1939-12-19"),
        ("Gérard", "1951-06-02"),
        ("Paul", "1939-12-19"),
    ):
        add_usager(
            sandbox, birth_name="Lefèvre", first_names=[first_name], sex="M", birth_date=birth
        )
    add_usager(sandbox, birth_name="Lefebvre", first_names=["Gérard"], sex="M")
    search(logged_in_page, sandbox, nom="LEFEV", prenom="gerard")
    rows = logged_in_page.get_by_role("row").filter(has=logged_in_page.get_by_role("link"))
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("19/12/1939")
    expect(rows.last).to_contain_text("02/06/1951")


def test_birth_date_alone_is_enough(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    add_usager(sandbox, birth_name="Martin", first_names=["Jeanne"], birth_date="1941-03-12")
    add_usager(sandbox, birth_name="Dubois", first_names=["René"], sex="M", birth_date="1941-03-12")
    add_usager(sandbox, birth_name="Martin", first_names=["Jeanne"], birth_date="1946-11-02")
    search(logged_in_page, sandbox, date="12/03/1941")
    expect(logged_in_page.get_by_role("link", name="Ouvrir le dossier")).to_have_count(2)


def test_search_by_used_name_and_ins(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    usager = add_usager(sandbox, birth_name="Martin", used_name="Durand", ins="243022901912335")
    search(logged_in_page, sandbox, nom="dur")
    expect(logged_in_page.get_by_role("link", name="Ouvrir le dossier")).to_have_count(1)
    search(logged_in_page, sandbox, ins="2 43 02 29 019 123 35")
    logged_in_page.get_by_role("link", name="Ouvrir le dossier").click()
    expect(logged_in_page).to_have_url(f"{sandbox.base_url}/usagers/{usager}")


def test_results_come_ten_per_page(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    for n in range(12):
        add_usager(sandbox, birth_name="Bernard", first_names=[f"Prénom{'abcdefghijkl'[n]}"])
    search(logged_in_page, sandbox, nom="bernard")
    links = logged_in_page.get_by_role("link", name="Ouvrir le dossier")
    expect(links).to_have_count(10)
    expect(logged_in_page.get_by_role("link", name="Page précédente")).to_have_count(0)
    logged_in_page.get_by_role("link", name="Page suivante").click()
    expect(links).to_have_count(2)
    expect(logged_in_page.get_by_role("link", name="Page suivante")).to_have_count(0)
    expect(logged_in_page.get_by_role("link", name="Page précédente")).to_be_visible()


def test_no_match_says_so(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    search(logged_in_page, sandbox, nom="Zzyzx")
    expect(logged_in_page.get_by_text("Aucun usager trouvé")).to_be_visible()


def test_empty_search_asks_for_a_criterion(logged_in_page: Page, sandbox: RunningSandbox) -> None:
    search(logged_in_page, sandbox)
    expect(logged_in_page.get_by_role("alert")).to_have_text(
        "Saisissez au moins un critère de recherche"
    )
