"""Compare alerts domain by domain across three sources, and a read-back with its source.

Sources: the app (ICOPE et Moi's own alerts, from the export), the target (what the e-parcours
tool shows after saving) and the reference rules (:mod:`bot.icope` applied to the source answers).
Every difference is explained in words a reviewer understands.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.icope import Rules, explain
from bot.models import DOMAIN_LABELS, DOMAINS, Alerts, Step1Answers

__all__ = [
    "Concordance",
    "DomainComparison",
    "FieldDifference",
    "compare_alerts",
    "compare_readback",
]

APP = "ICOPE et Moi"
TARGET = "l'e-parcours"


def _says(alert: bool) -> str:
    return "donne une alerte" if alert else "ne donne pas d'alerte"


@dataclass(frozen=True)
class DomainComparison:
    domain: str
    app: bool
    target: bool
    reference: bool
    facts: str  # what the source answers say, e.g. "lever de chaise 16 s (seuil 14 s)"

    @property
    def agree(self) -> bool:
        return self.app == self.target == self.reference

    def explanation(self) -> str:
        """E.g. "Mobilité : alerte dans ICOPE et Moi, pas dans l'e-parcours ; la règle de
        référence donne une alerte (lever de chaise 16 s (seuil 14 s))"."""
        label = DOMAIN_LABELS[self.domain]
        if self.app == self.target:
            both = "alerte" if self.app else "pas d'alerte"
            where = f"{both} dans {APP} et dans {TARGET}"
        else:
            yes, no = (APP, TARGET) if self.app else (TARGET, APP)
            where = f"alerte dans {yes}, pas dans {no}"
        return f"{label} : {where} ; la règle de référence {_says(self.reference)} ({self.facts})"


@dataclass(frozen=True)
class Concordance:
    comparisons: tuple[DomainComparison, ...]

    @property
    def agree(self) -> bool:
        return all(c.agree for c in self.comparisons)

    def differences(self) -> list[DomainComparison]:
        return [c for c in self.comparisons if not c.agree]

    def reason(self) -> str:
        """One line for the queue's reason column."""
        if self.agree:
            return "Alertes concordantes"
        labels = ", ".join(DOMAIN_LABELS[c.domain] for c in self.differences())
        return f"Alertes discordantes : {labels}"

    def details(self) -> str:
        """One line per differing domain."""
        return "\n".join(c.explanation() for c in self.differences())

    def as_result(self) -> dict[str, dict[str, bool]]:
        """Alerts by source and domain, for the queue's result column and the review file."""
        return {
            "app": {c.domain: c.app for c in self.comparisons},
            "target": {c.domain: c.target for c in self.comparisons},
            "reference": {c.domain: c.reference for c in self.comparisons},
        }


def compare_alerts(
    app: Alerts,
    target: Alerts,
    reference: Alerts,
    answers: Step1Answers,
    rules: Rules | None = None,
    age: int | None = None,
) -> Concordance:
    """Compare the three alert sets domain by domain."""
    return Concordance(
        tuple(
            DomainComparison(
                domain=d,
                app=getattr(app, d),
                target=getattr(target, d),
                reference=getattr(reference, d),
                facts=explain(d, answers, rules, age),
            )
            for d in DOMAINS
        )
    )


@dataclass(frozen=True)
class FieldDifference:
    field: str
    entered: object  # what the source says should have been entered
    read_back: object  # what the target shows after saving

    def explanation(self, label: str | None = None) -> str:
        return f"{label or self.field} : attendu « {self.entered} », relu « {self.read_back} »"


def compare_readback(source: Step1Answers, read_back: Step1Answers) -> list[FieldDifference]:
    """Every answer whose saved value differs from the source (a mis-entry to catch)."""
    expected, actual = source.model_dump(), read_back.model_dump()
    return [
        FieldDifference(name, expected[name], actual[name])
        for name in Step1Answers.model_fields
        if expected[name] != actual[name]
    ]
