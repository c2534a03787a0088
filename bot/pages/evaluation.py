"""Consultation de l'évaluation: the saved STEP 1, read-only, and its alerts panel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator
from pydantic import ValidationError

from bot.errors import SystemException
from bot.models import (
    DOMAINS,
    STEP1_CONDITIONAL,
    STEP1_DECIMALS,
    STEP1_INTEGERS,
    Alerts,
    HearingTest,
    Step1Answers,
)
from bot.pages.aria import AriaNode
from bot.pages.mapping import STEP1_YES_NO
from bot.pages.screen import Screen, id_from_url, ui_changed

if TYPE_CHECKING:
    from pathlib import Path

    from bot.pages.session import TargetSession

__all__ = ["AlertsPanel", "EvaluationPage", "Step1ReadBack"]


@dataclass
class Step1ReadBack:
    """A saved STEP 1 as the read-only screen shows it, typed back."""

    answers: Step1Answers  # not validated when the screen shows something inconsistent
    assessed_on: date | str
    mode: str  # "auto" / "hetero", or the text shown when unknown
    effecteur: str
    shown: dict[str, str] = field(default_factory=dict)  # field → text as displayed
    #: Rubrics the mapping does not know, or whose value is not the one it allows: rubric →
    #: text shown. Saved with the STEP 1 without the bot choosing them: a person must look.
    unexpected: dict[str, str] = field(default_factory=dict)


class AlertsPanel:
    """The alerts region: one line per domain, "<domain> : <status>"."""

    def __init__(self, screen: EvaluationPage, region: Locator) -> None:
        self.screen = screen
        self.region = region
        self.t = screen.texts.evaluation.alerts

    def read(self) -> Alerts:
        """Alert (True) or not for each domain, as the tool says it to assistive technologies:
        an item's own accessible name when it has one, else its text with the names of its
        images (a coloured mark named "Alerte" reads as "Alerte"), never its colour."""
        region = self.screen.require("region", self.t.region)
        lines = [_said(item) for item in region.find_all("listitem")]
        by_name = {name: code for code, name in self.t.domains.items()}
        statuses = sorted(
            ((self.t.status["alert"], True), (self.t.status["no_alert"], False)),
            key=lambda s: -len(s[0]),
        )
        found: dict[str, bool] = {}
        for line in lines:
            name, _, rest = line.partition(":")
            code = by_name.get(name.strip())
            if code is None:
                continue
            rest = rest.strip()
            if not rest:
                # Shown by colour alone, or not at all: there is no text to quote.
                raise SystemException(
                    f"L'écran « {self.screen.heading_text} » n'écrit pas l'état d'alerte du "
                    f"domaine « {name.strip()} » et ne le nomme pas pour les technologies "
                    "d'assistance (il est peut-être montré par une couleur seulement) : le robot "
                    "ne peut pas le lire. Lancez « icope-bot check-target » et adaptez "
                    "evaluation.alerts dans le fichier de correspondance.",
                    code="ui_changed",
                )
            status = next((value for text, value in statuses if rest.startswith(text)), None)
            if status is None:
                raise SystemException(
                    f"Le panneau « {self.t.region} » montre « {rest} » pour le domaine "
                    f"« {name.strip()} », un état que le fichier de correspondance ne connaît "
                    f"pas (attendu « {self.t.status['alert']} » ou "
                    f"« {self.t.status['no_alert']} »). Mettez à jour evaluation.alerts.status "
                    "(alert, no_alert) et evaluation.alerts.step2 du fichier de correspondance "
                    "(voir docs/adapting-to-target-updates.md).",
                    code="ui_changed",
                )
            found[code] = status
        for code in DOMAINS:
            if code not in found:
                shown = ", ".join(f"« {line} »" for line in lines) or "aucune ligne"
                raise SystemException(
                    f"Le panneau « {self.t.region} » ne montre pas le domaine "
                    f"« {self.t.domains[code]} » (il montre {shown}). Mettez à jour "
                    f"evaluation.alerts.domains.{code} du fichier de correspondance.",
                    code="ui_changed",
                )
        return Alerts(**found)

    def screenshot(self, path: Path) -> Path:
        return self.screen.screenshot(path, locator=self.region)


class EvaluationPage(Screen):
    """Consultation de l'évaluation."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.evaluation
        self.heading_text = self.t.heading
        super().__init__(session)
        self.region = self.page.get_by_role("region", name=self.t.alerts.region, exact=True)

    @property
    def evaluation_id(self) -> str:
        return id_from_url(self.url)

    def alerts_panel(self) -> AlertsPanel:
        """Wait for the alerts the tool computes after saving (the panel replaces a spinner)."""
        self.session.wait_for(self.region, "attente du panneau des alertes")
        self.changed()
        return AlertsPanel(self, self.region)

    def read_back(self) -> Step1ReadBack:
        """The saved answers, from the term/value list of the screen."""
        tree = self.state()
        terms = [n.text() for n in tree.find_all("term")]
        values = [n.text() for n in tree.find_all("definition")]
        if len(terms) != len(values):
            raise ui_changed(self.heading_text, "termes et valeurs", "la liste des")
        shown_by_term: dict[str, str] = {}
        for term, value in zip(terms, values, strict=True):
            shown_by_term.setdefault(term, value)
        not_done = self.t.values["not_done"]
        shown: dict[str, str] = {}
        for name, term in self.t.terms.items():
            if term in shown_by_term:
                shown[name] = shown_by_term[term]
            elif name in STEP1_CONDITIONAL:  # a tool may leave them out instead of "not done"
                shown[name] = not_done
            else:
                raise ui_changed(self.heading_text, term, "la rubrique")
        known = set(self.t.terms.values()) | set(self.t.other_terms.values())
        allowed = self.texts.step1.extra_fields
        unexpected = {
            term: value
            for term, value in shown_by_term.items()
            if term not in known and allowed.get(term) != value
        }
        typed = {name: self._typed(name, text) for name, text in shown.items()}
        answers = _answers(typed)
        formats = self.texts.formats
        modes = {v: k for k, v in self.texts.step1.options["mode"].items()}
        return Step1ReadBack(
            answers=answers,
            assessed_on=formats.parse_date(shown["assessed_on"]) or shown["assessed_on"],
            mode=modes.get(shown["mode"], shown["mode"]),
            effecteur=shown["effecteur"],
            shown=shown,
            unexpected=unexpected,
        )

    def _typed(self, name: str, text: str) -> Any:
        v = self.t.values
        if text == v["not_done"]:
            return None
        if name in STEP1_YES_NO:
            return {v["yes"]: True, v["no"]: False}.get(text, text)
        if name in STEP1_INTEGERS:
            return int(text) if re.fullmatch(r"-?\d+", text) else text
        if name in STEP1_DECIMALS:
            parsed = self.texts.formats.parse_decimal(text)
            return text if parsed is None else parsed
        if name == "hearing_test":
            kinds = {t: k for k, t in self.texts.step1.options["hearing_test"].items()}
            return HearingTest(kinds[text]) if text in kinds else text
        return text


def _said(item: AriaNode) -> str:
    """What an alerts line says to assistive technologies: its own name (aria-label) when it
    has one, else its text and its images' names."""
    return " ".join(item.name.split()) if item.name and item.children else item.text()


def _answers(typed: dict[str, Any]) -> Step1Answers:
    """A Step1Answers from the typed screen values; unvalidated when they are inconsistent (a
    difference the read-back comparison then reports field by field)."""
    # Any: screen values of any type, unvalidated on purpose (see above).
    values: dict[str, Any] = {name: typed.get(name) for name in Step1Answers.model_fields}
    if typed.get("chair_rise_done") is False:
        values["chair_rise_seconds"] = None
    try:
        return Step1Answers.model_validate(values)
    except ValidationError:
        return Step1Answers.model_construct(**values)
