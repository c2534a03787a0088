"""Gaps between the two tools, item by item (a private list: it never leaves the machine).

Three kinds of gap, each row with the references needed to look it up (queue reference,
e-parcours dossier and evaluation numbers) and never a name:

- an auto-évaluation received by the robot that is not (yet) in the e-parcours, and why (its
  state and the last reason the queue recorded); or whose recorded STEP 1 is missing from the
  e-parcours's export;
- an auto-évaluation STEP 1 in the e-parcours with no ICOPE et Moi record behind it: entered by
  hand, or a probable duplicate when the dossier has another one of the same day;
- a discordance of alerts still open (the item waits for the reviewer).
"""

from __future__ import annotations

import pandas as pd

from bot.models import DOMAIN_LABELS, DOMAINS, ItemState
from bot.workqueue import STATE_LABELS

__all__ = ["GAP_COLUMNS", "GAP_KINDS", "gaps"]

GAP_KINDS = {
    "not_entered": "Auto-évaluation absente de l'e-parcours",
    "lost": "STEP 1 saisie par le robot absente de l'export e-parcours",
    "no_record": "STEP 1 auto-évaluation sans auto-évaluation reçue",
    "duplicate": "STEP 1 auto-évaluation en double probable",
    "discordance": "Discordance d'alertes non tranchée",
}
GAP_COLUMNS = [
    "Écart",
    "Référence",
    "N° dossier",
    "N° évaluation",
    "Date",
    "Territoire",
    "État",
    "Explication",
]


def _state(value: str) -> str:
    return STATE_LABELS[ItemState(value)]


def gaps(led: pd.DataFrame, exp: pd.DataFrame) -> pd.DataFrame:
    """The gap list (see the module docstring), oldest first."""
    rows: list[dict[str, object]] = []
    known = set(exp.loc[exp["kind"].eq("step1"), "evaluation"])
    for r in led.itertuples(index=False):
        base = {
            "Référence": r.reference,
            "N° dossier": r.dossier_id,
            "N° évaluation": r.step1_id,
            "Date": r.assessed_on.date(),
            "Territoire": r.territory,
            "État": _state(r.state),
        }
        if not r.entered:
            why = r.reason or "pas encore traitée"
            rows.append({**base, "Écart": GAP_KINDS["not_entered"], "Explication": why})
        elif r.step1_id not in known:
            why = "l'évaluation n'est plus dans l'e-parcours (supprimée, ou export incomplet)"
            rows.append({**base, "Écart": GAP_KINDS["lost"], "Explication": why})
        if r.state == "needs_review":
            differ = []
            for d in DOMAINS:
                said = {getattr(r, f"{k}_{d}") for k in ("app", "target", "rules")}
                said.discard(None)
                said = {bool(x) for x in said if not pd.isna(x)}
                if len(said) > 1:
                    differ.append(DOMAIN_LABELS[d])
            if differ:
                why = "domaines : " + ", ".join(differ)
                rows.append({**base, "Écart": GAP_KINDS["discordance"], "Explication": why})
    linked = set(led.loc[led["entered"], "step1_id"])
    auto = exp[exp["kind"].eq("step1") & exp["mode"].eq("auto")]
    for r in auto.itertuples(index=False):
        if r.evaluation in linked:
            continue
        same_day = auto[(auto["dossier"] == r.dossier) & (auto["date"] == r.date)]
        twin = same_day["evaluation"].isin(linked).any() or len(same_day) > 1
        kind = "duplicate" if twin else "no_record"
        why = (
            "une autre STEP 1 auto-évaluation du même jour existe dans ce dossier"
            if twin
            else "saisie à la main ? aucune auto-évaluation ICOPE et Moi reçue par le robot"
        )
        rows.append(
            {
                "Écart": GAP_KINDS[kind],
                "Référence": "",
                "N° dossier": r.dossier,
                "N° évaluation": r.evaluation,
                "Date": r.date.date(),
                "Territoire": r.territory,
                "État": "",
                "Explication": why,
            }
        )
    out = pd.DataFrame(rows, columns=GAP_COLUMNS)
    return out.sort_values(["Date", "Écart"], kind="stable").reset_index(drop=True)
