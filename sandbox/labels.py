"""Every visible text the sandbox's screens show, per UI variant.

``standard`` is the current version of the e-parcours; ``v2`` is what a tool update looks like:
a few renamed labels and the Psychologie section moved before Vision. The other variants each
change one shape of the screens (sandbox.config.UiVariant; the templates read ``variant`` for
the shapes that are not texts). ``mappings/target.yaml``, ``mappings/target_v2.yaml`` and
``mappings/variants/<variant>.yaml`` describe these same screens for icope-bot (the mapping test
and the preflight check them in Chromium against the running sandbox).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from sandbox.config import DOMAINS

__all__ = ["renamed", "search_columns", "section_order", "texts"]

STANDARD: dict[str, Any] = {
    "common": {
        "app_name": "e-parcours",
        "menu": {"home": "Accueil", "usagers": "Usagers", "exports": "Exports"},
        "logout": "Déconnexion",
        "breadcrumb": "Fil d'Ariane",
        "session_expired": "Votre session a expiré",
    },
    "login": {
        "heading": "Connexion",
        "username": "Identifiant",
        "password": "Mot de passe",
        "submit": "Se connecter",
        "bad_credentials": "Identifiant ou mot de passe incorrect",
        "locked": "Compte verrouillé",
    },
    "otp": {
        "heading": "Vérification en deux étapes",
        "code": "Code de vérification",
        "submit": "Valider le code",
        "wrong_code": "Code incorrect",
        "expired": "Ce code a expiré",
        "too_many": "Trop de codes incorrects",
        "send_failed": "Le code de connexion n'a pas pu être envoyé",
    },
    "home": {"heading": "Accueil"},
    "search": {
        "heading": "Rechercher un usager",
        "birth_name": "Nom de naissance",
        "first_name": "Prénom",
        "birth_date": "Date de naissance",
        "ins": "Matricule INS",
        "submit": "Rechercher",
        "create": "Créer un usager",
        "open": "Ouvrir le dossier",
        "next_page": "Page suivante",
        "previous_page": "Page précédente",
        "no_result": "Aucun usager trouvé",
        "results": "Résultats de la recherche",
        "columns": {
            "birth_name": "Nom de naissance",
            "used_name": "Nom utilisé",
            "first_names": "Prénoms",
            "birth_date": "Date de naissance",
            "sex": "Sexe",
            "birth_insee": "Lieu de naissance (INSEE)",
            "ins": "INS",
            "identity_status": "Statut de l'identité",
            "actions": "Actions",
        },
    },
    "usager_form": {
        "heading": "Créer un usager",
        "birth_name": "Nom de naissance",
        "used_name": "Nom utilisé",
        "first_names": "Prénoms de naissance",
        "used_first_name": "Prénom utilisé",
        "sex": "Sexe",
        "birth_date": "Date de naissance",
        "birth_insee": "Code INSEE du lieu de naissance",
        "ins": "Matricule INS",
        "address": "Adresse postale",
        "phone": "Téléphone",
        "email": "Courriel",
        "identity_status": "Statut de l'identité",
        "consent": "Consentement au partage d'informations",
        "submit": "Créer l'usager",
        "sex_options": {"F": "Féminin", "M": "Masculin", "I": "Indéterminé"},
        "status_options": {
            "provisoire": "Provisoire",
            "recuperee": "Récupérée",
            "validee": "Validée",
            "qualifiee": "Qualifiée",
        },
    },
    "duplicate": {
        "heading": "Doublon potentiel",
        "confirm": "Créer quand même",
        "cancel": "Annuler",
    },
    "dossier": {
        "heading": "Dossier usager",
        "tabs": {"synthese": "Synthèse", "evaluations": "Évaluations", "documents": "Documents"},
        "new_evaluation": "Nouvelle évaluation",
        "consult": "Consulter",
        "evaluations_table": "Évaluations réalisées",
        "tasks": "Tâches à réaliser",
        "step2_task": "STEP 2 à réaliser",
        "no_evaluation": "Aucune évaluation",
        "columns": {
            "date": "Date",
            "type": "Type",
            "mode": "Mode",
            "effecteur": "Effecteur",
            "status": "Statut",
            "actions": "Actions",
        },
        "created": "Usager créé",
    },
    "chooser": {
        "heading": "Nouvelle évaluation",
        "step1": "ICOPE – STEP 1",
        "step2": "ICOPE – STEP 2",
        "aggir": "Grille AGGIR",
        "multidim": "Évaluation multidimensionnelle",
    },
    "step1": {
        "heading": "Saisie ICOPE – STEP 1",
        "header": "En-tête de l'évaluation",
        "assessed_on": "Date de l'évaluation",
        "mode": "Mode",
        "effecteur": "Effecteur",
        "mode_options": {"hetero": "Hétéroévaluation", "auto": "Auto-évaluation (ICOPE et Moi)"},
        "sections": {d: d.capitalize() for d in DOMAINS} | {"mobilite": "Mobilité"},
        "yes": "Oui",
        "no": "Non",
        # question → {"yes": …, "no": …}: answers worded for one question (yesno_swapped)
        "answer_texts": {},
        "chair_rise_not_done": "Non réalisé",  # the chair_not_done variant's box
        "memory_complaint": "Plainte de mémoire aggravée au cours des 6 derniers mois",
        "orientation_year_ok": "L'année en cours",
        "orientation_month_ok": "Le mois en cours",
        "orientation_weekday_ok": "Le jour de la semaine",
        "orientation_day_ok": "La date du jour",
        "orientation_place_ok": "Le lieu où se trouve la personne",
        "orientation_hint": "Orientation : la personne donne-t-elle correctement…",
        "words_recalled": "Nombre de mots rappelés (sur 3)",
        "chair_rise_done": "Test du lever de chaise réalisé",
        "chair_rise_seconds": "Durée des 5 levers de chaise (secondes)",
        "weight_loss_kg": "Perte de poids involontaire sur 3 mois (kg)",
        "appetite_loss": "Perte d'appétit au cours des 3 derniers mois",
        "vision_problem": "Problème de vue (loin, lecture, maladie ou traitement des yeux)",
        "hearing_test": "Test d'audition réalisé",
        "hearing_test_options": {
            "aucun": "Aucun test",
            "chuchotement": "Test du chuchotement",
            "hearwho": "hearWHO",
            "audiometrie": "Audiométrie",
        },
        "hearing_whisper_passed": "Test du chuchotement réussi",
        "hearing_score": "Score hearWHO (sur 100)",
        "hearing_audiometry_db": "Seuil audiométrique (dB)",
        "hearing_problem_reported": "Problème d'audition signalé par la personne",
        "mood_down": "Tristesse, déprime ou perte d'espoir (2 dernières semaines)",
        "mood_little_interest": "Peu d'intérêt ou de plaisir à faire les choses (2 dernières semaines)",
        "submit": "Enregistrer",
        "errors_summary": "Le formulaire contient des erreurs",
    },
    "evaluation": {
        "heading": "Consultation de l'évaluation",
        "saved": "Évaluation enregistrée",
        "not_done": "Non réalisé",
        "type_step1": "ICOPE – STEP 1",
        "status_done": "Validée",
        "answers": "Réponses",
        "alerts_region": "Alertes",
        "alerts_loading": "Calcul des alertes en cours…",
        "alert": "Alerte",
        "no_alert": "Pas d'alerte",
        "step2": "STEP 2 à réaliser",
        "alerts_failed": "Les alertes n'ont pas pu être calculées",
    },
    "exports": {
        "heading": "Exports",
        "summary_link": "Télécharger la synthèse mensuelle par effecteur (CSV)",
        "detail_link": "Télécharger la liste détaillée des actes (CSV)",
        "evaluations_link": "Télécharger les évaluations ICOPE (CSV)",
        # Header of the evaluations CSV, by column key (the evaluation's export).
        "evaluations_columns": {
            "evaluation": "N° évaluation",
            "dossier": "N° dossier",
            "type": "Type",
            "date": "Date de l'évaluation",
            "mode": "Mode",
            "effecteur": "Effecteur",
            "rpps": "RPPS",
            "postcode": "Code postal",
            "commune": "Commune",
            "alerts": "Domaines en alerte",
            "domains": "Domaines évalués",
        },
        "month": "Mois",
        "no_data": "Aucun acte à exporter",
    },
    "modal": {"title": "Message d'information", "close": "Fermer"},
    "errors": {
        "server": "Erreur interne du serveur",
        "forbidden": "Requête refusée",
        "not_found": "Page introuvable",
        "unavailable": "Fonctionnalité indisponible",
    },
}

V2_CHANGES: dict[str, Any] = {
    "search": {"birth_name": "Nom de famille à la naissance", "open": "Accéder au dossier"},
    "usager_form": {"birth_name": "Nom de famille à la naissance"},
    "step1": {
        "submit": "Valider l'évaluation",
        "sections": {"psychologie": "Santé psychologique"},
        "words_recalled": "Mots rappelés (0 à 3)",
    },
}

_ORIENTATION = (
    "orientation_year_ok",
    "orientation_month_ok",
    "orientation_weekday_ok",
    "orientation_day_ok",
    "orientation_place_ok",
)

#: The texts each variant changes (shapes that are not texts are in the templates).
CHANGES: dict[str, dict[str, Any]] = {
    "v2": V2_CHANGES,
    "yesno_swapped": {
        "step1": {"answer_texts": {q: {"yes": "Correct", "no": "Incorrect"} for q in _ORIENTATION}}
    },
    "save_renamed": {"step1": {"submit": "Valider et transmettre"}},
    "alerts_wording": {
        "evaluation": {
            "alert": "À surveiller",
            "no_alert": "Rien à signaler",
            "step2": "Proposer une STEP 2",
        }
    },
}

_SEARCH_COLUMNS = tuple(STANDARD["search"]["columns"])
#: columns_reordered: identity status and INS first, names after the birth date.
_REORDERED_COLUMNS = (
    "identity_status",
    "ins",
    "birth_date",
    "sex",
    "first_names",
    "birth_name",
    "used_name",
    "birth_insee",
    "actions",
)

#: Section order of the STEP 1 form: v2 moves Psychologie before Vision.
_ORDER = {
    "standard": DOMAINS,
    "v2": ("cognition", "mobilite", "nutrition", "psychologie", "vision", "audition"),
}


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged.get(key, {}), value)
        else:
            merged[key] = value
    return merged


@cache
def texts(variant: str) -> dict[str, Any]:
    """The texts of a UI variant (Jinja reads nested keys as attributes: ``t.step1.submit``)."""
    changes = CHANGES.get(variant)
    return _merge(STANDARD, changes) if changes else STANDARD


def renamed(base: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
    """``base`` with some texts replaced, by dotted key (``step1.submit``); unknown keys refused."""
    merged = copy.deepcopy(base)
    for dotted, text in changes.items():
        *parents, last = dotted.split(".")
        node: Any = merged
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(last), str):
            raise ValueError(f"texte inconnu : {dotted}")
        node[last] = text
    return merged


def section_order(variant: str) -> tuple[str, ...]:
    """The order of the six domain sections on the STEP 1 form."""
    return _ORDER.get(variant, DOMAINS)


def search_columns(variant: str) -> tuple[str, ...]:
    """The order of the columns of a usager table (search results, potential doubles)."""
    return _REORDERED_COLUMNS if variant == "columns_reordered" else _SEARCH_COLUMNS
