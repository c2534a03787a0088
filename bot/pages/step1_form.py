"""Saisie ICOPE – STEP 1: the form, field by field, and what its inputs hold after filling."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import SystemException
from bot.models import (
    HEARING_RESULT_FIELDS,
    STEP1_CONDITIONAL,
    STEP1_DECIMALS,
    STEP1_INTEGERS,
    HearingTest,
    Step1Answers,
)
from bot.pages.aria import CONTROL_ROLES, AriaNode, parse_snapshot
from bot.pages.screen import Fill, Screen, clean

if TYPE_CHECKING:
    from bot.pages.evaluation import EvaluationPage
    from bot.pages.session import TargetSession

__all__ = ["HEADER_FIELDS", "Step1FormPage", "form_values"]

#: Fields of the form's header (not answers).
HEADER_FIELDS = ("assessed_on", "mode", "effecteur")
#: Shown once their trigger is answered (chair_rise_done = yes, the hearing test chosen).
CONDITIONAL = frozenset(STEP1_CONDITIONAL)


def form_values(answers: Step1Answers) -> dict[str, Any]:
    """The answers as the form asks them, in screen order; conditional fields only when shown.

    ``chair_rise_done`` is the form's own question that reveals the duration; a hearing result
    field shows only for its test.
    """
    values: dict[str, Any] = {
        "memory_complaint": answers.memory_complaint,
        "orientation_year_ok": answers.orientation_year_ok,
        "orientation_month_ok": answers.orientation_month_ok,
        "orientation_weekday_ok": answers.orientation_weekday_ok,
        "orientation_day_ok": answers.orientation_day_ok,
        "orientation_place_ok": answers.orientation_place_ok,
        "words_recalled": answers.words_recalled,
        "chair_rise_done": answers.chair_rise_seconds is not None,
    }
    if answers.chair_rise_seconds is not None:
        values["chair_rise_seconds"] = answers.chair_rise_seconds
    values |= {
        "weight_loss_kg": answers.weight_loss_kg,
        "appetite_loss": answers.appetite_loss,
        "vision_problem": answers.vision_problem,
        "hearing_test": answers.hearing_test,
    }
    result_field = HEARING_RESULT_FIELDS.get(answers.hearing_test)
    if result_field is not None:
        values[result_field] = getattr(answers, result_field)
    values |= {
        "hearing_problem_reported": answers.hearing_problem_reported,
        "mood_down": answers.mood_down,
        "mood_little_interest": answers.mood_little_interest,
    }
    return values


class Step1FormPage(Screen):
    """Saisie ICOPE – STEP 1."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.step1
        self.heading_text = self.t.heading
        super().__init__(session)
        self.controls: dict[str, Locator] = {k: self.label(v) for k, v in self.t.labels.items()}
        # Each yes/no question by the ARIA role of the control the mapping declares for it.
        self.questions: dict[str, Locator] = {
            k: self.page.get_by_role(
                self.t.control_of(k).role,  # type: ignore[arg-type]  # one of three roles
                name=v,
                exact=True,
            )
            for k, v in self.t.radiogroups.items()
        }
        self.save_button = self.button(self.t.buttons["save"])
        self.alerts = self.page.get_by_role("alert")
        self.formats = self.texts.formats
        #: The fields the last :meth:`fill` had to set one by one (its one call could not).
        self.filled_one_by_one: list[str] = []

    # --- filling -----------------------------------------------------------------------------

    def fill(self, answers: Step1Answers, *, assessed_on: date, mode: str, effecteur: str) -> None:
        """Fill the header and every answer (``effecteur``: an option text, see
        :meth:`effecteur_choices`).

        The whole form goes in one browser call (:meth:`Screen.fill_controls`: each control
        found by its role and name, set with the events a person's input sends, read back in
        the same call); what that call could not do is then done field by field, as before, and
        named in :attr:`filled_one_by_one`. The flow reads every value back before saving.
        """
        values = self.header_values(assessed_on, mode, effecteur) | form_values(answers)
        # Every control shown from the start is checked at once (from the screen's one read,
        # with the mapping key to change when it is not as declared); the others once revealed.
        for name in values:
            if name not in CONDITIONAL:
                self._require_field(name)
        fills = {name: self._fill_of(name, value) for name, value in values.items()}
        extras = {label: self._extra_fill(label, v) for label, v in self.t.extra_fields.items()}
        left = self.fill_controls([*fills.values(), *extras.values()])
        self.filled_one_by_one = [name for name, fill in fills.items() if fill in left]
        # In screen order: a question that reveals another one is answered before it.
        for name in self.filled_one_by_one:
            self.set_field(name, values[name])
        for label, value in self.t.extra_fields.items():
            if extras[label] in left:
                self.filled_one_by_one.append(label)
                self._set_extra(label, value)

    @staticmethod
    def header_values(assessed_on: date, mode: str, effecteur: str) -> dict[str, Any]:
        return {"assessed_on": assessed_on, "mode": mode, "effecteur": effecteur}

    def _fill_of(self, name: str, value: Any) -> Fill:
        """One field for the one-call fill: a question by its control's role and name (the
        answer chosen by its text, or the box ticked), any other field by its label."""
        if name not in self.questions:
            return Fill(self.t.labels[name], self.text_for(name, value))
        control = self.t.control_of(name)
        text = self.t.radiogroups[name]
        if control.kind in ("radio", "select"):
            yes, no = self.t.answer_texts(name)
            return Fill(text, yes if value else no, control.role)
        return Fill(text, bool(value) if control.kind == "checkbox" else not value, "checkbox")

    def text_for(self, name: str, value: Any) -> str:
        """What a (non-question) field is given: the text typed, or the option's text."""
        if name == "assessed_on":
            return self.formats.format_date(value)
        if name == "mode":
            return self.t.mode_option(value)
        if name == "hearing_test":
            return self.t.hearing_option(value)
        if name in STEP1_DECIMALS:
            return self.formats.format_decimal(value)
        return str(value)

    def set_field(self, name: str, value: Any) -> None:
        """Give one field its value (a radio answer, a typed number, a chosen option)."""
        if name in CONDITIONAL:
            if name in self.questions:
                self.required(self.questions[name], self.t.radiogroups[name], "la question")
            else:
                self.required(self.controls[name], self.t.labels[name], "le champ")
        with self.acting(f"saisie de « {self.t.label_of(name)} »"):
            if name in self.questions:
                self._answer(name, bool(value))
            elif name in _SELECTS:
                self.controls[name].first.select_option(label=self.text_for(name, value))
            else:
                self.controls[name].first.fill(self.text_for(name, value))
        self.changed()

    def _answer(self, name: str, value: bool) -> None:
        """Answer a yes/no question through its control's role; an answer is chosen by its
        text, never by its position (Oui/Non may come in either order)."""
        control = self.t.control_of(name)
        question = self.questions[name].first
        # A plain form: no animation to wait for, so no stability check (it costs two frames
        # per click); the values are read back before saving anyway.
        if control.kind in ("radio", "select"):
            yes, no = self.t.answer_texts(name)
            text = yes if value else no
            if control.kind == "radio":
                question.get_by_role("radio", name=text, exact=True).check(force=True)
            else:
                question.select_option(label=text)
        else:
            ticked = value if control.kind == "checkbox" else not value
            question.set_checked(ticked, force=True)

    def _extra_fill(self, label: str, value: str) -> Fill:
        """A control the mapping declares beyond the answers, for the one-call fill."""
        node = self.require("label", label)
        if node.role == "checkbox":
            return Fill(label, _ticked(value), "checkbox")
        return Fill(label, value)

    def _set_extra(self, label: str, value: str) -> None:
        """A control the mapping declares beyond the answers: give it the declared value."""
        node = self.require("label", label)
        control = self.label(label).first
        with self.acting(f"saisie de « {label} »"):
            if node.role in ("combobox", "listbox"):
                if node.chosen() != value:
                    control.select_option(label=value)
            elif node.role == "checkbox":
                control.set_checked(_ticked(value))
            elif (node.value or "") != value:
                control.fill(value)
        self.changed()

    def unexpected_controls(self) -> list[str]:
        """The controls the form shows that the mapping does not know: "« label » (value)"."""
        tree = self.state()
        questions = {
            text: self.t.control_of(name).role for name, text in self.t.radiogroups.items()
        }
        known = set(self.t.labels.values()) | set(self.t.extra_fields)
        known |= {text for text, role in questions.items() if role != "radiogroup"}
        groups = {text for text, role in questions.items() if role == "radiogroup"}
        found: list[str] = []
        for group in tree.find_all("radiogroup"):
            if group.name not in groups:
                found.append(f"« {group.name} » (choix {', '.join(_names(group, 'radio'))})")
        in_groups = {
            id(radio) for group in tree.find_all("radiogroup") for radio in group.find_all("radio")
        }
        for node in tree.walk():
            if node.role not in CONTROL_ROLES or node.name in known or id(node) in in_groups:
                continue
            if node.role == "checkbox":
                found.append(f"« {node.name} » (case {'cochée' if node.checked else 'à cocher'})")
                continue
            shown = node.chosen() if node.role in ("combobox", "listbox") else node.value
            found.append(f"« {node.name} »" + (f" (valeur « {shown} »)" if shown else ""))
        return found

    def check_controls(self) -> None:
        """Stop before saving when the form has a control the mapping does not know (it would be
        saved with whatever the screen holds, a default value, without anyone choosing it), or
        no save button as the mapping names it (said before any click, so nothing is saved)."""
        self._require_save_button()
        unknown = self.unexpected_controls()
        if unknown:
            raise SystemException(
                f"Le formulaire « {self.heading_text} » montre un champ que le fichier de "
                f"correspondance ne prévoit pas : {', '.join(unknown)}. Rien n'a été "
                "enregistré. Si ce champ est attendu, déclarez-le avec la valeur à saisir dans "
                "step1.extra_fields du fichier de correspondance (voir "
                "docs/adapting-to-target-updates.md).",
                code="ui_changed",
            )

    def _require_field(self, name: str) -> None:
        if name not in self.questions:
            self.require("label", self.t.labels[name])
            return
        tree = self.state()
        node = self._question_node(tree, name)
        if node is None:
            raise self._question_changed(name, tree)
        control = self.t.control_of(name)
        if control.kind in ("radio", "select"):
            offered = _names(node, "radio" if control.kind == "radio" else "option")
            if any(text not in offered for text in self.t.answer_texts(name)):
                raise self._answers_changed(name, offered)

    def _question_node(self, tree: AriaNode, name: str) -> AriaNode | None:
        """The question's control on the screen read, by the role its kind gives it."""
        return tree.find(self.t.control_of(name).role, self.t.radiogroups[name])

    def _question_changed(self, name: str, tree: AriaNode) -> SystemException:
        """The question is not where its kind says: say what the screen shows under its text,
        and the mapping key that would describe it."""
        text = self.t.radiogroups[name]
        kind = self.t.control_of(name).kind
        now = next(
            (n for n in tree.walk() if n.name == text and n.role in _QUESTION_ROLES),
            None,
        )
        if now is not None:
            shown = f"la question « {text} » sous forme {_QUESTION_ROLES[now.role][0]}"
            advice = (
                f"Déclarez-la dans step1.controls.{name} avec kind: {_QUESTION_ROLES[now.role][1]}"
            )
        else:
            others = self.unexpected_controls()
            shown = f"plus la question « {text} »" + (
                f" ; il montre {', '.join(others)}" if others else ""
            )
            advice = (
                f"Mettez à jour son texte dans step1.radiogroups.{name} ou sa forme dans "
                f"step1.controls.{name} (kind: radio, select, checkbox ou not_done_box)"
            )
        return SystemException(
            f"Le formulaire « {self.heading_text} » montre {shown}, alors que le fichier de "
            f"correspondance l'attend sous forme {_KIND_WORDS[kind]}. Rien n'a été saisi ni "
            f"enregistré. {advice} (voir docs/adapting-to-target-updates.md).",
            code="ui_changed",
        )

    def _answers_changed(self, name: str, offered: list[str]) -> SystemException:
        text = self.t.radiogroups[name]
        yes, no = self.t.answer_texts(name)
        choices = ", ".join(f"« {o} »" for o in offered) or "aucune réponse"
        return SystemException(
            f"Sur le formulaire « {self.heading_text} », la question « {text} » propose "
            f"{choices} au lieu de « {yes} » et « {no} ». Rien n'a été saisi ni enregistré. "
            f"Déclarez les textes de ses réponses dans step1.controls.{name} ('yes' et 'no') "
            "du fichier de correspondance (voir docs/adapting-to-target-updates.md).",
            code="ui_changed",
        )

    def effecteur_choices(self) -> list[str]:
        """The effecteurs the form offers (option texts, the empty placeholder left out)."""
        self.require("label", self.t.labels["effecteur"])
        with self.acting("lecture des effecteurs proposés"):
            options = self.controls["effecteur"].first.get_by_role("option", include_hidden=True)
            pairs = options.evaluate_all("os => os.map(o => [o.value, o.textContent])")
        return [clean(text) for value, text in pairs if value]

    # --- what the inputs hold ----------------------------------------------------------------

    def read_fields(self, names: list[str]) -> dict[str, Any]:
        """What each field holds now, typed like :func:`form_values` (the text when unreadable,
        None when unanswered or absent). One read of the whole screen."""
        self.changed()
        tree = self.state()
        return {name: self._typed(name, tree) for name in names}

    def read_field(self, name: str) -> Any:
        return self.read_fields([name])[name]

    def _typed(self, name: str, tree: AriaNode) -> Any:
        if name in self.questions:
            node = self._question_node(tree, name)
            if node is None:
                return None
            kind = self.t.control_of(name).kind
            if kind in ("checkbox", "not_done_box"):
                return node.checked if kind == "checkbox" else not node.checked
            yes, no = self.t.answer_texts(name)
            chosen = node.chosen()
            return {yes: True, no: False}.get(chosen or "", chosen)
        control = tree.control(self.t.labels[name])
        if control is None:
            return None
        if name in ("mode", "hearing_test", "effecteur"):
            text = control.chosen() or ""
            options = self.t.options.get(name, {})
            reverse = {v: k for k, v in options.items()} if isinstance(options, dict) else {}
            if name == "hearing_test" and text in reverse:
                return HearingTest(reverse[text])
            return reverse.get(text, text)
        raw = control.value or ""
        if name == "assessed_on":
            return self.formats.parse_date(raw) or raw
        if name in STEP1_DECIMALS:
            parsed = self.formats.parse_decimal(raw)
            return raw if parsed is None else parsed
        if name in STEP1_INTEGERS:
            return int(raw) if re.fullmatch(r"-?\d+", raw.strip()) else raw
        return raw

    # --- saving --------------------------------------------------------------------------------

    def save(self) -> EvaluationPage | Step1FormPage:
        """Enregistrer: the saved evaluation, or this form again with its errors."""
        from bot.pages.evaluation import EvaluationPage

        evaluation = self.session.screen(EvaluationPage)
        self.check_controls()
        refused = len(self.session.refused_dialogs)
        with self.acting("enregistrement de la STEP 1"):
            self.save_button.first.click()
        self.changed()
        shown = self._await_saved(evaluation, refused)
        # What showed first says it, without a second look (most saves); else look.
        if shown is not None and evaluation.shown_in(shown):
            return evaluation
        if evaluation.is_showing():
            return evaluation.wait_loaded()
        if self.is_showing() and self.alerts.first.is_visible():
            return self
        raise self.session.diagnose("enregistrement de la STEP 1")

    def _require_save_button(self) -> None:
        """The save button, or ui_changed naming the buttons the form shows instead."""
        text = self.t.buttons["save"]
        tree = self.state()
        if tree.has("button", text):
            return
        shown = ", ".join(f"« {b.name} »" for b in tree.find_all("button") if b.name)
        raise SystemException(
            f"Le formulaire « {self.heading_text} » ne montre pas le bouton « {text} » "
            f"(boutons affichés : {shown or 'aucun'}). Rien n'a été enregistré. Si l'un d'eux "
            "enregistre la STEP 1, mettez son texte dans step1.buttons.save du fichier de "
            "correspondance (voir docs/adapting-to-target-updates.md).",
            code="ui_changed",
        )

    def _await_saved(self, evaluation: EvaluationPage, refused: int) -> AriaNode | None:
        """Wait for what follows "save": the evaluation, the form's errors, or a dialog. Only
        the confirmation the mapping declares is accepted (the browser's own confirm() by the
        session's handler, a page dialog here); any other one stops the entry at once instead
        of waiting out the timeout.

        Returns what showed first, as read (ARIA) in the same round trip as the wait; None
        when it was seen beside a dialog (the caller looks).
        """
        page = self.page
        modal = page.get_by_role("dialog").or_(page.get_by_role("alertdialog"))
        outcome = (
            evaluation.heading.or_(self.alerts)
            .or_(self.session.login_heading)
            .or_(self.session.error_heading)
        )
        expected = clean(self.t.confirmation.get("text", ""))
        button = self.t.confirmation.get("button", "")
        confirmed = False
        deadline = time.monotonic() + self.session.settings.timeout_ms / 1000
        while True:
            if len(self.session.refused_dialogs) > refused:
                text = self.session.refused_dialogs[-1]
                raise self._dialog_changed(text, "le navigateur a demandé")
            try:
                # Short waits: a native dialog is seen (by the session's handler) between two.
                shown = parse_snapshot(outcome.or_(modal).first.aria_snapshot(timeout=250))
            except PlaywrightTimeoutError:
                if time.monotonic() > deadline:
                    raise self.session.diagnose("enregistrement de la STEP 1") from None
                continue
            except PlaywrightError as e:
                raise SystemException(
                    "Le navigateur a échoué pendant l'enregistrement de la STEP 1.",
                    code="navigation",
                ) from e
            first = shown.children[0] if shown.children else None
            if first is None or first.role not in ("dialog", "alertdialog"):
                return shown  # an outcome showed, no dialog before it
            if outcome.first.is_visible() or not modal.first.is_visible():
                return None
            with self.acting("lecture de la fenêtre affichée après l'enregistrement"):
                name = clean(modal.first.get_attribute("aria-label") or "")
                text = clean(modal.first.inner_text())
            if self.session.info_modal.first.is_visible():
                self.session.clear_info_modal()  # the tool's information message, known
                continue
            if expected and expected in text and button and not confirmed:
                with self.acting(f"confirmation « {button} »"):
                    modal.first.get_by_role("button", name=button, exact=True).click()
                confirmed = True
                continue
            raise self._dialog_changed(text or name, "l'écran a affiché")

    def _dialog_changed(self, text: str, shown: str) -> SystemException:
        expected = self.t.confirmation.get("text", "")
        now = (
            f"la confirmation attendue est « {expected} »"
            if expected
            else ("aucune confirmation n'est attendue")
        )
        return SystemException(
            f"Après « {self.t.buttons['save']} », {shown} « {text} » ; {now}. La fenêtre a "
            "été refusée (rien n'est accepté sans être prévu) et la STEP 1 n'est pas "
            "enregistrée. Si cette confirmation est attendue, déclarez-la dans "
            "step1.confirmation (text, et button pour une fenêtre de la page) du fichier de "
            "correspondance.",
            code="ui_changed",
        )

    def errors(self) -> list[str]:
        """The error messages the form shows (after a refused save)."""
        with self.acting("lecture des erreurs du formulaire"):
            return [clean(t) for t in self.alerts.all_inner_texts() if t.strip()]


#: Roles a question may have on a screen: the words for messages, and the kind to declare.
_QUESTION_ROLES = {
    "radiogroup": ("de boutons radio", "radio"),
    "combobox": ("de liste déroulante", "select"),
    "listbox": ("de liste", "select"),
    "checkbox": ("de case à cocher", "checkbox (cochée = Oui) ou not_done_box (cochée = Non)"),
}
_KIND_WORDS = {
    "radio": "de boutons radio",
    "select": "de liste déroulante",
    "checkbox": "de case à cocher (cochée = Oui)",
    "not_done_box": "de case « non réalisé » (cochée = Non)",
}


#: Header and answer fields chosen in a list (the others are typed).
_SELECTS = frozenset({"mode", "hearing_test", "effecteur"})


def _ticked(value: str) -> bool:
    """A declared extra check box's value: ticked or not."""
    return value.strip().casefold() in ("oui", "coché", "true")


def _names(node: AriaNode, role: str) -> list[str]:
    return [n.name for n in node.find_all(role)]
