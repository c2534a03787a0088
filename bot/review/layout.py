"""The review file itself: its columns, writing it for Excel (XLSX and CSV), reading it back.

Layout (one row per item, sheet « Exceptions », then a « Mode d'emploi » sheet)::

    Référence | Usager | Date d'évaluation | État | Motif | Détails
    | Alertes comparées — <domaine> ×6  ("app : alerte / e-parcours : pas d'alerte / règle : alerte")
    | Capture (lien) | Autres captures | Décision | Commentaire | Origine
    | Dernière modification (ne pas modifier)
    | the correctable payload, for ``fix``: Consentement au partage, [identity ×11],
      Alerte <domaine> ×6, the 18 STEP 1 answers (headers of mappings/icope_et_moi.yaml)

Every string is written as text, never as a formula; in the CSV a cell that a spreadsheet would
run (``= + - @``, tab, CR first) gets a ``'`` in front, removed again on reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import ReviewFileError as ReviewFileError  # its old home: re-exported
from bot.ingest import normalize_header
from bot.models import DOMAIN_LABELS, DOMAINS, ItemState

S = ItemState

#: The states a person has to look at, in the order the file lists them.
REVIEW_STATES: tuple[ItemState, ...] = (S.NEEDS_REVIEW, S.FAILED, S.INVALID)


#: Marks an alerts cell whose sources disagree (also highlighted in the XLSX).
DISCORDANT = "⚠ "


class Decision(StrEnum):
    APPROVE = "approve"  # the difference is accepted as is → approved
    RETRY = "retry"  # run it again → pending, attempts reset
    REJECT = "reject"  # drop it → rejected
    FIX = "fix"  # the corrected columns become the payload → pending


# --- the file's columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the model field path for the correctable columns ("identity.birth_name")
    header: str  # what the reviewer reads; import finds columns by this text
    width: float = 14
    # How it is written: text, wrap (long text), link (file URI), date (a date cell),
    # code (kept as text: leading zeros), decision (the dropdown). Reading the correctable
    # columns back follows bot.ingest.FIELD_KINDS, as for an export.
    kind: str = "text"


# Shown with the information and also read back for ``fix``.
ASSESSED_ON = Column("assessed_on", "Date d'évaluation", 13, "date")
INFO_COLUMNS: tuple[Column, ...] = (
    Column("reference", "Référence", 22),
    Column("usager", "Usager", 30),
    ASSESSED_ON,
    Column("state", "État", 16),
    Column("reason", "Motif", 40, "wrap"),
    Column("details", "Détails", 60, "wrap"),
    *(
        Column(f"alerts.{d}", f"Alertes comparées — {DOMAIN_LABELS[d]}", 24, "wrap")
        for d in DOMAINS
    ),
    Column("evidence", "Capture", 20, "link"),
    Column("evidence_more", "Autres captures", 30, "wrap"),
    Column("decision", "Décision", 12, "decision"),
    Column("comment", "Commentaire", 40, "wrap"),
    Column("origin", "Origine", 24),
    Column("updated_at", "Dernière modification (ne pas modifier)", 34),
)

# The correctable payload, for ``fix``. Headers are the export format's own
# (mappings/icope_et_moi.yaml), so a reviewer recognises the app's columns.
IDENTITY_COLUMNS: tuple[Column, ...] = (
    Column("identity.birth_name", "Nom de naissance", 20),
    Column("identity.first_names", "Prénoms de naissance", 22),
    Column("identity.used_name", "Nom utilisé", 18),
    Column("identity.used_first_name", "Prénom utilisé", 16),
    Column("identity.birth_date", "Date de naissance", 13, "date"),
    Column("identity.sex", "Sexe", 8),
    Column("identity.birth_insee", "Code INSEE lieu de naissance", 14, "code"),
    Column("identity.ins", "INS", 18, "code"),
    Column("identity.phone", "Téléphone", 15, "code"),
    Column("identity.email", "E-mail", 24),
    Column("identity.address", "Adresse", 30),
)
PAYLOAD_COLUMNS: tuple[Column, ...] = (
    Column("consent_sharing", "Consentement au partage", 14),
    *(Column(f"app_alerts.{d}", f"Alerte {DOMAIN_LABELS[d].lower()}", 12) for d in DOMAINS),
    Column("answers.memory_complaint", "Plainte mémoire aggravée (6 mois)", 14),
    Column("answers.orientation_year_ok", "Orientation : année correcte", 14),
    Column("answers.orientation_month_ok", "Orientation : mois correct", 14),
    Column("answers.orientation_weekday_ok", "Orientation : jour de la semaine correct", 14),
    Column("answers.orientation_day_ok", "Orientation : date du jour correcte", 14),
    Column("answers.orientation_place_ok", "Orientation : lieu correct", 14),
    Column("answers.words_recalled", "Mots rappelés (sur 3)", 12),
    Column("answers.chair_rise_seconds", "Lever de chaise (secondes)", 14),
    Column("answers.weight_loss_kg", "Perte de poids 3 mois (kg)", 14),
    Column("answers.appetite_loss", "Perte d'appétit", 12),
    Column("answers.vision_problem", "Problème de vision", 12),
    Column("answers.hearing_test", "Test d'audition", 16),
    Column("answers.hearing_whisper_passed", "Chuchotement réussi", 14),
    Column("answers.hearing_score", "Score hearWHO (sur 100)", 14),
    Column("answers.hearing_audiometry_db", "Audiométrie (dB)", 12),
    Column("answers.hearing_problem_reported", "Problème d'audition déclaré", 14),
    Column("answers.mood_down", "Triste ou déprimé (2 semaines)", 14),
    Column("answers.mood_little_interest", "Peu d'intérêt ou de plaisir (2 semaines)", 14),
)


def layout(with_identity: bool) -> tuple[Column, ...]:
    fix = (*IDENTITY_COLUMNS, *PAYLOAD_COLUMNS) if with_identity else PAYLOAD_COLUMNS
    return (*INFO_COLUMNS, *fix)


ALL_COLUMNS = layout(with_identity=True)


# Headers are compared as ingest compares an export's: no case, accents, spaces or punctuation.
BY_HEADER: dict[str, Column] = {normalize_header(c.header): c for c in ALL_COLUMNS}
REQUIRED_KEYS = ("reference", "decision", "updated_at")

GUIDE = """\
Mode d'emploi du fichier des exceptions icope-bot

