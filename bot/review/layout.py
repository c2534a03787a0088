"""The review file itself: its columns, writing it for Excel (XLSX and CSV), reading it back.

Layout (one row per item, sheet « Exceptions », then a « Mode d'emploi » sheet)::

    Référence | Usager | Motif | Décision | Commentaire | Date d'évaluation | État | Détails
    | Alertes comparées — <domaine> ×6  ("app : alerte / e-parcours : pas d'alerte / règle : alerte")
    | Capture (lien) | Autres captures | Origine | Dernière modification (ne pas modifier)

The decision sits next to what it is about (reference, usager, reason): the reviewer reads and
decides without scrolling past fourteen columns.
    | the correctable payload, for ``fix``: Consentement au partage, [identity ×11],
      Alerte <domaine> ×6, the 18 STEP 1 answers (headers of mappings/icope_et_moi.yaml)

Every string is written as text, never as a formula; in the CSV a cell that a spreadsheet would
run (``= + - @``, tab, CR first) gets a ``'`` in front, removed again on reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import ReviewFileError as ReviewFileError  # its old home: re-exported
from bot.ingest import load_mapping, normalize_header
from bot.models import DOMAIN_LABELS, DOMAINS, Identity, ItemState, Step1Answers

S = ItemState

#: The states a person has to look at, in the order the file lists them.
REVIEW_STATES: tuple[ItemState, ...] = (S.NEEDS_REVIEW, S.FAILED, S.INVALID)


#: Marks an alerts cell whose sources disagree (also highlighted in the XLSX).
DISCORDANT = "⚠ "


class Decision(StrEnum):
    """The reviewer's choice, in the file's language (the English words are accepted on import)."""

    APPROVE = "valider"  # the difference is accepted as is → approved
    RETRY = "relancer"  # run it again → pending, attempts reset
    REJECT = "rejeter"  # drop it → rejected
    FIX = "corriger"  # the corrected columns become the payload → pending


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


def _from_export(key: str, width: float = 14, kind: str = "text") -> Column:
    """A correctable column headed as in the export (mappings/icope_et_moi.yaml), so a reviewer
    recognises the app's columns and a corrected file reads back like an export."""
    return Column(key, _EXPORT.columns[key].header, width, kind)


_EXPORT = load_mapping()

# Shown with the information and also read back for ``fix``.
ASSESSED_ON = _from_export("assessed_on", 13, "date")
INFO_COLUMNS: tuple[Column, ...] = (
    Column("reference", "Référence", 22),
    Column("usager", "Usager", 30),
    Column("reason", "Motif", 40, "wrap"),
    Column("decision", "Décision", 12, "decision"),
    Column("comment", "Commentaire", 40, "wrap"),
    ASSESSED_ON,
    Column("state", "État", 16),
    Column("details", "Détails", 60, "wrap"),
    *(
        Column(f"alerts.{d}", f"Alertes comparées — {DOMAIN_LABELS[d]}", 24, "wrap")
        for d in DOMAINS
    ),
    Column("evidence", "Capture", 20, "link"),
    Column("evidence_more", "Autres captures", 30, "wrap"),
    Column("origin", "Origine", 24),
    Column("updated_at", "Dernière modification (ne pas modifier)", 34),
)

# How the identity columns look (width, kind); their keys, order and headers come from the model
# and the export mapping. Codes stay text so that leading zeros survive Excel.
_IDENTITY_LOOK: dict[str, tuple[float, str]] = {
    "birth_name": (20, "text"),
    "first_names": (22, "text"),
    "used_name": (18, "text"),
    "used_first_name": (16, "text"),
    "birth_date": (13, "date"),
    "sex": (8, "text"),
    "birth_insee": (14, "code"),
    "ins": (18, "code"),
    "phone": (15, "code"),
    "email": (24, "text"),
    "address": (30, "text"),
}
# The correctable payload, for ``fix``, in the model's order.
IDENTITY_COLUMNS: tuple[Column, ...] = tuple(
    _from_export(f"identity.{name}", *_IDENTITY_LOOK.get(name, (18, "text")))
    for name in Identity.model_fields
)
PAYLOAD_COLUMNS: tuple[Column, ...] = (
    _from_export("consent_sharing"),
    *(_from_export(f"app_alerts.{d}", 12) for d in DOMAINS),
    *(_from_export(f"answers.{name}") for name in Step1Answers.model_fields),
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

valider : la différence est acceptée telle quelle, le dossier est clos.
relancer : le robot refait la saisie (après une panne, une identité créée à la main...).
rejeter : l'auto-évaluation ne sera pas saisie (doublon, refus de l'usager...).
corriger : corrigez les colonnes de droite (identité, consentement, réponses, alertes de
           l'application) ; elles remplacent les données de l'export et le robot refait la
           saisie. Valeurs : Oui/Non, dates jj/mm/aaaa, nombres avec virgule, lever de chaise
           vide si non réalisé.

Laissez la décision vide pour ne rien changer. La colonne « Commentaire » est gardée dans l'historique.
Une ligne invalide (données de l'export illisibles) ne peut être que corrigée ou rejetée.

Ne modifiez ni la « Référence » ni la « Dernière modification » : elles servent à vérifier que
l'élément n'a pas changé depuis l'export. Si le robot ou un autre relecteur l'a modifié entre-temps,
l'import refuse le fichier : réexportez-le.

Importez ensuite le fichier :  icope-bot review import <fichier> --reviewer <votre nom>
L'import est « tout ou rien » : si une seule ligne est refusée, rien n'est appliqué ; le message
indique la ligne et la raison. Corrigez-la puis réimportez le même fichier.

Ce fichier contient des données de santé : ne l'envoyez pas par e-mail, supprimez-le une fois importé.
"""
