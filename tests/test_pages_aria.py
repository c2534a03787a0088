"""Reading a screen from its ARIA snapshot: roles, names, values, states, link targets."""

from __future__ import annotations

from bot.pages.aria import parse_snapshot

FORM = """\
- main:
  - heading "Saisie ICOPE – STEP 1" [level=1]
  - group "En-tête de l'évaluation":
    - text: En-tête de l'évaluation Date de l'évaluation jj/mm/aaaa
    - textbox "Date de l'évaluation": 03/03/2025
    - combobox "Mode":
      - option "Hétéroévaluation"
      - option "Auto-évaluation (ICOPE et Moi)" [selected]
  - group "Cognition":
    - radiogroup "L'année en cours":
      - text: L'année en cours
      - radio "Oui" [checked]
      - radio "Non"
    - radiogroup "Il a dit \\"non\\"":
      - radio "Oui"
      - radio "Non"
    - spinbutton "Nombre de mots rappelés (sur 3)": "3"
    - textbox "Perte de poids involontaire sur 3 mois (kg)": 0,0
    - textbox "Vide"
    - checkbox "Consentement au partage d'informations" [checked]
  - button "Enregistrer"
"""

TABLE = """\
- table:
  - rowgroup:
    - row "Nom de naissance Prénoms":
      - columnheader "Nom de naissance"
      - columnheader "Prénoms"
  - rowgroup:
    - row "DUPONT Marie Ouvrir le dossier":
      - cell "DUPONT"
      - cell
      - cell "Ouvrir le dossier":
        - link "Ouvrir le dossier":
          - /url: /usagers/1
- listitem:
  - text: "Cognition :"
  - strong: Pas d'alerte
- term: Nombre de mots rappelés (sur 3)
- definition: "3"
"""


def test_controls_are_found_by_their_label_with_their_values() -> None:
    tree = parse_snapshot(FORM)

    assert tree.control("Date de l'évaluation").value == "03/03/2025"  # type: ignore[union-attr]
    assert tree.control("Nombre de mots rappelés (sur 3)").value == "3"  # type: ignore[union-attr]
    assert tree.control("Perte de poids involontaire sur 3 mois (kg)").value == "0,0"  # type: ignore[union-attr]
    assert tree.control("Vide").value is None  # type: ignore[union-attr]
    assert tree.control("Absent") is None


def test_checked_radio_and_selected_option_are_read() -> None:
    tree = parse_snapshot(FORM)

    assert tree.find("radiogroup", "L'année en cours").chosen() == "Oui"  # type: ignore[union-attr]
    assert tree.find("radiogroup", 'Il a dit "non"').chosen() is None  # type: ignore[union-attr]
    assert tree.control("Mode").chosen() == "Auto-évaluation (ICOPE et Moi)"  # type: ignore[union-attr]
    assert tree.control("Consentement au partage d'informations").checked  # type: ignore[union-attr]
    assert tree.find("heading").attrs == {"level": "1"}  # type: ignore[union-attr]
    assert tree.has("button", "Enregistrer")


def test_table_cells_links_and_texts() -> None:
    tree = parse_snapshot(TABLE)

    (row,) = [r for r in tree.find_all("row") if r.find("cell")]
    cells = row.find_all("cell")
    assert [c.text() for c in cells] == ["DUPONT", "", "Ouvrir le dossier"]
    assert cells[2].find("link", "Ouvrir le dossier").url == "/usagers/1"  # type: ignore[union-attr]
    assert tree.find("listitem").text() == "Cognition : Pas d'alerte"  # type: ignore[union-attr]
    assert [n.text() for n in tree.find_all(frozenset({"term", "definition"}))] == [
        "Nombre de mots rappelés (sur 3)",
        "3",
    ]
