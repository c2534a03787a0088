"""The one error tree of icope-bot, and what each error code means for the person who reads it.

::

    BotError                        code + a message a non-programmer understands
    ├── BusinessException           a person must decide; never retried       → needs_review
    │   │   consent_missing, step1_duplicate, step1_refused, invalid_input,
    │   │   readback_mismatch, alerts_discordant, ...
    │   └── IdentityQuestion        identity_ambiguous, identity_near_match (+ candidate dossiers)
    ├── SystemException             retrying may help                          → retry_wait / failed
    │   │   timeout, server_error, navigation, ui_changed, entry_mismatch, otp_unavailable, ...
    │   └── SessionExpired          session_lost: the tool sent the bot back to its login page
    ├── ConfigurationError          the bot is set up wrong: the run halts at once, the item in
    │   │                           hand goes back to pending untouched (no attempt counted)
    │   ├── CredentialsError        credentials_missing (password neither in env nor keyring), ...
    │   ├── EffecteurUnknown        effecteur_unknown: ICOPE_BOT_EFFECTEUR matches no single choice
    │   ├── OtpSetupError           otp_config: the one-time code source is set up wrong
    │   └── MappingError            mapping_invalid: a mapping file is missing or invalid
    ├── InputFileError              a file a person handed over cannot be read as a whole
    │   ├── FileRefused             file_refused: an export (ingest) refused with its reason
    │   └── ReviewFileError         review_file: the reviewer's decisions file as a whole
    ├── IllegalTransition           illegal_transition: a queue move not in the table (also a
    │                               ValueError); a lost lease shows up this way
    └── AlreadyRunning              already_running: another scheduler step holds the lock

Page objects catch Playwright errors and re-raise one of these with ``raise ... from e``.
Any other exception reaching the runner counts as a SystemException, so real bugs still surface
(they are retried a bounded number of times, then the item fails with the traceback in the log).

Every code the bot raises is in :data:`CODES` with a French explanation and what to do about it:
the run report and the reviewer's file print them beside the reason (a test scans ``bot/`` and
fails on a code missing here).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CODES",
    "AlreadyRunning",
    "BotError",
    "BusinessException",
    "CodeHelp",
    "ConfigurationError",
    "CredentialsError",
    "EffecteurUnknown",
    "FileRefused",
    "IdentityQuestion",
    "IllegalTransition",
    "InputFileError",
    "MappingError",
    "OtpSetupError",
    "ReviewFileError",
    "SessionExpired",
    "SystemException",
    "code_help",
    "what_to_do",
]


class BotError(Exception):
    """Base of every error icope-bot raises on purpose."""

    default_code = "bot_error"

    def __init__(self, message: str, *, code: str | None = None, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        #: Extra explanation for the reviewer (candidates listed, field differences...).
        self.details = details

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


# --- about one item ---------------------------------------------------------------------------


class BusinessException(BotError):
    """The item cannot go on without a person's decision; retrying would not help."""

    default_code = "business"


