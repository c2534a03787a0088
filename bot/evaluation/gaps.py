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


def _frame(kind: str, df: pd.DataFrame, why: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Écart": GAP_KINDS[kind],
            "Référence": df["reference"],
            "N° dossier": df["dossier_id"],
            "N° évaluation": df["step1_id"],
            "Date": df["assessed_on"].dt.date,
            "Territoire": df["territory"],
            "État": df["state"].map(lambda s: STATE_LABELS[ItemState(s)]),
            "Explication": why,
        },
        columns=GAP_COLUMNS,
    )


def _differing_domains(df: pd.DataFrame) -> pd.Series:
    """Per row, the domains whose known alerts disagree across the sources ("" when none)."""
    names = pd.Series("", index=df.index, dtype=object)
    for d in DOMAINS:
        said = df[[f"{k}_{d}" for k in ("app", "target", "rules")]].astype("float")
        differ = (said.max(axis=1) != said.min(axis=1)) & said.max(axis=1).notna()
        label = DOMAIN_LABELS[d]
        names = names.where(
            ~differ, names.map(lambda s, label=label: f"{s}, {label}" if s else label)
        )
    return names


def gaps(led: pd.DataFrame, exp: pd.DataFrame) -> pd.DataFrame:
    """The gap list (see the module docstring), oldest first."""
    parts = []
    missing = led[~led["entered"]]
    parts.append(
        _frame("not_entered", missing, missing["reason"].replace("", "pas encore traitée"))
    )
    known = exp.loc[exp["kind"].eq("step1"), "evaluation"]
    lost = led[led["entered"] & ~led["step1_id"].isin(known)]
    why = "l'évaluation n'est plus dans l'e-parcours (supprimée, ou export incomplet)"
    parts.append(_frame("lost", lost, why))
    review = led[led["state"].eq("needs_review")]
    differ = _differing_domains(review)
    open_ = review[differ != ""]
    parts.append(_frame("discordance", open_, "domaines : " + differ[differ != ""]))

    linked = set(led.loc[led["entered"], "step1_id"])
    auto = exp[exp["kind"].eq("step1") & exp["mode"].eq("auto")].copy()
    auto["linked"] = auto["evaluation"].isin(linked)
    same_day = auto.groupby(["dossier", "date"])
    auto["twins"] = same_day["evaluation"].transform("size")
    auto["twin_linked"] = same_day["linked"].transform("any")
    orphans = auto[~auto["linked"]]
    twin = (orphans["twins"] > 1) | orphans["twin_linked"]
    parts.append(
        pd.DataFrame(
            {
                "Écart": twin.map({True: GAP_KINDS["duplicate"], False: GAP_KINDS["no_record"]}),
                "Référence": "",
                "N° dossier": orphans["dossier"],
                "N° évaluation": orphans["evaluation"],
                "Date": orphans["date"].dt.date,
                "Territoire": orphans["territory"],
                "État": "",
                "Explication": twin.map(
                    {
                        True: "une autre STEP 1 auto-évaluation du même jour existe dans ce dossier",
                        False: "saisie à la main ? aucune auto-évaluation ICOPE et Moi reçue "
                        "par le robot",
                    }
                ),
            },
            columns=GAP_COLUMNS,
        )
    )
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=GAP_COLUMNS)
    )
    return out.sort_values(["Date", "Écart"], kind="stable").reset_index(drop=True)