Chaque ligne de la feuille « Exceptions » est une auto-évaluation ICOPE et Moi que le robot n'a pas pu
terminer seul : alertes discordantes, identité à vérifier, erreur technique répétée ou données
invalides dans l'export. Lisez le motif, les détails, les alertes comparées et la capture d'écran,
puis choisissez une décision dans la colonne « Décision » (liste déroulante) :

approve — valider : la différence est acceptée telle quelle, le dossier est clos.
retry — relancer : le robot refait la saisie (après une panne, une identité créée à la main...).
reject — rejeter : l'auto-évaluation ne sera pas saisie (doublon, refus de l'usager...).
fix — corriger : corrigez les colonnes de droite (identité, consentement, réponses, alertes de
      l'application) ; elles remplacent les données de l'export et le robot refait la saisie.
      Valeurs : Oui/Non, dates jj/mm/aaaa, nombres avec virgule, lever de chaise vide si non réalisé.

Laissez la décision vide pour ne rien changer. La colonne « Commentaire » est gardée dans l'historique.
Une ligne invalide (données de l'export illisibles) ne peut être que corrigée (fix) ou rejetée (reject).

Ne modifiez ni la « Référence » ni la « Dernière modification » : elles servent à vérifier que
l'élément n'a pas changé depuis l'export. Si le robot ou un autre relecteur l'a modifié entre-temps,
l'import refuse le fichier : réexportez-le.

Importez ensuite le fichier :  icope-bot review import <fichier> --reviewer <votre nom>
L'import est « tout ou rien » : si une seule ligne est refusée, rien n'est appliqué ; le message
indique la ligne et la raison. Corrigez-la puis réimportez le même fichier.

Ce fichier contient des données de santé : ne l'envoyez pas par e-mail, supprimez-le une fois importé.
"""
