"""Créer un usager: the identity form."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.models import Identity
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

    def fill(self, identity: Identity, *, consent: bool) -> None:
        """Type the identity. No INS: only a qualified identity may carry it (RNIV), and a
        self-assessment is never checked against an identity document."""
        given: dict[str, str | None] = {
            "birth_name": identity.birth_name,
            "first_names": " ".join(identity.first_names),
            "used_name": identity.used_name,
            "used_first_name": identity.used_first_name,
            "birth_date": self.texts.formats.format_date(identity.birth_date),
            "birth_insee": identity.birth_insee,
            "address": identity.address,
            "phone": identity.phone,
            "email": identity.email,
        }
        values = {k: v for k, v in given.items() if v is not None}
        for key in [*values, "sex"]:
            self.require("label", self.t.labels[key])
        self.require("checkbox", self.t.checkboxes["consent"])
        for key, value in values.items():
            with self.acting(f"saisie de « {self.t.labels[key]} »"):
                self.fields[key].first.fill(value)
        with self.acting(f"choix de « {self.t.labels['sex']} »"):
            self.fields["sex"].first.select_option(label=self.t.sex_option(identity.sex))
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
        self.require("button", self.t.buttons["submit"])
        with self.acting("création de l'usager"):
            self.submit_button.first.click()
            self.changed()
            dossier.heading.or_(duplicate.heading).or_(self.alerts).or_(
                self.session.login_heading
            ).or_(self.session.error_heading).first.wait_for()
        if dossier.is_showing():
            return dossier.wait_loaded()
        if duplicate.is_showing():
            return duplicate.wait_loaded()
        if self.is_showing():
            return self
        raise self.session.diagnose("création de l'usager")

    def errors(self) -> list[str]:
        """The error messages the form shows."""
        with self.acting("lecture des erreurs du formulaire"):
            return [clean(t) for t in self.alerts.all_inner_texts() if t.strip()]
