"""Charts of the report, drawn with matplotlib into PNG bytes (embedded in the HTML, no network).

Each chart is drawn from the *masked* table it illustrates: a hidden cell is a missing bar or
point, never a bar whose height gives the hidden count back. Titles and axes are in French;
each source and each domain keeps one colour in every chart.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from bot.models import DOMAIN_LABELS, DOMAINS

__all__ = ["DOMAIN_COLOURS", "SOURCE_COLOURS", "Chart", "draw_charts"]

#: One colour per source of alerts, everywhere (colour-blind safe "Dark2" hues).
SOURCE_COLOURS = {
    "ICOPE et Moi": "#1b9e77",
    "e-parcours": "#d95f02",
    "Règles": "#7570b3",
    "e-parcours (toutes STEP 1)": "#e6ab02",
}
#: One colour per ICOPE domain, everywhere.
DOMAIN_COLOURS = dict(
    zip(
        [DOMAIN_LABELS[d] for d in DOMAINS],
        ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"],
        strict=True,
    )
)
_STATE_COLOURS = {
    "Terminées": "#59a14f",
    "À vérifier": "#f28e2b",
    "En attente": "#bab0ac",
    "Invalides": "#e15759",
    "Rejetées": "#79706e",
}


#: Counts on an axis as French writes them ("80 000", a no-break space), not "80000".
_COUNTS = FuncFormatter(lambda value, _: f"{value:,.0f}".replace(",", "\u00a0"))


@dataclass(frozen=True)
class Chart:
    key: str  # the table it illustrates
    title: str
    png: bytes


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(9, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _say_if_hidden(ax: Axes, *series: np.ndarray, horizontal: bool = False) -> None:
    """A chart with nothing to draw says why, instead of showing empty axes: every value masked
    (small counts), or nothing at all in the period."""
    values = np.concatenate([np.asarray(v, dtype=float) for v in series] or [np.zeros(0)])
    if len(values) and np.nansum(np.abs(values)) > 0:
        return
    masked = len(values) > 0 and bool(np.isnan(values).any())
    ax.text(
        0.5,
        0.5,
        "Valeurs masquées : effectifs inférieurs au seuil de diffusion"
        if masked
        else "Aucune donnée sur la période",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#777777",
    )
    if horizontal:
        ax.set_xlim(0, 1)
        ax.set_xticks([])
    else:
        ax.set_ylim(0, 1)
        ax.set_yticks([])


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _month_labels(months: pd.Series) -> list[str]:
    names = [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ]
    return [f"{names[int(m[5:7]) - 1]} {m[2:4]}" if m[:4].isdigit() else m for m in months]


def _ensemble(df: pd.DataFrame) -> pd.DataFrame:
    first = df["Territoire"].iloc[0] if len(df) else ""
    return df[df["Territoire"] == first]


def volumes_chart(volumes: pd.DataFrame, eparcours: pd.DataFrame) -> bytes:
    queue = _ensemble(volumes)
    queue = queue[queue["Mois"].str.fullmatch(r"\d{4}-\d{2}")]
    tool = _ensemble(eparcours).set_index("Mois").reindex(queue["Mois"])
    fig, ax = _figure()
    x = np.arange(len(queue))
    bottom = np.zeros(len(queue))
    for column, colour, label in (
        ("STEP 1 hétéroévaluation", "#a0cbe8", "STEP 1 hétéroévaluation (e-parcours)"),
        ("STEP 1 auto-évaluation", "#4e79a7", "STEP 1 auto-évaluation (e-parcours)"),
    ):
        values = np.nan_to_num(tool[column].to_numpy(dtype=float))
        ax.bar(x, values, bottom=bottom, color=colour, label=label, width=0.7)
        bottom += values
    ax.plot(
        x,
        queue["Reçues"].to_numpy(dtype=float),
        "o-",
        color=SOURCE_COLOURS["ICOPE et Moi"],
        label="Auto-évaluations reçues (ICOPE et Moi)",
    )
    ax.plot(
        x,
        queue["Saisies"].to_numpy(dtype=float),
        "s--",
        color="#222222",
        label="dont saisies par le robot",
    )
    _month_axis(ax, queue["Mois"])
    _say_if_hidden(ax, bottom, queue["Reçues"].to_numpy(dtype=float))
    ax.yaxis.set_major_formatter(_COUNTS)
    ax.set_ylabel("Évaluations")
    ax.set_title("STEP 1 par mois : e-parcours (par mode) et auto-évaluations reçues")
    ax.legend(ncols=2, fontsize=8, frameon=False, loc="upper left")
    return _png(fig)


def _month_axis(ax: Axes, months: pd.Series) -> None:
    x = np.arange(len(months))
    ax.set_xticks(x, _month_labels(months), rotation=45, ha="right", fontsize=8)


@dataclass(frozen=True)
class _Bars:
    """One series of bars: its legend label (None: no legend), values, colour(s)."""

    label: str | None
    values: np.ndarray
    colour: str | list[str]


def _bar_chart(
    categories: list[str],
    series: list[_Bars],
    *,
    title: str,
    value_axis: str,
    category_axis: str = "",
    horizontal: bool = False,
    rates: bool = False,
) -> bytes:
    """Bars by category, several series side by side; masked values (NaN) are left out."""
    fig, ax = _figure()
    at = np.arange(len(categories))
    if horizontal:  # the first category on top, as read
        at = at[::-1]
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    width = 0.6 if len(series) == 1 else 0.8 / len(series)
    for i, bars in enumerate(series):
        where = at + (i - (len(series) - 1) / 2) * width
        if horizontal:
            ax.barh(where, bars.values, height=width, color=bars.colour, label=bars.label)
        else:
            ax.bar(where, bars.values, width=width, color=bars.colour, label=bars.label)
    if horizontal:
        ax.set_yticks(at, categories)
    else:
        ax.set_xticks(at, categories, fontsize=8)
    value = ax.xaxis if horizontal else ax.yaxis
    if rates:
        value.set_major_formatter(PercentFormatter(1.0, decimals=0))
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 1)
    else:
        value.set_major_formatter(_COUNTS)
    _say_if_hidden(ax, *(b.values for b in series), horizontal=horizontal)
    (ax.set_ylabel if horizontal else ax.set_xlabel)(category_axis)
    (ax.set_xlabel if horizontal else ax.set_ylabel)(value_axis)
    ax.set_title(title)
    if any(b.label for b in series):
        ax.legend(ncols=4, fontsize=8, frameon=False, loc="upper left")
    return _png(fig)


def delay_chart(distribution: pd.DataFrame) -> bytes:
    df = _ensemble(distribution)
    return _bar_chart(
        list(df["Délai"]),
        [_Bars(None, df["Saisies"].to_numpy(dtype=float), "#4e79a7")],
        title="Répartition des délais de saisie dans l'e-parcours",
        value_axis="Saisies",
        category_axis="Délai entre l'auto-évaluation et sa saisie",
    )


def alert_rate_chart(rates: pd.DataFrame) -> bytes:
    df = _ensemble(rates)
    domains = list(dict.fromkeys(df["Domaine"]))
    sources = [s for s in SOURCE_COLOURS if s in set(df["Source"])]
    series = [
        _Bars(
            source,
            df[df["Source"] == source]
            .set_index("Domaine")
            .reindex(domains)["Taux d'alerte"]
            .to_numpy(dtype=float),
            SOURCE_COLOURS[source],
        )
        for source in sources
    ]
    return _bar_chart(
        domains,
        series,
        title="Taux d'alerte par domaine et par source",
        value_axis="Part des évaluations en alerte",
        rates=True,
    )


def concordance_chart(by_month: pd.DataFrame) -> bytes:
    df = _ensemble(by_month)
    df = df[df["Comparaison"] == "ICOPE et Moi / e-parcours"]
    months = list(dict.fromkeys(df["Mois"]))
    fig, ax = _figure()
    x = np.arange(len(months))
    for domain, colour in DOMAIN_COLOURS.items():
        sub = df[df["Domaine"] == domain].set_index("Mois").reindex(months)
        ax.plot(
            x, sub["Taux de concordance"].to_numpy(dtype=float), "o-", color=colour, label=domain
        )
    _month_axis(ax, pd.Series(months))
    _say_if_hidden(ax, df["Taux de concordance"].to_numpy(dtype=float))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Alertes identiques")
    ax.set_title("Concordance ICOPE et Moi / e-parcours par domaine et par mois")
    ax.legend(ncols=6, fontsize=8, frameon=False, loc="lower left")
    return _png(fig)


def follow_up_chart(follow_up: pd.DataFrame) -> bytes:
    df = _ensemble(follow_up)
    row = df[df["Mode"] == df["Mode"].iloc[0]].iloc[0] if len(df) else pd.Series(dtype=float)
    steps = ["STEP 1 avec alerte", "STEP 2 sous 30 j", "STEP 2 sous 60 j", "STEP 2 sous 90 j"]
    values = np.array([float(row.get(s, np.nan)) for s in steps])
    return _bar_chart(
        steps,
        [_Bars(None, values, ["#4e79a7", "#a0cbe8", "#7fb3d5", "#2e6f9e"])],
        title="Suivi : STEP 2 réalisée après une STEP 1 avec alerte",
        value_axis="Personnes (STEP 1 avec au moins une alerte)",
        horizontal=True,
    )


def draw_charts(numbers: dict[str, pd.DataFrame]) -> list[Chart]:
    """The five charts, from the masked numeric tables (by table key)."""
    return [
        Chart(
            "volumes", "Volumes par mois", volumes_chart(numbers["volumes"], numbers["e-parcours"])
        ),
        Chart(
            "delais-repartition",
            "Délais de saisie dans l'e-parcours",
            delay_chart(numbers["delais-repartition"]),
        ),
        Chart(
            "alertes",
            "Taux d'alerte par domaine et par source",
            alert_rate_chart(numbers["alertes"]),
        ),
        Chart(
            "concordance-mois",
            "Concordance des alertes dans le temps",
            concordance_chart(numbers["concordance-mois"]),
        ),
        Chart(
            "suivi-step2",
            "Suivi : STEP 2 après une alerte",
            follow_up_chart(numbers["suivi-step2"]),
        ),
    ]
