"""Créer un usager: the identity form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from bot.models import Sex
from bot.pages.screen import Screen, clean

if TYPE_CHECKING:
    from bot.pages.dossier import DossierPage
    from bot.pages.duplicate import DuplicateWarningPage
    from bot.pages.session import TargetSession

__all__ = ["UsagerFormPage"]


class UsagerFormPage(Screen):
    """Créer un usager. A dossier created from a self-assessment keeps a provisional identity."""

    def __init__(self, session: TargetSession) -> None:
        self.t = session.mapping.usager_form
        self.heading_text = self.t.heading
        super().__init__(session)
        self.fields = {key: self.label(text) for key, text in self.t.labels.items()}
        self.consent = self.page.get_by_role(
            "checkbox", name=self.t.checkboxes["consent"], exact=True
        )
        self.submit_button = self.button(self.t.buttons["submit"])
        self.alerts = self.page.get_by_role("alert")
        self._submit_seen = False  # the submit button was in the read that filled the form

    def fill(self, fields: Mapping[str, str | date], *, sex: Sex, consent: bool) -> None:
        """Type the given fields (label key → value; dates in the target's format) and the sex.

        Which identity fields to type is the flow's decision (:func:`bot.flows.identity.
        fields_to_type`); the page types what it is given, nothing more.
        """
        formats = self.texts.formats
        values = {
            key: formats.format_date(v) if isinstance(v, date) else v for key, v in fields.items()
        }
        for key in [*values, "sex"]:
            self.require("label", self.t.labels[key])
        self.require("checkbox", self.t.checkboxes["consent"])
        self.require("button", self.t.buttons["submit"])  # from the same read: not again
        self._submit_seen = True
        labels = self.t.labels
        consent_label = self.t.checkboxes["consent"]
        wanted: dict[str, str | bool] = {labels[key]: value for key, value in values.items()}
        wanted[labels["sex"]] = self.t.sex_option(sex)
        wanted[consent_label] = consent
        left = set(self.fill_in_one(wanted))
        for key, value in values.items():
            if labels[key] in left:
                with self.acting(f"saisie de « {labels[key]} »"):
                    self.fields[key].first.fill(value)
        if labels["sex"] in left:
            with self.acting(f"choix de « {labels['sex']} »"):
                self.fields["sex"].first.select_option(label=self.t.sex_option(sex))
        if consent_label in left:
            with self.acting("consentement"):
                self.consent.first.set_checked(consent)
        self.changed()

    def submit(self) -> DossierPage | DuplicateWarningPage | UsagerFormPage:
        """Send the form: the new dossier, the potential-double warning, or this form with
        its errors (read them with :meth:`errors`)."""
        from bot.pages.dossier import DossierPage
        from bot.pages.duplicate import DuplicateWarningPage

        dossier = self.session.screen(DossierPage)
        duplicate = self.session.screen(DuplicateWarningPage)
        if not self._submit_seen:
            self.require("button", self.t.buttons["submit"])
        with self.acting("création de l'usager"):
            self.submit_button.first.click()
        self.changed()
        shown = self.session.first_shown(
            dossier.heading.or_(duplicate.heading).or_(self.alerts),
            "création de l'usager",
            failed="Le navigateur a échoué pendant : création de l'usager.",
        )
        # What showed first says which screen came, without a second look at the page; an
        # alert first (a message above a heading) is told apart by looking.
        if dossier.shown_in(shown, whole=True):
            return dossier
        if duplicate.shown_in(shown, whole=True):
            return duplicate
        if dossier.is_showing():
            return dossier.wait_loaded()
        if duplicate.is_showing():
            return duplicate.wait_loaded()
        if self.is_showing():
            return self
        raise self.session.diagnose("création de l'usager")

    def errors(self) -> list[str]:
        """The error messages the form shows, each field's prefixed with the field's label.

        A message such as "Seules les lettres… sont admises" does not say which field it is
        about: the field marked invalid (``aria-invalid``) names it, through the message its
        ``aria-describedby`` points to.
        """
        with self.acting("lecture des erreurs du formulaire"):
            shown = [clean(t) for t in self.alerts.all_inner_texts() if t.strip()]
            labelled, placed = [], set()
            for key, field in self.fields.items():
                if field.count() == 0 or field.first.get_attribute("aria-invalid") != "true":
                    continue
                for ref in (field.first.get_attribute("aria-describedby") or "").split():
                    message = self.page.locator(f"[id='{ref}'][role='alert']")
                    if message.count():
                        text = clean(message.first.inner_text())
                        labelled.append(f"{self.t.labels[key]} : {text}")
                        placed.add(text)
            return labelled + [t for t in shown if t not in placed]
