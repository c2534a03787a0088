"""Preflight: does the target still show every text the bot relies on (``icope-bot check-target``)?

The bot logs in and visits every screen of a double entry, checking each text of the mapping
where the screen shows it (headings, labels, questions, buttons, links, columns, options, terms,
alert names). Each text ends ``found``, ``missing``, ``waived`` (the mapping's ``waived:`` list
says why the tour may leave it unchecked: a message shown only after an error, say) or
``not_checked``. One missing text, or one text left unchecked without a waiver, and the report is
not ok: the overnight run does not start, a person updates ``mappings/``. A preflight that did
not look must not say "conforme".

Read-only (the default, any target): the tour opens the creation form without sending it, then
the dossier of a test usager (settings ``check_birth_name`` / ``check_birth_date``), opens a new
STEP 1 form and reads it without typing or saving anything (leaving the form is the cancel), and
reads the dossier's saved STEP 1s. No test usager, or no STEP 1 in its dossier: the tour fails,
saying so. On a training target (``target: {sandbox: true}`` in the mapping, or
``allow_create=True``) the tour first creates that test usager ("CONTROLE Cible", born 01/01/1901,
the default test usager), meets the double warning by creating it a second time (cancelled), and
saves a STEP 1 for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from playwright.sync_api import Browser, sync_playwright

from bot.browser import launch_chromium
from bot.errors import BotError, SystemException
from bot.logs import logger
from bot.models import Identity, Sex, Step1Answers, normalize_trait
from bot.pages.aria import AriaNode
from bot.pages.dossier import DossierPage
from bot.pages.duplicate import DuplicateWarningPage
from bot.pages.evaluation import EvaluationPage
from bot.pages.login import LoginPage
from bot.pages.mapping import TargetMapping, load_mapping
from bot.pages.screen import Screen
from bot.pages.search import ResultsPage, SearchPage, UsagerRow
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = ["PROBE", "CheckLine", "CheckReport", "check_target"]

Status = Literal["found", "missing", "waived", "not_checked"]
#: How many of the test usager's STEP 1s the read-only tour consults, at most.
_MAX_EVALUATIONS = 5

#: The throw-away usager of a training target (never created elsewhere).
PROBE = Identity(
    birth_name="CONTROLE",
    first_names=("Cible",),
    birth_date=date(1901, 1, 1),
    sex=Sex.I,
    birth_insee="99100",
)
#: What the tour types into the usager form for it: its traits (a throw-away usager, no INS).
_PROBE_FIELDS: dict[str, str | date] = {
    "birth_name": PROBE.birth_name,
    "first_names": " ".join(PROBE.first_names),
    "birth_date": PROBE.birth_date,
    "birth_insee": "99100",
}
#: Its STEP 1: alerts and no alerts, "yes", "no" and "not done" all on screen.
PROBE_ANSWERS = Step1Answers(
    orientation_year_ok=True,
    orientation_month_ok=True,
    orientation_weekday_ok=True,
    orientation_day_ok=True,
    orientation_place_ok=True,
    words_recalled=2,
    chair_rise_seconds=10.0,
    weight_loss_kg=0.0,
    appetite_loss=False,
    vision_problem=True,
    mood_down=False,
    mood_little_interest=False,
)

_ROLES = {
    "buttons": "button",
    "links": "link",
    "tabs": "tab",
    "checkboxes": "checkbox",
    "sections": "group",
    "columns": "columnheader",
}


@dataclass(frozen=True)
class CheckLine:
    """One text of the mapping and what the tour found."""

    screen: str
    group: str
    key: str
    text: str
    status: Status
    note: str = ""

    @property
    def path(self) -> str:
        return ".".join(p for p in (self.screen, self.group, self.key) if p)


@dataclass
class CheckReport:
    """Every mapped text with its status; ``ok`` when the tour completed and every text was
    found or is waived by the mapping."""

    lines: list[CheckLine]
    created_probe: bool = False
    read_only: bool = True
    error: str | None = None  # why the tour stopped before the end (French)

    @property
    def missing(self) -> list[str]:
        """``screen.group.key « text »`` for each text not found on its screen."""
        return [f"{line.path} « {line.text} »" for line in self.lines if line.status == "missing"]

    @property
    def unchecked(self) -> list[str]:
        """``screen.group.key « text »`` for each text the tour could not check (not waived)."""
        return [
            f"{line.path} « {line.text} »" for line in self.lines if line.status == "not_checked"
        ]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unchecked and self.error is None

    def counts(self) -> dict[str, int]:
        out = {"found": 0, "missing": 0, "waived": 0, "not_checked": 0}
        for line in self.lines:
            out[line.status] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "read_only": self.read_only,
            "created_probe": self.created_probe,
            "error": self.error,
            "counts": self.counts(),
            "missing": self.missing,
            "unchecked": self.unchecked,
            "lines": [
                {"path": line.path, "text": line.text, "status": line.status, "note": line.note}
                for line in self.lines
            ],
        }


def check_target(
    settings: Settings, *, browser: Browser | None = None, allow_create: bool | None = None
) -> CheckReport:
    """Log in, visit every screen, report each mapped text found or missing.

    ``browser``: an open Chromium to use (a new context is made); by default one is launched.
    ``allow_create``: create the throw-away usager; default: the mapping's ``target.sandbox``.
    """
    mapping = load_mapping(settings.mapping)
    create = mapping.target.sandbox if allow_create is None else allow_create
    if browser is not None:
        return _check_with(browser, settings, mapping, create)
    # Its own browser writes its temporary files (profile, artifacts: the test usager's pages)
    # in the bot's private folder, removed afterwards, as the workers' do (issue 11).
    from bot.runner.recovery import browser_tmp, chromium_env

    # Inside a run of this process its private folder is already in use: share it, never empty it.
    private = nullcontext() if chromium_env() is not None else browser_tmp(settings.queue_path)
    with private, sync_playwright() as p:
        launched = launch_chromium(
            p, headed=settings.headed, slow_mo_ms=settings.slow_mo_ms, env=chromium_env()
        )
        try:
            return _check_with(launched, settings, mapping, create)
        finally:
            launched.close()


def _check_with(
    browser: Browser, settings: Settings, mapping: TargetMapping, create: bool
) -> CheckReport:
    context = browser.new_context()
    try:
        tour = _Tour(TargetSession(context, settings, mapping=mapping), create)
        tour.run()
        return tour.report()
    finally:
        context.close()


@dataclass
class _Tour:
    session: TargetSession
    create: bool
    status: dict[tuple[str, str, str], tuple[Status, str]] = field(default_factory=dict)
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)
    error: str | None = None
    created_probe: bool = False
    any_of: bool = False  # a text found once stays found (the test usager's several STEP 1s)

    def __post_init__(self) -> None:
        self.m = self.session.mapping
        for screen, groups in self.m.screens().items():
            for group, key, text in _flatten(groups):
                self.texts[(screen, group, key)] = text
                self.status[(screen, group, key)] = ("not_checked", "")

    # --- recording -------------------------------------------------------------------------------

    def mark(self, screen: str, group: str, key: str, found: bool, note: str = "") -> None:
        if (screen, group, key) in self.texts:
            if self.any_of and self.status[(screen, group, key)][0] == "found":
                return  # seen on an earlier evaluation: content varies from one to the next
            self.status[(screen, group, key)] = ("found" if found else "missing", note)

    def check(self, screen: str, page: Screen, *groups: str) -> AriaNode:
        """Check these groups of a screen's texts on the screen shown (all groups by default)."""
        page.changed()
        tree = page.state()
        section = self.m.screens()[screen]
        for group, key, text in _flatten(section):
            if groups and group.split(".")[0] not in groups:
                continue
            found = self._shows(page, tree, screen, group, key, text, section)
            if found is not None:
                self.mark(screen, group, key, found)
        return tree

    def _shows(
        self,
        page: Screen,
        tree: AriaNode,
        screen: str,
        group: str,
        key: str,
        text: str,
        section: dict[str, Any],
    ) -> bool | None:
        """Whether the screen shows the text; None when this kind of text cannot be checked."""
        if group == "heading":
            return tree.has("heading", text)
        if group == "navigation":
            return tree.has("navigation", text)
        if screen == "common" and group == "links":
            nav = tree.find("navigation", section["navigation"])
            return nav is not None and nav.has("link", text)
        if group in _ROLES:
            return tree.has(_ROLES[group], text)
        if group == "labels":
            # A control shown only after an answer is in the page, but not yet in the snapshot.
            return tree.control(text) is not None or page.label(text).count() > 0
        if group == "radiogroups":
            # A yes/no question, found by the role of the control step1.controls declares.
            role = self.m.step1.control_of(key).role
            if tree.has(role, text):
                return True
            hidden = page.page.get_by_role(
                role,  # type: ignore[arg-type]  # one of three roles
                name=text,
                exact=True,
                include_hidden=True,
            )
            return hidden.count() > 0
        if group.startswith("controls."):
            return self._answer_shows(page, group.partition(".")[2], text)
        if group.startswith("options"):
            return self._option_shows(page, tree, group, key, text, section)
        if group in ("terms", "other_terms"):
            return text in {n.text() for n in tree.find_all("term")}
        return None  # texts, values, alerts, dialog, errors: checked where they show

    def _answer_shows(self, page: Screen, question: str, text: str) -> bool:
        """An answer text of one question (step1.controls.<question>.yes / no): a radio or an
        option inside the question's control, hidden (a conditional question) or not."""
        step1 = self.m.step1
        control = step1.control_of(question)
        box = page.page.get_by_role(
            control.role,  # type: ignore[arg-type]  # one of three roles
            name=step1.radiogroups[question],
            exact=True,
            include_hidden=True,
        )
        child = "radio" if control.kind == "radio" else "option"
        answer = box.first.get_by_role(child, name=text, exact=True, include_hidden=True)  # type: ignore[arg-type]
        return box.count() > 0 and answer.count() > 0

    def _option_shows(
        self,
        page: Screen,
        tree: AriaNode,
        group: str,
        key: str,
        text: str,
        section: dict[str, Any],
    ) -> bool:
        select_key = group.partition(".")[2]
        if not select_key:  # yes / no answers of the questions (radios or drop-down options)
            answers = tree.find_all(frozenset({"radio", "option"}))
            return any(r.name == text for r in answers)
        label = section.get("labels", {}).get(select_key)
        if label is None:
            return False
        options = page.label(label).first.get_by_role("option", name=text, include_hidden=True)
        return options.count() > 0

    def see_text(
        self, screen: str, group: str, key: str, tree: AriaNode, *, may_show: bool = False
    ) -> None:
        """A message that should show now (``may_show``: that shows only in some dossiers, so
        not seeing it leaves it unchecked rather than missing)."""
        text = self.texts.get((screen, group, key))
        if text is not None and (text in tree.text() or not may_show):
            self.mark(screen, group, key, text in tree.text())

    @contextmanager
    def stage(self, what: str) -> Iterator[None]:
        """One step of the tour; a failure ends the tour with the reason."""
        try:
            yield
        except BotError as e:
            self.error = f"{what} : {e.message}"
            logger.warning("Contrôle de la cible interrompu ({}) : {}", what, e.code)
            raise _Stop from e

    def report(self) -> CheckReport:
        lines = []
        for (screen, group, key), text in self.texts.items():
            status, note = self.status[(screen, group, key)]
            line = CheckLine(screen, group, key, text, status, note)
            reason = self.m.waived.get(line.path)
            if status == "not_checked" and reason is not None:
                line = CheckLine(screen, group, key, text, "waived", reason)
            lines.append(line)
        return CheckReport(
            lines, created_probe=self.created_probe, read_only=not self.create, error=self.error
        )

    # --- the tour ----------------------------------------------------------------------------------

    def run(self) -> None:
        with suppress(_Stop):  # the reason is already in self.error
            self._tour()

    def _tour(self) -> None:
        s = self.session
        with self.stage("page de connexion"):
            s.page.goto(s.settings.base_url)
            login = s.expect(LoginPage)
            self.check("login", login)
            s.log_in()
            if s.last_login_used_code:
                # The code screen was used: its heading, field and button were there.
                for group, key in (("heading", ""), ("labels", "code"), ("buttons", "submit")):
                    self.mark("otp", group, key, True)
        with self.stage("accueil"):
            home = s.home()
            self.check("home", home)
            self.check("common", home)
        with self.stage("recherche d'usager"):
            search = s.open_search()
            self.check("search", search, "heading", "labels", "buttons")
            tree = search.state()
            self.mark("search", "links", "create", tree.has("link", self.m.search.links["create"]))
            results = search.search(birth_date=date(1900, 1, 1))
            self.see_text("search", "texts", "no_result", results.state())
        with self.stage("formulaire de création d'usager"):
            form = results.open_create_form()
            self.check("usager_form", form)
        with self.stage("usager de contrôle" if self.create else "dossier de l'usager de test"):
            dossier = self._probe_dossier() if self.create else self._reference_dossier()
        with self.stage("dossier"):
            self.check("dossier", dossier, "heading", "tabs")
            dossier_url = dossier.url
            tree = dossier.show_evaluations().state()
            self.see_text("dossier", "texts", "no_evaluation", tree, may_show=True)
            link = self.m.dossier.links["new_evaluation"]
            self.mark("dossier", "links", "new_evaluation", tree.has("link", link))
            chooser = dossier.new_evaluation()
        with self.stage("choix de l'évaluation"):
            self.check("chooser", chooser)
            step1 = chooser.choose_step1()
        with self.stage("formulaire STEP 1"):
            self.check("step1", step1)
            # Read-only: nothing typed, nothing saved; leaving the form is the cancel.
            if self.create:
                saved = self._probe_step1(step1)
                self.see_text("evaluation", "texts", "saved", saved.state())
        with self.stage("évaluations du dossier"):
            dossier = s.goto(dossier_url, DossierPage).show_evaluations()
            tree = self.check("dossier", dossier, "columns", "links")
            self.see_text("dossier", "texts", "type_step1", tree)
            self.see_text("dossier", "texts", "step2_task", tree, may_show=True)
            step1_type = self.m.dossier.texts["type_step1"]
            rows = [r for r in dossier.evaluations() if r.type == step1_type and r.link]
            if not rows:
                raise SystemException(
                    "Le dossier de l'usager de test n'a aucune STEP 1 à consulter : l'écran de "
                    "consultation des évaluations ne peut pas être vérifié.",
                    code="check_failed",
                )
        with self.stage("consultation de l'évaluation"):
            shown: Screen = dossier
            for row in rows[:_MAX_EVALUATIONS]:
                shown = dossier.open_evaluation(row)
                self._check_evaluation(shown)
                self.any_of = True
            self.any_of = False
        with self.stage("exports"):
            self._check_exports(shown)

    def _reference_dossier(self) -> DossierPage:
        """The test usager's dossier (settings check_birth_name / check_birth_date), found by a
        search, opened read-only; the results' texts checked on the way."""
        s = self.session
        results = s.open_search().search(
            birth_date=s.settings.check_birth_date, birth_name=s.settings.check_birth_name
        )
        wanted = normalize_trait(s.settings.check_birth_name)
        rows = [r for r in self._result_rows(results) if normalize_trait(r.birth_name) == wanted]
        if not rows or rows[0].link is None:
            # No name or date in the message: the settings say which usager is meant.
            raise SystemException(
                "L'usager de test du contrôle est introuvable dans l'outil cible (réglages "
                "ICOPE_BOT_CHECK_BIRTH_NAME et ICOPE_BOT_CHECK_BIRTH_DATE) : sans son dossier, "
                "le formulaire STEP 1 et les évaluations ne peuvent pas être vérifiés.",
                code="check_failed",
            )
        return results.open(rows[0])

    def _probe_dossier(self) -> DossierPage:
        """Open the throw-away usager's dossier, creating it first when needed; meet the
        double warning on the way (a second creation, cancelled)."""
        s = self.session
        if not self._probe_rows(s.open_search()):
            form = s.open_search().open_create_form()
            form.fill(_PROBE_FIELDS, sex=PROBE.sex, consent=True)
            created = form.submit()
            if isinstance(created, DossierPage):
                self.created_probe = True
                self.see_text("dossier", "texts", "created", created.state())
        form = s.open_search().open_create_form()
        form.fill(_PROBE_FIELDS, sex=PROBE.sex, consent=True)
        warning = form.submit()
        if isinstance(warning, DuplicateWarningPage):
            self.check("duplicate", warning)
            warning.cancel()
        search = s.open_search()
        rows = self._probe_rows(search)
        if not rows:
            raise SystemException(
                "L'usager de contrôle est introuvable après sa création.", code="check_failed"
            )
        return s.goto(str(rows[0].link), DossierPage)

    def _probe_rows(self, search: SearchPage) -> list[UsagerRow]:
        """The throw-away usager in the search results (the results' texts checked)."""
        rows = self._result_rows(search.search(birth_date=PROBE.birth_date))
        return [r for r in rows if normalize_trait(r.birth_name) == PROBE.birth_name]

    def _result_rows(self, results: ResultsPage) -> list[UsagerRow]:
        """The rows of a search's results, their columns and links checked when there are some."""
        tree = results.state()
        if self.m.search.texts["no_result"] in tree.text():
            return []
        self.check("search", results, "columns")
        self.mark("search", "links", "open", tree.has("link", self.m.search.links["open"]))
        for key in ("next_page", "previous_page"):
            if key in self.m.search.links and tree.has("link", self.m.search.links[key]):
                self.mark("search", "links", key, True)
        return results.rows()

    def _probe_step1(self, step1: Step1FormPage) -> EvaluationPage:
        choices = step1.effecteur_choices()
        wanted = self.session.settings.effecteur.casefold()
        effecteur = next((c for c in choices if wanted and wanted in c.casefold()), None)
        step1.fill(
            PROBE_ANSWERS,
            assessed_on=date.today(),
            mode="auto",
            effecteur=effecteur or (choices[0] if choices else ""),
        )
        saved = step1.save()
        if not isinstance(saved, EvaluationPage):
            raise SystemException(
                "La STEP 1 de contrôle a été refusée : " + "; ".join(saved.errors()),
                code="check_failed",
            )
        return saved

    def _check_evaluation(self, saved: EvaluationPage) -> None:
        saved.alerts_panel()
        tree = self.check("evaluation", saved)
        alerts = self.m.evaluation.alerts
        region = tree.find("region", alerts.region)
        self.mark("evaluation", "alerts", "region", region is not None)
        lines = [item.text() for item in region.find_all("listitem")] if region else []
        for code, name in alerts.domains.items():
            self.mark(
                "evaluation",
                "alerts.domains",
                code,
                any(line.startswith(f"{name} :") for line in lines),
            )
        for key, text in alerts.status.items():
            self.mark(
                "evaluation", "alerts.status", key, any(f": {text}" in line for line in lines)
            )
        if alerts.step2:
            self.mark("evaluation", "alerts", "step2", any(alerts.step2 in line for line in lines))
        shown = {n.text() for n in tree.find_all("definition")}
        for key, text in self.m.evaluation.values.items():
            self.mark("evaluation", "values", key, text in shown)

    def _check_exports(self, screen: Screen) -> None:
        exports = self.m.exports
        link_text = self.m.common.links.get("exports")
        if exports is None or link_text is None:
            return
        nav = self.session.navigation.get_by_role("link", name=link_text, exact=True)
        with screen.acting("ouverture des exports"):
            nav.first.click()
        page = self.session.expect(_ExportsPage)
        self.check("exports", page)


class _ExportsPage(Screen):
    """Exports (only visited by the check: the bot does not use it)."""

    def __init__(self, session: TargetSession) -> None:
        exports = session.mapping.exports
        self.heading_text = exports.heading if exports else ""
        super().__init__(session)


class _Stop(Exception):
    """The tour cannot go further (the reason is in the report)."""


def _flatten(section: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(group, key, text) for every text of a screen; nested groups joined with dots."""
    for name, value in section.items():
        if isinstance(value, str):
            if prefix:
                yield prefix, name, value
            else:
                yield name, "", value
        elif isinstance(value, dict):
            yield from _flatten(value, f"{prefix}.{name}" if prefix else name)