class IdentityQuestion(BusinessException):
    """An identity a person must settle; ``candidates`` are the dossier ids concerned."""

    def __init__(
        self, message: str, *, code: str, details: str, candidates: list[str | None]
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.candidates = candidates


class SystemException(BotError):
    """Something technical went wrong (timeout, server error, UI change); a retry may help."""

    default_code = "system"


class SessionExpired(SystemException):
    """The tool sent the bot back to its login page (session expired or ended)."""

    default_code = "session_lost"


# --- about the set-up: the run halts ------------------------------------------------------------


class ConfigurationError(BotError):
    """The bot is set up wrong (credentials, effecteur, OTP, mapping): no item can succeed.

    Retrying item after item would only lock the robot's account or trip the breaker late: the
    run halts at once, the item in hand goes back to ``pending`` untouched, and the message says
    what to fix.
    """

    default_code = "configuration"


class CredentialsError(ConfigurationError):
    """The robot's account cannot be used as configured (password missing, refused...)."""

    default_code = "credentials_missing"


class EffecteurUnknown(ConfigurationError):
    """The configured effecteur matches none, or several, of the choices the target offers."""

    default_code = "effecteur_unknown"


class OtpSetupError(ConfigurationError):
    """The one-time code source is set up wrong (no mailbox, no TOTP secret, wrong choice)."""

    default_code = "otp_config"


class MappingError(ConfigurationError):
    """A mapping file (target texts, code e-mails) is missing, unreadable or invalid."""

    default_code = "mapping_invalid"


# --- about a file a person handed over ---------------------------------------------------------


class InputFileError(BotError):
    """A file a person handed over cannot be read as a whole: nothing in it is applied."""

    default_code = "input_file"


class FileRefused(InputFileError):
    """An export cannot be ingested at all; the message says why, in French (lower case)."""

    default_code = "file_refused"


class ReviewFileError(InputFileError):
    """The decisions file as a whole cannot be read (format, missing columns, no reviewer)."""

    default_code = "review_file"


# --- about the bot's own bookkeeping -------------------------------------------------------------


class IllegalTransition(BotError, ValueError):
    """A queue transition not in the table, or from a state the caller did not expect."""

    default_code = "illegal_transition"


class AlreadyRunning(BotError):
    """Another scheduler step or ``--once`` run holds the lock."""

    default_code = "already_running"


# --- the registry of codes ------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeHelp:
    """What a code means and what the person reading it should do, both in French."""

    explanation: str
    action: str


_CHECK_TARGET = "Lancez « icope-bot check-target » et mettez à jour mappings/target.yaml."
_NOTHING = "Rien : le robot réessaie seul ; si l'erreur revient, prévenez le support technique."

#: Every code the bot raises → its explanation and what to do. Keep in step with the raises:
#: tests/test_errors.py fails on a code raised in ``bot/`` and missing here.
CODES: dict[str, CodeHelp] = {
    # business: a person decides
    "business": CodeHelp(
        "L'élément demande une décision.", "Lisez le motif et décidez dans le fichier du relecteur."
    ),
    "out_of_programme": CodeHelp(
        "La personne avait moins de 60 ans à la date d'évaluation : ICOPE s'adresse aux 60 ans "
        "et plus.",
        "Vérifiez la date de naissance : corrigez-la (fix), relancez (retry) si la saisie doit "
        "se faire quand même, ou rejetez la ligne (reject).",
    ),
    "duplicate_id_in_file": CodeHelp(
        "Deux lignes du même export portent le même identifiant d'évaluation avec des contenus "
        "différents.",
        "Comparez les deux lignes (détails) : gardez la bonne, corrigez ou rejetez l'autre.",
    ),
    "consent_missing": CodeHelp(
        "La personne n'a pas consenti au partage de ses réponses.",
        "Rejetez l'élément (« rejeter ») sauf si le consentement a été recueilli depuis.",
    ),
    "identity_ambiguous": CodeHelp(
        "Plusieurs dossiers de l'e-parcours ont exactement la même identité.",
        "Fusionnez les doublons dans l'e-parcours, puis « réessayer ».",
    ),
    "identity_near_match": CodeHelp(
        "Un dossier très proche existe (une lettre ou une date diffère).",
        "Vérifiez l'identité : corrigez-la (« corriger ») ou confirmez qu'il s'agit d'une autre "
        "personne.",
    ),
    "invalid_input": CodeHelp(
        "L'e-parcours refuse l'identité ou les réponses telles qu'elles sont.",
        "Corrigez les colonnes concernées dans le fichier du relecteur (« corriger »).",
    ),
    "step1_duplicate": CodeHelp(
        "Le dossier contient déjà plusieurs STEP 1 de la même date.",
        "Supprimez le doublon dans l'e-parcours, puis « réessayer ».",
    ),
    "step1_refused": CodeHelp(
        "L'e-parcours refuse d'enregistrer la STEP 1.",
        "Lisez les erreurs affichées, corrigez les réponses (« corriger ») ou rejetez.",
    ),
    "step1_saved_unchecked": CodeHelp(
        "La STEP 1 est enregistrée dans l'e-parcours mais le robot n'a pas pu la relire "
        "(saisie faite, alertes non lues).",
        "Ne ressaisissez pas : ouvrez la STEP 1 (lien dans le détail), comparez-la à "
        "l'auto-évaluation et ses alertes, puis « valider » ou corrigez-la dans l'e-parcours.",
    ),
    "step1_unknown_field": CodeHelp(
        "La STEP 1 enregistrée contient une rubrique que la correspondance ne prévoit pas.",
        "Vérifiez la valeur de cette rubrique dans l'e-parcours, puis déclarez-la dans "
        "step1.extra_fields du fichier de correspondance.",
    ),
    "readback_mismatch": CodeHelp(
        "La STEP 1 relue dans l'e-parcours ne correspond pas à l'auto-évaluation.",
        "Comparez les valeurs dans l'e-parcours et corrigez-les à la main, puis « valider ».",
    ),
    "alerts_discordant": CodeHelp(
        "Les alertes de l'e-parcours, d'ICOPE et Moi et des règles de référence diffèrent.",
        "Vérifiez les domaines signalés ; « valider » si l'écart est compris et accepté.",
    ),
    "invalid_row": CodeHelp(
        "La ligne de l'export est invalide : elle n'a pas été mise en file.",
        "Corrigez les valeurs signalées dans ce fichier (« corriger ») ou rejetez la ligne.",
    ),
    "conflict": CodeHelp(
        "Une nouvelle version de l'auto-évaluation a été importée, différente de celle en file : "
        "rien n'est saisi avant votre décision.",
        "Comparez les deux versions (« Détails ») : « valider » garde celle en file, "
        "« corriger » applique la nouvelle (colonnes de droite), « rejeter » abandonne les deux.",
    ),
    "reference_conflict": CodeHelp(
        "Une référence déjà connue revient avec un contenu différent.",
        "Comparez les deux versions et choisissez celle à ressaisir.",
    ),
    # system: retrying may help
    "system": CodeHelp("Une erreur technique est survenue.", _NOTHING),
    "unexpected": CodeHelp(
        "Erreur inattendue du robot (le détail est dans le journal).",
        "Prévenez le support technique avec la référence de l'élément.",
    ),
    "timeout": CodeHelp("L'e-parcours a mis trop de temps à répondre.", _NOTHING),
    "server_error": CodeHelp("L'e-parcours a affiché une page d'erreur.", _NOTHING),
    "navigation": CodeHelp("Le navigateur n'a pas pu ouvrir ou suivre une page.", _NOTHING),
    "session_lost": CodeHelp("La session e-parcours du robot a été fermée.", _NOTHING),
    "ui_changed": CodeHelp(
        "Un écran de l'e-parcours ne ressemble plus à ce que le robot connaît.", _CHECK_TARGET
    ),
    "entry_mismatch": CodeHelp(
        "Le formulaire n'a pas gardé les valeurs saisies ; rien n'a été enregistré.",
        _NOTHING,
    ),
    "usager_busy": CodeHelp(
        "Un autre robot traite déjà une auto-évaluation de la même personne.", _NOTHING
    ),
    "login_busy": CodeHelp(
        "Un autre robot se connecte avec le même compte en ce moment.", _NOTHING
    ),
    "lease_expired": CodeHelp(
        "Le robot qui traitait l'élément s'est arrêté sans le terminer.", _NOTHING
    ),
    "otp_unavailable": CodeHelp("Le code de connexion n'est pas arrivé à temps.", _NOTHING),
    "otp_mailbox": CodeHelp(
        "La boîte aux lettres du robot (codes de connexion) ne répond pas.",
        "Vérifiez le serveur IMAP et le mot de passe de la boîte si l'erreur revient.",
    ),
    "otp_rejected": CodeHelp(
        "L'e-parcours a refusé le code de connexion.",
        "Vérifiez l'horloge de la machine et la source des codes si l'erreur revient.",
    ),
    "account_locked": CodeHelp(
        "Le compte e-parcours du robot est verrouillé.",
        "Attendez la fin du verrouillage ou demandez le déblocage à l'administrateur de l'outil.",
    ),
    "check_failed": CodeHelp("La vérification de l'e-parcours n'a pas abouti.", _CHECK_TARGET),
    # configuration: the run halts
    "configuration": CodeHelp(
        "Le robot est mal configuré : le passage s'est arrêté.",
        "Corrigez la configuration (.env) puis relancez.",
    ),
    "credentials_missing": CodeHelp(
        "Le mot de passe du compte e-parcours du robot est introuvable.",
        "Définissez ICOPE_BOT_PASSWORD ou enregistrez-le dans le trousseau, puis relancez.",
    ),
    "credentials_refused": CodeHelp(
        "L'e-parcours refuse l'identifiant ou le mot de passe du robot : le passage s'est arrêté.",
        "Corrigez ICOPE_BOT_USERNAME / ICOPE_BOT_PASSWORD (ou le trousseau), puis relancez.",
    ),
    "effecteur_unknown": CodeHelp(
        "L'effecteur configuré ne correspond à aucun (ou à plusieurs) des effecteurs proposés.",
        "Corrigez ICOPE_BOT_EFFECTEUR avec le nom exact affiché par l'e-parcours, puis relancez.",
    ),
    "otp_config": CodeHelp(
        "La source du code de connexion est mal configurée.",
        "Vérifiez ICOPE_BOT_OTP_SOURCE et ses réglages (boîte IMAP, secret TOTP), puis relancez.",
    ),
    "settings_invalid": CodeHelp(
        "Un réglage ICOPE_BOT_* (variable d'environnement ou fichier .env) est inconnu ou sa "
        "valeur est refusée.",
        "Corrigez le nom ou la valeur du réglage cité (faute de frappe ?), puis relancez.",
    ),
    "mapping_invalid": CodeHelp(
        "Un fichier de correspondance (mappings/) est absent ou invalide.",
        "Corrigez le fichier nommé dans le message (« icope-bot check-target » aide), puis "
        "relancez.",
    ),
    # files handed over by a person
    "input_file": CodeHelp(
        "Le fichier ne peut pas être lu.", "Corrigez le fichier et recommencez."
    ),
    "file_refused": CodeHelp(
        "L'export ne peut pas être ingéré : rien n'en a été repris.",
        "Corrigez ou réexportez le fichier, puis déposez-le à nouveau.",
    ),
    "review_file": CodeHelp(
        "Le fichier de décisions ne peut pas être lu : aucune décision n'a été appliquée.",
        "Repartez du fichier exporté par le robot, sans supprimer ni renommer de colonne.",
    ),
    # the programme evaluation (icope-bot evaluation)
    "territory_unknown": CodeHelp(
        "Ce territoire n'existe pas dans le fichier des territoires.",
        "Choisissez un des territoires listés dans mappings/territories.yaml (ou ajoutez-le).",
    ),
    "territories_invalid": CodeHelp(
        "Le fichier des territoires est introuvable ou mal écrit.",
        "Corrigez mappings/territories.yaml (territoire → communes) puis relancez l'évaluation.",
    ),
    "export_unreadable": CodeHelp(
        "L'export des évaluations téléchargé depuis l'e-parcours ne peut pas être lu.",
        "Vérifiez la page Exports de l'e-parcours et les noms de colonnes de mappings/target.yaml "
        "(exports), puis relancez.",
    ),
    # the bot's own bookkeeping
    "bot_error": CodeHelp("Erreur du robot.", "Prévenez le support technique."),
    "illegal_transition": CodeHelp(
        "Cet élément ne peut pas passer dans cet état (il a changé entre-temps).",
        "Exportez à nouveau le fichier du relecteur et reprenez la décision.",
    ),
    "already_running": CodeHelp(
        "Une autre exécution du robot est déjà en cours.",
        "Rien : ce passage ne fait rien ; attendez la fin de l'exécution en cours.",
    ),
}


def code_help(code: str | None) -> CodeHelp | None:
    """The registry entry of ``code``; None for no code or a code of another version."""
    return CODES.get(code) if code else None


def what_to_do(code: str | None) -> str:
    """The French action for ``code`` ("" when unknown): what follows "Que faire : "."""
    entry = code_help(code)
    return entry.action if entry else ""
