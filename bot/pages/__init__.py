"""Page objects: one per screen of the e-parcours tool, texts from ``mappings/target.yaml``.

::

    LoginPage ─► OtpPage ─► HomePage ─► SearchPage ─► ResultsPage ─► DossierPage
                                              └─► UsagerFormPage ─► DossierPage | DuplicateWarningPage
    DossierPage ─► EvaluationChooserPage ─► Step1FormPage ─► EvaluationPage (+ AlertsPanel)

:class:`TargetSession` holds the browser page, the login and the information message handler.
"""

from bot.pages.chooser import EvaluationChooserPage
from bot.pages.dossier import DossierPage, EvaluationRow
from bot.pages.duplicate import DuplicateWarningPage
from bot.pages.evaluation import AlertsPanel, EvaluationPage, Step1ReadBack
from bot.pages.home import HomePage
from bot.pages.login import LoginPage, OtpPage
from bot.pages.mapping import TargetMapping, load_mapping
from bot.pages.screen import Screen, SessionExpired
from bot.pages.search import ResultsPage, SearchPage, UsagerRow
from bot.pages.session import TargetSession
from bot.pages.step1_form import Step1FormPage, form_values
from bot.pages.usager_form import UsagerFormPage

__all__ = [
    "AlertsPanel",
    "DossierPage",
    "DuplicateWarningPage",
    "EvaluationChooserPage",
    "EvaluationPage",
    "EvaluationRow",
    "HomePage",
    "LoginPage",
    "OtpPage",
    "ResultsPage",
    "Screen",
    "SearchPage",
    "SessionExpired",
    "Step1FormPage",
    "Step1ReadBack",
    "TargetMapping",
    "TargetSession",
    "UsagerFormPage",
    "UsagerRow",
    "form_values",
    "load_mapping",
]
