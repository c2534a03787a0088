"""Compute: the ledger and the e-parcours export → the evaluation's aggregate tables.

Pure functions of two pandas tables (see :mod:`bot.evaluation.collect`), per month and per
territory ("Ensemble" plus each territory found). Every table is a :class:`Table` so that the
writers can mask small counts the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from bot.evaluation.collect import SOURCES, Period
from bot.evaluation.tables import TOTAL, Table
from bot.models import DOMAIN_LABELS, DOMAINS

__all__ = [
    "ALL",
    "DELAY_BANDS",
    "FOLLOW_UP_DAYS",
    "RETURN_WINDOW",
    "Evaluation",
    "compute",
]

ALL = TOTAL
#: Days after a STEP 1 with an alert within which a STEP 2 counts as follow-up.
FOLLOW_UP_DAYS = (30, 60, 90)
#: A later STEP 1 of the same dossier this many days after the first is a "return" (~6 months).
RETURN_WINDOW = (150, 220)
#: Delay bands (days, both ends included) of the delay distribution.
DELAY_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0–1 j", 0, 1),
    ("2–3 j", 2, 3),
    ("4–7 j", 4, 7),
    ("8–14 j", 8, 14),
    ("15–30 j", 15, 30),
    ("plus de 30 j", 31, 10**6),
)
PAIRS: dict[str, tuple[str, str]] = {
    "ICOPE et Moi / e-parcours": ("app", "target"),
    "e-parcours / Règles": ("target", "rules"),
}
MODES = {"auto": "Auto-évaluation", "hetero": "Hétéroévaluation"}
_WAITING = {"pending", "in_progress", "retry_wait", "failed"}


@dataclass
class Evaluation:
    """Every aggregate table of the report, and the headline figures."""

    period: Period
    territory: str  # ALL, or the one territory asked for
    tables: dict[str, Table] = field(default_factory=dict)
    observed_until: date | None = None  # the export's day: later follow-up is not known yet


def _per_territory(
    df: pd.DataFrame, territory: str, build: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """``build`` for everyone ("Ensemble") then for each territory, with a Territoire column."""
    parts = []
    names = [ALL, *sorted(df["territory"].dropna().unique())] if territory == ALL else [territory]
    for name in names:
        sub = df if name == ALL else df[df["territory"] == name]
        built = build(sub)
        built.insert(0, "Territoire", name)
        parts.append(built)
    return pd.concat(parts, ignore_index=True)


def _months(period: Period) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(period.start, period.end, freq="M")]


# --- volumes ------------------------------------------------------------------------------------


def _volumes(led: pd.DataFrame, period: Period, territory: str) -> Table:
    months = _months(period)

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        state = sub["state"]
        columns = {
            "Reçues": pd.Series(True, index=sub.index),
            "Saisies": sub["entered"],
            "Non saisies": ~sub["entered"],
            "Terminées": state.isin(["done", "approved"]),
            "À vérifier": state.eq("needs_review"),
            "En attente": state.isin(_WAITING),
            "Invalides": state.eq("invalid"),
            "Rejetées": state.eq("rejected"),
        }
        counts = pd.DataFrame(columns).astype(int)
        counts["Mois"] = sub["month"]
        out = counts.groupby("Mois").sum().reindex(months, fill_value=0)
        return out.reset_index(names="Mois")

    frame = _per_territory(led, territory, build)
    counts = [c for c in frame.columns if c not in ("Territoire", "Mois")]
    return Table(
        key="volumes",
        title="Auto-évaluations reçues par mois et ce qu'elles sont devenues",
        frame=frame,
        labels=["Territoire", "Mois"],
        counts=counts,
        rates={},
        sums=[
            ("Reçues", ["Saisies", "Non saisies"]),
            ("Reçues", ["Terminées", "À vérifier", "En attente", "Invalides", "Rejetées"]),
        ],
        partition=["Territoire"],
        note="Saisies : la STEP 1 est enregistrée dans l'e-parcours. Le mois est celui de "
        "l'auto-évaluation (de la réception pour une ligne invalide).",
    )


def _eparcours_volumes(exp: pd.DataFrame, period: Period, territory: str) -> Table:
    months = _months(period)

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        step1 = sub["kind"].eq("step1")
        columns = {
            "STEP 1": step1,
            "STEP 1 hétéroévaluation": step1 & sub["mode"].eq("hetero"),
            "STEP 1 auto-évaluation": step1 & sub["mode"].eq("auto"),
            "STEP 2": sub["kind"].eq("step2"),
        }
        counts = pd.DataFrame(columns).astype(int)
        counts["Mois"] = sub["month"]
        return counts.groupby("Mois").sum().reindex(months, fill_value=0).reset_index(names="Mois")

    frame = _per_territory(exp, territory, build)
    return Table(
        key="e-parcours",
        title="STEP 1 (par mode) et STEP 2 enregistrées dans l'e-parcours, par mois",
        frame=frame,
        labels=["Territoire", "Mois"],
        counts=["STEP 1", "STEP 1 hétéroévaluation", "STEP 1 auto-évaluation", "STEP 2"],
        sums=[("STEP 1", ["STEP 1 hétéroévaluation", "STEP 1 auto-évaluation"])],
        partition=["Territoire"],
        note="D'après l'export des évaluations téléchargé dans l'e-parcours.",
    )


# --- delays -------------------------------------------------------------------------------------


def entry_delays(led: pd.DataFrame) -> pd.Series:
    """Days from the self-assessment to its entry in the e-parcours, for entered items."""
    entered = led[led["entered"] & led["entered_at"].notna()]
    at = entered["entered_at"].dt.tz_convert("Europe/Paris").dt.tz_localize(None).dt.normalize()
    days: pd.Series = (at - entered["assessed_on"]).dt.days.clip(lower=0)
    return days


def _delays(led: pd.DataFrame, period: Period, territory: str) -> Table:
    months = _months(period)

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        days = entry_delays(sub)
        month = sub.loc[days.index, "month"]
        grouped = days.groupby(month)
        out = pd.DataFrame(
            {
                "Saisies": grouped.size(),
                "Délai médian (jours)": grouped.median(),
                "Délai P90 (jours)": grouped.quantile(0.9),
            }
        ).reindex(months)
        out["Saisies"] = out["Saisies"].fillna(0).astype(int)
        total = pd.DataFrame(
            {
                "Saisies": [len(days)],
                "Délai médian (jours)": [days.median() if len(days) else None],
                "Délai P90 (jours)": [days.quantile(0.9) if len(days) else None],
            },
            index=["Période"],
        )
        return pd.concat([out, total]).reset_index(names="Mois")

    return Table(
        key="delais",
        title="Délai entre l'auto-évaluation et sa saisie dans l'e-parcours (jours)",
        frame=_per_territory(led, territory, build),
        labels=["Territoire", "Mois"],
        counts=["Saisies"],
        stats={"Délai médian (jours)": "Saisies", "Délai P90 (jours)": "Saisies"},
        note="P90 : 9 saisies sur 10 ont été faites dans ce délai.",
    )


def _delay_distribution(led: pd.DataFrame, territory: str) -> Table:
    def build(sub: pd.DataFrame) -> pd.DataFrame:
        days = entry_delays(sub)
        rows = [(label, int(days.between(lo, hi).sum())) for label, lo, hi in DELAY_BANDS]
        return pd.DataFrame(rows, columns=["Délai", "Saisies"])

    return Table(
        key="delais-repartition",
        title="Répartition des délais de saisie",
        frame=_per_territory(led, territory, build),
        labels=["Territoire", "Délai"],
        counts=["Saisies"],
        partition=["Territoire"],
    )


# --- alerts -------------------------------------------------------------------------------------


def _rate_rows(flags: pd.DataFrame) -> tuple[int, int]:
    known = flags.notna().all(axis=1)
    return int(known.sum()), int(flags[known].fillna(False).any(axis=1).sum())


def _alert_rates(led: pd.DataFrame, exp: pd.DataFrame, territory: str) -> Table:
    step1 = exp[exp["kind"].eq("step1")]

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for key, source in SOURCES.items():
            for d in DOMAINS:
                col = sub[f"{key}_{d}"]
                n, yes = int(col.notna().sum()), int(col.fillna(False).sum())
                rows.append((DOMAIN_LABELS[d], source, n, yes))
            n, yes = _rate_rows(sub[[f"{key}_{d}" for d in DOMAINS]])
            rows.append(("Au moins une alerte", source, n, yes))
        return pd.DataFrame(rows, columns=["Domaine", "Source", "Évaluées", "En alerte"])

    def build_export(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for d in DOMAINS:
            rows.append(
                (
                    DOMAIN_LABELS[d],
                    "e-parcours (toutes STEP 1)",
                    len(sub),
                    int(sub[f"alert_{d}"].sum()),
                )
            )
        anyone = sub[[f"alert_{d}" for d in DOMAINS]].any(axis=1)
        rows.append(
            ("Au moins une alerte", "e-parcours (toutes STEP 1)", len(sub), int(anyone.sum()))
        )
        return pd.DataFrame(rows, columns=["Domaine", "Source", "Évaluées", "En alerte"])

    frame = pd.concat(
        [_per_territory(led, territory, build), _per_territory(step1, territory, build_export)],
        ignore_index=True,
    )
    frame["Sans alerte"] = frame["Évaluées"] - frame["En alerte"]
    frame["Taux d'alerte"] = frame["En alerte"] / frame["Évaluées"].where(frame["Évaluées"] > 0)
    order = {name: i for i, name in enumerate([ALL, *sorted(set(frame["Territoire"]) - {ALL})])}
    frame = frame.sort_values("Territoire", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )
    return Table(
        key="alertes",
        title="Taux d'alerte par domaine et par source",
        frame=frame,
        labels=["Territoire", "Domaine", "Source"],
        counts=["Évaluées", "En alerte", "Sans alerte"],
        rates={"Taux d'alerte": ("En alerte", "Évaluées")},
        sums=[("Évaluées", ["En alerte", "Sans alerte"])],
        note="ICOPE et Moi, e-parcours et Règles : les auto-évaluations reçues par le robot "
        "(e-parcours : celles qu'il a saisies). « e-parcours (toutes STEP 1) » : toutes les "
        "STEP 1 de l'export, hétéroévaluations comprises.",
    )


# --- concordance --------------------------------------------------------------------------------


def _pair_counts(sub: pd.DataFrame, a: str, b: str, d: str) -> tuple[int, int]:
    x, y = sub[f"{a}_{d}"], sub[f"{b}_{d}"]
    both = x.notna() & y.notna()
    return int(both.sum()), int((x[both] == y[both]).sum())


def _with_agreement(frame: pd.DataFrame) -> pd.DataFrame:
    frame["Discordantes"] = frame["Comparées"] - frame["Concordantes"]
    frame["Taux de concordance"] = frame["Concordantes"] / frame["Comparées"].where(
        frame["Comparées"] > 0
    )
    return frame


def _concordance(led: pd.DataFrame, territory: str) -> Table:
    def build(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for pair, (a, b) in PAIRS.items():
            for d in DOMAINS:
                n, same = _pair_counts(sub, a, b, d)
                rows.append((DOMAIN_LABELS[d], pair, n, same))
        return pd.DataFrame(rows, columns=["Domaine", "Comparaison", "Comparées", "Concordantes"])

    return Table(
        key="concordance",
        title="Concordance des alertes par domaine",
        frame=_with_agreement(_per_territory(led, territory, build)),
        labels=["Territoire", "Domaine", "Comparaison"],
        counts=["Comparées", "Concordantes", "Discordantes"],
        rates={"Taux de concordance": ("Concordantes", "Comparées")},
        sums=[("Comparées", ["Concordantes", "Discordantes"])],
    )


def _concordance_by_month(led: pd.DataFrame, period: Period, territory: str) -> Table:
    """The monthly trend for everyone, then for each territory (side by side in one table)."""
    months = _months(period)
    order = {m: i for i, m in enumerate(months)}

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for pair, (a, b) in PAIRS.items():
            for d in DOMAINS:
                x, y = sub[f"{a}_{d}"], sub[f"{b}_{d}"]
                both = x.notna() & y.notna()
                same = both & (x.fillna(False) == y.fillna(False))
                grouped = pd.DataFrame({"Comparées": both, "Concordantes": same}).astype(int)
                counts = grouped.groupby(sub["month"]).sum().reindex(months, fill_value=0)
                counts.insert(0, "Comparaison", pair)
                counts.insert(0, "Domaine", DOMAIN_LABELS[d])
                parts.append(counts.reset_index(names="Mois"))
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.sort_values("Mois", key=lambda s: s.map(order), kind="stable")
        frame = frame[["Mois", "Domaine", "Comparaison", "Comparées", "Concordantes"]]
        return frame.reset_index(drop=True)

    frame = _per_territory(led, territory, build)
    return Table(
        key="concordance-mois",
        title="Concordance des alertes par mois",
        frame=_with_agreement(frame),
        labels=["Territoire", "Mois", "Domaine", "Comparaison"],
        counts=["Comparées", "Concordantes", "Discordantes"],
        rates={"Taux de concordance": ("Concordantes", "Comparées")},
        sums=[("Comparées", ["Concordantes", "Discordantes"])],
    )


def _yes_no(v: object) -> str:
    return "alerte" if bool(v) else "pas d'alerte"


def _discordances(led: pd.DataFrame, territory: str) -> Table:
    def build(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for d in DOMAINS:
            said = sub[[f"{k}_{d}" for k in SOURCES]]
            known = said.notna().all(axis=1).to_numpy()
            bits = said.fillna(False).to_numpy(dtype=bool)[known]
            # app, e-parcours, rules → a 3-bit code; 0 (none) and 7 (all) are agreements
            codes = np.bincount(bits @ np.array([4, 2, 1]), minlength=8)
            for code in range(1, 7):
                if codes[code]:
                    said_by = [bool(code & 4), bool(code & 2), bool(code & 1)]
                    rows.append((DOMAIN_LABELS[d], *map(_yes_no, said_by), int(codes[code])))
        return pd.DataFrame(rows, columns=["Domaine", *SOURCES.values(), "Nombre"])

    return Table(
        key="discordances",
        title="Détail des discordances : ce que disait chaque source",
        frame=_per_territory(led, territory, build),
        labels=["Territoire", "Domaine", *SOURCES.values()],
        counts=["Nombre"],
        partition=["Territoire", "Domaine"],
        note="Une ligne par combinaison rencontrée parmi les auto-évaluations où les trois "
        "sources ne disent pas toutes la même chose.",
    )


# --- follow-up, returns -------------------------------------------------------------------------


def step2_delays(exp: pd.DataFrame) -> pd.DataFrame:
    """STEP 1s with an alert, and the days to the first later STEP 2 of the dossier (or NaN)."""
    step1 = exp[exp["kind"].eq("step1")]
    alerted = step1[step1[[f"alert_{d}" for d in DOMAINS]].any(axis=1)]
    step2 = exp.loc[exp["kind"].eq("step2"), ["dossier", "date"]].rename(columns={"date": "s2"})
    merged = alerted[["evaluation", "dossier", "date", "mode", "territory"]].merge(
        step2, on="dossier", how="left"
    )
    # A STEP 2 before this STEP 1 (the follow-up of an earlier one) is not its follow-up.
    merged.loc[merged["s2"] < merged["date"], "s2"] = pd.NaT
    merged["days"] = (merged["s2"] - merged["date"]).dt.days
    first = merged.groupby("evaluation", as_index=False).agg(
        dossier=("dossier", "first"),
        date=("date", "first"),
        mode=("mode", "first"),
        territory=("territory", "first"),
        days=("days", "min"),
    )
    return first


def _follow_up(exp: pd.DataFrame, period: Period, territory: str, until: date) -> Table:
    delays = step2_delays(exp)
    last_day = min(pd.Timestamp(period.end), pd.Timestamp(until) - pd.Timedelta(days=90))
    seen = delays[delays["date"].between(pd.Timestamp(period.start), last_day)]

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for label, part in (
            (ALL, sub),
            *((MODES[m], sub[sub["mode"] == m]) for m in MODES),
        ):
            days = part["days"]
            row: dict[str, object] = {"Mode": label, "STEP 1 avec alerte": len(part)}
            within_k = {k: int((days <= k).sum()) for k in FOLLOW_UP_DAYS}
            for k, n in within_k.items():
                row[f"STEP 2 sous {k} j"] = n
            row["Sans STEP 2 à 90 j"] = len(part) - within_k[90]
            within = days[days <= 90]
            row["Délai médian STEP 2 (jours)"] = within.median() if len(within) else None
            rows.append(row)
        return pd.DataFrame(rows)

    frame = _per_territory(seen, territory, build)
    rates = {}
    for k in FOLLOW_UP_DAYS:
        frame[f"Part sous {k} j"] = frame[f"STEP 2 sous {k} j"] / frame["STEP 1 avec alerte"].where(
            frame["STEP 1 avec alerte"] > 0
        )
        rates[f"Part sous {k} j"] = (f"STEP 2 sous {k} j", "STEP 1 avec alerte")
    return Table(
        key="suivi-step2",
        title="Suivi : STEP 2 après une STEP 1 avec au moins une alerte",
        frame=frame,
        labels=["Territoire", "Mode"],
        counts=[
            "STEP 1 avec alerte",
            *(f"STEP 2 sous {k} j" for k in FOLLOW_UP_DAYS),
            "Sans STEP 2 à 90 j",
        ],
        rates=rates,
        stats={"Délai médian STEP 2 (jours)": "STEP 2 sous 90 j"},
        sums=[("STEP 1 avec alerte", ["STEP 2 sous 90 j", "Sans STEP 2 à 90 j"])],
        note=f"STEP 1 de la période datées d'au moins 90 jours avant l'export "
        f"(jusqu'au {last_day:%d/%m/%Y}), pour que chacune ait eu ses 90 jours.",
    )


def returns(exp: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Pairs (first STEP 1 in the period, next STEP 1 of the dossier ~6 months later)."""
    step1 = exp[exp["kind"].eq("step1")].sort_values(["dossier", "date"])
    nxt = step1.groupby("dossier").shift(-1)
    gap = (nxt["date"] - step1["date"]).dt.days
    lo, hi = RETURN_WINDOW
    keep = gap.between(lo, hi) & step1["date"].between(
        pd.Timestamp(period.start), pd.Timestamp(period.end)
    )
    first, second = step1[keep], nxt[keep]
    out = pd.DataFrame({"territory": first["territory"], "dossier": first["dossier"]})
    for d in DOMAINS:
        out[f"before_{d}"] = first[f"alert_{d}"].astype(bool)
        out[f"after_{d}"] = second[f"alert_{d}"].astype(bool)
    return out.drop_duplicates("dossier")


