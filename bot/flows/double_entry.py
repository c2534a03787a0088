"""The double entry of one ICOPE et Moi self-assessment, in the words of the people who do it.

1. Log in (once per session; again when the tool ends the session, at most once per item).
2. Find the usager (search before create, :mod:`bot.flows.identity`), or create the dossier.
3. Look in the dossier for a STEP 1 of the same date in auto-évaluation: if it is there (a run
   killed after saving, a retry, someone entered it), never enter it again: read it.
4. Otherwise open a new ICOPE – STEP 1, fill it (mode auto-évaluation, the app's date, the
   configured effecteur), check that the inputs kept every value, screenshot it, save it.
5. Wait for the alerts panel, read it, screenshot it; read the saved answers back.
6. Compare: read-back identical to the source and alerts agreeing across ICOPE et Moi, the
   e-parcours and the reference rules → done. Otherwise a person decides (business exception).

``item.result`` always holds what was found (alerts by source, ids) before anything is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.concordance import Concordance, FieldDifference, compare_alerts, compare_readback
from bot.errors import BotError, BusinessException, EffecteurUnknown, SystemException
from bot.evidence import Capture, EvidencePolicy
from bot.flows.identity import IdentityQuestion, find_or_create_usager, search_keys
from bot.icope import alerts_for, load_rules
from bot.locks import LockTimeout
from bot.logs import logger
from bot.models import HearingTest
from bot.pages.dossier import DossierPage
from bot.pages.evaluation import EvaluationPage, Step1ReadBack
from bot.pages.screen import SessionExpired
from bot.pages.step1_form import Step1FormPage, form_values

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.pages.session import TargetSession
    from bot.workqueue import WorkItem

__all__ = ["AUTO_MODE", "EntryResult", "double_entry", "readback_explanations"]

#: The e-parcours mode of a re-entered self-assessment (key of step1.options.mode).
AUTO_MODE = "auto"


@dataclass
class EntryResult:
    """What the double entry of one item found and did."""

    dossier_id: str | None
    step1_id: str | None
    created_usager: bool
    reused_step1: bool  # a STEP 1 of the same date and mode was already there: not re-entered
    concordance: Concordance | None  # None on a dry run
    readback_differences: list[FieldDifference]
    evidence: list[Path]


def double_entry(
    session: TargetSession,
    item: WorkItem,
    settings: Settings,
    *,
    evidence: EvidencePolicy | None = None,
    dry_run: bool = False,
) -> EntryResult:
    """Enter one self-assessment in the e-parcours and check it (see the module docstring).

    Raises BusinessException (identity_ambiguous, identity_near_match, consent_missing,
    invalid_input, step1_refused, step1_duplicate, readback_mismatch, alerts_discordant),
    SystemException (timeout, server_error, session_lost, ui_changed, navigation, …) or
    ConfigurationError (effecteur_unknown, …).
    ``evidence`` (the runner's; by default from ``settings``) decides which screens are kept.
    ``dry_run`` goes as far as the filled form (or the filled usager form) and saves nothing.
    """
    policy = evidence or EvidencePolicy.from_settings(settings)
    return _DoubleEntry(session, item, settings, policy, dry_run=dry_run).run()


def _display(value: Any, yes: str = "Oui", no: str = "Non") -> str:
    """A value as a reviewer reads it: Oui/Non, decimal comma, French dates."""
    if value is None:
        return "non réalisé"
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, HearingTest):
        return value.value
    if isinstance(value, float):
        return format(value, "g").replace(".", ",")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def readback_explanations(
    differences: list[FieldDifference], labels: dict[str, str] | None = None
) -> list[str]:
    """One French line per differing field: "<label> : saisi « x », relu « y »"."""
    labels = labels or {}
    return [
        f"{labels.get(d.field, d.field)} : attendu « {_display(d.entered)} », "
        f"relu dans l'e-parcours « {_display(d.read_back)} »"
        for d in differences
    ]


@dataclass
class _DoubleEntry:
    session: TargetSession
    item: WorkItem
    settings: Settings
    policy: EvidencePolicy
    dry_run: bool = False
    dossier_url: str | None = None
    dossier_id: str | None = None
    created_usager: bool = False
    evaluation_url: str | None = None
    step1_id: str | None = None
    reused_step1: bool = False
    save_attempted: bool = False
    saved_by_bot: bool = False  # this item's save created the STEP 1 (not found already there)
    read_back_done: bool = False  # the saved STEP 1's alerts and answers were read back
    effecteur: str | None = None
    concordance: Concordance | None = None
    differences: list[FieldDifference] = field(default_factory=list)
    candidates: list[str | None] = field(default_factory=list)
    identity_info: list[dict[str, str | None]] = field(default_factory=list)
    evidence: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.assessment = self.item.assessment
        self.mapping = self.session.mapping

    # --- the run, with one transparent re-login --------------------------------------------------

    def run(self) -> EntryResult:
        ref = self.item.reference
        # Steps of a normal entry log at DEBUG (the JSON log file keeps them): at the default
        # level the console shows each item once, at its end (bot.console.RunProgress).
        logger.debug(
            "{} : ressaisie (tentative {}{})",
            ref,
            self.item.attempt,
            ", reprise après interruption" if self.item.recovered else "",
        )
        try:
            if not self.assessment.consent_sharing:
                raise BusinessException(
                    "Consentement au partage absent : l'auto-évaluation n'est pas ressaisie dans "
                    "l'e-parcours.",
                    code="consent_missing",
                )
            # One item of a person at a time, across workers: two items of a returning usager
            # handled at once would both search, both find nothing and both create the dossier.
            with self._identity_lock():
                return self._proceed_with_relogin()
        except BotError as e:
            if isinstance(e, IdentityQuestion):
                self.candidates = e.candidates
            self._record()
            if self._saved_unchecked(e):
                # Saved but not checked, and no retry left to read it back (or a changed screen
                # a retry would meet again): a person must know a STEP 1 exists, or they would
                # enter it again by hand (a duplicate). Its own state, never a plain failure.
                saved = BusinessException(
                    "Saisie faite, alertes non lues : la STEP 1 est enregistrée dans "
                    f"l'e-parcours (évaluation {self.step1_id}) mais n'a pas pu être relue "
                    f"({e.message.rstrip('.')}). Ne la ressaisissez pas : vérifiez-la dans "
                    "l'e-parcours.",
                    code="step1_saved_unchecked",
                    details=e.details,
                )
                self._add_target_summary(saved)
                self._failure_capture(saved)
                raise saved from e
            self._add_target_summary(e)
            # What the reviewer will look at, only if it shows this item's own usager.
            self._failure_capture(e)
            raise

    def _saved_unchecked(self, error: BotError) -> bool:
        if not isinstance(error, SystemException) or self.step1_id is None:
            return False
        if self.read_back_done:
            return False
        last = self.item.attempt >= self.item.policy.max_attempts
        return last or error.code == "ui_changed"

    @contextlib.contextmanager
    def _identity_lock(self) -> Iterator[None]:
        # One lock per key the search looks at (not per strict trait): near twins, who differ
        # by one trait, share a key, so they are never searched for at the same moment. Taken in
        # sorted order by every worker, so two items never wait for each other; in the queue's
        # backend, so across machines when they share a PostgreSQL queue.
        with contextlib.ExitStack() as held:
            for key in search_keys(self.assessment.identity):
                lock = self.item.queue.lock(
                    "usager", self.settings.base_url, *key, timeout=self.settings.lease_seconds / 2
                )
                try:
                    lock.acquire()
                except LockTimeout as e:
                    raise SystemException(
                        "Un autre robot traite une auto-évaluation de la même personne depuis "
                        "trop longtemps : nouvel essai plus tard.",
                        code="usager_busy",
                    ) from e
                held.callback(lock.release)
            yield

    def _proceed_with_relogin(self) -> EntryResult:
        losses = 0
        while True:
            try:
                return self._proceed()
            except SessionExpired as e:
                losses += 1
                if losses >= 2:
                    raise SystemException(
                        "La session e-parcours a été perdue deux fois pendant le même "
                        "élément : nouvel essai plus tard.",
                        code="session_lost",
                    ) from e
                logger.warning("{} : session e-parcours perdue, reconnexion", self.item.reference)
                self.session.log_in_again()

    def _proceed(self) -> EntryResult:
        if self.evaluation_url is not None:
            evaluation = self.session.goto(self.evaluation_url, EvaluationPage)
            return self._check(evaluation)
        dossier = self._dossier()
        if dossier is None:  # dry run: the usager would have to be created
            return self._result()
        dossier.show_evaluations()
        existing = dossier.step1s(self.assessment.assessed_on, AUTO_MODE)
        if len(existing) > 1:
            raise BusinessException(
                f"{len(existing)} STEP 1 en auto-évaluation à la même date existent déjà dans le "
                "dossier : un doublon est à supprimer dans l'e-parcours.",
                code="step1_duplicate",
                details=", ".join(f"évaluation {row.evaluation_id}" for row in existing),
            )
        if existing:
            # Already there: a crash after saving, or a save whose answer was lost with the
            # session. Read it, never enter it twice.
            self.reused_step1 = not self.save_attempted
            logger.info(
                "{} : STEP 1 déjà présente (évaluation {}), relue sans nouvelle saisie",
                self.item.reference,
                existing[0].evaluation_id,
            )
            evaluation = dossier.open_evaluation(existing[0])
        else:
            saved = self._enter(dossier)
            if saved is None:  # dry run
                return self._result()
            evaluation = saved
        self.evaluation_url = evaluation.url
        self.step1_id = evaluation.evaluation_id
        self._record()  # what is in the target is kept even if the next step fails
        return self._check(evaluation)

    # --- steps -----------------------------------------------------------------------------------

    def _dossier(self) -> DossierPage | None:
        if self.dossier_url is not None:
            return self.session.goto(self.dossier_url, DossierPage)
        found = find_or_create_usager(self.session, self.assessment, dry_run=self.dry_run)
        if found.dossier is None:
            if found.form is not None:
                self._capture("01-creation-usager", found.form.screenshot)
            return None
        self.created_usager = self.created_usager or found.created
        self.identity_info = [d.as_result() for d in found.info]
        self.dossier_url = found.dossier.url
        self.dossier_id = found.dossier.dossier_id
        return found.dossier

    def _enter(self, dossier: DossierPage) -> EvaluationPage | None:
        form = dossier.new_evaluation().choose_step1()
        header = form.header_values(self.assessment.assessed_on, AUTO_MODE, self._effecteur(form))
        form.fill(
            self.assessment.answers,
            assessed_on=header["assessed_on"],
            mode=AUTO_MODE,
            effecteur=header["effecteur"],
        )
        self._verify_inputs(form, header | form_values(self.assessment.answers))
        form.check_controls()  # a field nobody chose must not be saved (nor shown as ready)
        self._capture("01-saisie-step1", form.screenshot)
        if self.dry_run:
            logger.info(
                "{} : essai à blanc, STEP 1 remplie mais non enregistrée", self.item.reference
            )
            return None
        self.save_attempted = True
        saved = form.save()
        if isinstance(saved, Step1FormPage):
            raise BusinessException(
                "L'e-parcours refuse d'enregistrer la STEP 1 : les réponses sont à vérifier.",
                code="step1_refused",
                details="\n".join(saved.errors()),
            )
        self.saved_by_bot = True
        logger.debug(
            "{} : STEP 1 enregistrée (évaluation {})", self.item.reference, saved.evaluation_id
        )
        return saved

    def _effecteur(self, form: Step1FormPage) -> str:
        """The effecteur option to choose: the configured one, else the first offered."""
        choices = form.effecteur_choices()
        wanted = self.settings.effecteur.strip()
        if not wanted:
            if not choices:
                raise SystemException(
                    "Le formulaire STEP 1 ne propose aucun effecteur.", code="ui_changed"
                )
            if self.effecteur is None:
                logger.warning(
                    "Aucun effecteur configuré (ICOPE_BOT_EFFECTEUR) : la STEP 1 est attribuée "
                    "au premier effecteur proposé"
                )
            self.effecteur = choices[0]
            return choices[0]
        matches = [c for c in choices if wanted.casefold() in c.casefold()]
        if len(matches) != 1:
            found = "aucun" if not matches else f"{len(matches)}"
            # The same answer for every item: halt the run instead of failing item after item.
            raise EffecteurUnknown(
                f"L'effecteur configuré « {wanted} » (ICOPE_BOT_EFFECTEUR) correspond à {found} "
                "des effecteurs proposés par l'e-parcours : précisez-le."
            )
        self.effecteur = matches[0]
        return matches[0]

    def _verify_inputs(self, form: Step1FormPage, expected: dict[str, Any]) -> None:
        """The inputs must hold what was typed (a form may re-render): refill once, then stop."""
        got = form.read_fields(list(expected))
        wrong = [name for name, value in expected.items() if got[name] != value]
        if wrong:
            logger.warning("{} : {} champ(s) ressaisi(s)", self.item.reference, len(wrong))
            for name in wrong:
                form.set_field(name, expected[name])
            got = form.read_fields(wrong)
            wrong = [name for name in wrong if got[name] != expected[name]]
        if wrong:
            labels = ", ".join(f"« {form.t.label_of(n)} »" for n in wrong)
            raise SystemException(
                f"Le formulaire STEP 1 ne garde pas les valeurs saisies ({labels}) : rien n'a "
                "été enregistré.",
                code="entry_mismatch",
            )

    def _check(self, evaluation: EvaluationPage) -> EntryResult:
        panel = evaluation.alerts_panel()
        target = panel.read()
        self._capture("02-alertes", panel.screenshot)
        read_back = evaluation.read_back()
        self.read_back_done = True
        a = self.assessment
        self.differences = compare_readback(a.answers, read_back.answers) + self._header_diff(
            read_back
        )
        rules = load_rules()
        age = a.age_on_assessment()
        reference = alerts_for(a.answers, rules, age)
        self.concordance = compare_alerts(a.app_alerts, target, reference, a.answers, rules, age)
        self._record()
        if read_back.unexpected:
            # Saved with a value the bot did not choose (a new field's default): never "done".
            shown = ", ".join(f"« {term} » = « {v} »" for term, v in read_back.unexpected.items())
            raise BusinessException(
                f"La STEP 1 enregistrée contient une rubrique que le robot ne connaît pas : "
                f"{shown}. Vérifiez-la dans l'e-parcours ; si elle est attendue, déclarez-la "
                "avec sa valeur dans step1.extra_fields du fichier de correspondance.",
                code="step1_unknown_field",
            )
        if self.differences:
            lines = readback_explanations(self.differences, self._labels())
            raise BusinessException(
                "La STEP 1 relue dans l'e-parcours diffère de l'auto-évaluation : "
                + ", ".join(self._labels().get(d.field, d.field) for d in self.differences),
                code="readback_mismatch",
                details="\n".join(lines + self.concordance.details().splitlines()),
            )
        if not self.concordance.agree:
            raise BusinessException(
                self.concordance.reason(),
                code="alerts_discordant",
                details=self.concordance.details(),
            )
        logger.debug("{} : relecture identique, alertes concordantes", self.item.reference)
        return self._result()

    def _header_diff(self, read_back: Step1ReadBack) -> list[FieldDifference]:
        a = self.assessment
        differences = []
        if read_back.assessed_on != a.assessed_on:
            differences.append(FieldDifference("assessed_on", a.assessed_on, read_back.assessed_on))
        if read_back.mode != AUTO_MODE:
            differences.append(FieldDifference("mode", AUTO_MODE, read_back.mode))
        wanted = self.settings.effecteur.strip()
        if wanted and wanted.casefold() not in read_back.effecteur.casefold():
            differences.append(FieldDifference("effecteur", wanted, read_back.effecteur))
        return differences

    def _labels(self) -> dict[str, str]:
        step1 = self.mapping.step1
        return {**step1.labels, **step1.radiogroups}

    # --- evidence and result ---------------------------------------------------------------------

    def _capture(self, step: str, write: Capture, *, failure: bool = False) -> None:
        """Ask the evidence policy to keep this screen; it decides whether and where."""
        path = self.policy.capture(self.item, step, write, failure=failure)
        if path is not None:
            self.evidence.append(path)

    def _failure_capture(self, error: BotError) -> None:
        """The screen at the failure, filed under this item only if it shows this item's usager.

        A screenshot of whatever the browser shows could be another person's record (a search
        result, a homonym's dossier, the previous item's STEP 1): with health data that is a
        disclosure filed in the wrong place. So only the pages of the dossier this flow opened
        for this item (its evaluations and STEP 1 form included) are captured; an item that
        never reached its dossier (missing consent, identity question) gets no screenshot.
        System failures too: the runner leaves the screen of a failure inside the flow to it.
        """
        if not self._shows_own_usager(self.session.url):
            logger.info(
                "{} : pas de capture d'écran, la page ne montre pas le dossier de cet usager",
                self.item.reference,
            )
            return
        business = isinstance(error, BusinessException)
        step = "99-a-verifier" if business else f"echec-{self.item.attempt}"
        self._capture(step, self.session.screenshot, failure=True)

    def _shows_own_usager(self, url: str) -> bool:
        """Whether ``url`` is a page of this item's own dossier or evaluation (opened by us)."""
        for known in (self.dossier_url, self.evaluation_url):
            if not known:
                continue
            base = known.split("#")[0].split("?")[0]
            # The page itself, or one under it (/usagers/7/evaluations/nouvelle/step1),
            # never a sibling sharing its prefix (/usagers/71).
            if url == base or (url.startswith(base) and url[len(base)] in "/?#"):
                return True
        return False

    def target_lines(self) -> list[str]:
        """What the bot did in the e-parcours for this item, in French, one fact a line."""
        lines: list[str] = []
        if self.dossier_id is not None:
            verb = "créé par le robot" if self.created_usager else "trouvé"
            lines.append(f"Dossier usager {self.dossier_id} {verb} : {self.dossier_url}")
        if self.step1_id is not None:
            how = "enregistrée par le robot" if self.saved_by_bot else "déjà présente"
            checked = "relue" if self.read_back_done else "NON relue (alertes non lues)"
            lines.append(
                f"STEP 1 {how} (évaluation {self.step1_id}), {checked} : {self.evaluation_url}"
            )
        elif self.save_attempted:
            lines.append(
                "Enregistrement de la STEP 1 tenté sans réponse lisible de l'e-parcours : "
                "vérifiez dans le dossier s'il l'a gardée avant toute nouvelle saisie."
            )
        elif self.dossier_id is not None:
            lines.append("Aucune STEP 1 enregistrée par le robot.")
        return lines

    def _add_target_summary(self, error: BotError) -> None:
        lines = self.target_lines()
        if lines:
            block = "Dans l'e-parcours :\n" + "\n".join(f"- {line}" for line in lines)
            error.details = f"{error.details}\n{block}" if error.details else block

    def _record(self) -> None:
        result: dict[str, Any] = {
            "alerts": self.concordance.as_result() if self.concordance else None,
            "dossier_id": self.dossier_id,
            "step1_id": self.step1_id,
            "created_usager": self.created_usager,
            "reused_step1": self.reused_step1,
            "effecteur": self.effecteur,
            "target": {
                "dossier_id": self.dossier_id,
                "dossier_url": self.dossier_url,
                "dossier_created": self.created_usager,
                "step1_id": self.step1_id,
                "step1_url": self.evaluation_url,
                "step1_saved_by_bot": self.saved_by_bot,
                "save_attempted": self.save_attempted,
                "read_back": self.read_back_done,
                "summary": self.target_lines(),
            },
            "readback_differences": [
                {
                    "field": d.field,
                    "entered": _display(d.entered),
                    "read_back": _display(d.read_back),
                }
                for d in self.differences
            ],
        }
        if self.candidates:
            result["identity_candidates"] = self.candidates
        if self.identity_info:
            # told to a person (run report, review file), never written to the dossier
            result["identity_info"] = self.identity_info
        if self.dry_run:
            result["dry_run"] = True
        self.item.result.update(result)

    def _result(self) -> EntryResult:
        self._record()
        return EntryResult(
            dossier_id=self.dossier_id,
            step1_id=self.step1_id,
            created_usager=self.created_usager,
            reused_step1=self.reused_step1,
            concordance=self.concordance,
            readback_differences=list(self.differences),
            evidence=list(self.evidence),
        )