def _returns(exp: pd.DataFrame, period: Period, territory: str) -> Table:
    pairs = returns(exp, period)

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for d in DOMAINS:
            b, a = sub[f"before_{d}"], sub[f"after_{d}"]
            rows.append(
                (
                    DOMAIN_LABELS[d],
                    len(sub),
                    int((b & a).sum()),
                    int((~b & a).sum()),
                    int((b & ~a).sum()),
                    int((~b & ~a).sum()),
                )
            )
        return pd.DataFrame(
            rows,
            columns=[
                "Domaine",
                "Personnes revues",
                "Alerte persistante",
                "Nouvelle alerte",
                "Alerte levée",
                "Jamais d'alerte",
            ],
        )

    parts = ["Alerte persistante", "Nouvelle alerte", "Alerte levée", "Jamais d'alerte"]
    return Table(
        key="retours",
        title="Personnes revues environ six mois plus tard : évolution des alertes",
        frame=_per_territory(pairs, territory, build),
        labels=["Territoire", "Domaine"],
        counts=["Personnes revues", *parts],
        sums=[("Personnes revues", parts)],
        note=f"Une nouvelle STEP 1 du même dossier {RETURN_WINDOW[0]} à {RETURN_WINDOW[1]} jours "
        "après une STEP 1 de la période (alertes de l'e-parcours).",
    )


# --- review, population -------------------------------------------------------------------------


def _review(led: pd.DataFrame, territory: str) -> Table:
    def build(sub: pd.DataFrame) -> pd.DataFrame:
        decided = sub[sub["decision"] != ""]
        days = (decided["decided_at"] - decided["review_at"]).dt.total_seconds() / 86400
        rows = []
        for decision in ("validé", "rejeté", "renvoyé en ressaisie"):
            d = days[decided["decision"] == decision].dropna()
            rows.append((decision, len(d), d.median() if len(d) else None))
        waiting = int(sub["state"].eq("needs_review").sum())
        rows.append(("encore à vérifier", waiting, None))
        return pd.DataFrame(rows, columns=["Décision", "Éléments", "Délai médian (jours)"])

    return Table(
        key="relecture",
        title="Relecture : décisions prises et délai jusqu'à la décision",
        frame=_per_territory(led, territory, build),
        labels=["Territoire", "Décision"],
        counts=["Éléments"],
        stats={"Délai médian (jours)": "Éléments"},
        partition=["Territoire"],
        note="Délai entre le passage « à vérifier » et la décision du relecteur.",
    )


def _population(led: pd.DataFrame, territory: str) -> Table:
    people = led[led["age_band"] != ""]
    bands = sorted(people["age_band"].unique(), key=lambda b: (not b[0].isdigit(), b))
    if "moins de 60 ans" in bands:
        bands = ["moins de 60 ans", *(b for b in bands if b != "moins de 60 ans")]

    def build(sub: pd.DataFrame) -> pd.DataFrame:
        table = pd.crosstab(sub["age_band"], sub["sex"]).reindex(
            index=bands, columns=["F", "M", "I"], fill_value=0
        )
        table = table.rename(columns={"F": "Femmes", "M": "Hommes", "I": "Indéterminé"})
        table.insert(0, "Total", table.sum(axis=1))
        return table.reset_index(names="Âge")

    return Table(
        key="population",
        title="Population : âge à l'auto-évaluation et sexe",
        frame=_per_territory(people, territory, build),
        labels=["Territoire", "Âge"],
        counts=["Total", "Femmes", "Hommes", "Indéterminé"],
        sums=[("Total", ["Femmes", "Hommes", "Indéterminé"])],
        partition=["Territoire"],
    )


# --- everything ---------------------------------------------------------------------------------


def compute(
    led: pd.DataFrame,
    exp: pd.DataFrame,
    period: Period,
    *,
    territory: str = ALL,
    observed_until: date | None = None,
) -> Evaluation:
    """Every table of the report for the period (and one territory, or all)."""
    if territory != ALL:
        led = led[led["territory"] == territory]
        exp = exp[exp["territory"] == territory]
    until = observed_until or date.today()
    in_period = exp[
        exp["date"].between(pd.Timestamp(period.start), pd.Timestamp(period.end))
    ].copy()
    tables = [
        _volumes(led, period, territory),
        _eparcours_volumes(in_period, period, territory),
        _delays(led, period, territory),
        _delay_distribution(led, territory),
        _alert_rates(led, in_period, territory),
        _concordance(led, territory),
        _concordance_by_month(led, period, territory),
        _discordances(led, territory),
        _follow_up(exp, period, territory, until),
        _returns(exp, period, territory),
        _review(led, territory),
        _population(led, territory),
    ]
    return Evaluation(
        period=period,
        territory=territory,
        tables={t.key: t for t in tables},
        observed_until=until,
    )
