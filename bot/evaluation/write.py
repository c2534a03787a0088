"""Write the report: HTML (one page, charts embedded), XLSX (native charts), aggregate CSV, and
the private gap list.

What may leave the machine — ``evaluation-<period>.html``, ``.xlsx`` and ``-agrege.csv`` —
holds the masked aggregate tables only (:func:`bot.evaluation.tables.mask`). The gap list
``evaluation-<period>-ecarts.csv`` names items (queue references, dossier and evaluation
numbers, no names): it stays in the reports folder, like every file here 0600 in a 0700 folder,
and ``icope-bot purge`` erases it once its period is older than the retention.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, SupportsFloat, cast

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.evaluation.charts import DOMAIN_COLOURS, SOURCE_COLOURS, Chart, draw_charts
from bot.evaluation.compute import ALL, Evaluation, entry_delays
from bot.evaluation.gaps import GAP_KINDS
from bot.evaluation.tables import Table, mask, masked_label
from bot.evidence import private_dir

__all__ = ["Headline", "ReportFiles", "headline", "report_name", "write_report"]

_MONTH_RE = re.compile(r"^\d{4}-\d{2}$")
_MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    xlsx: Path
    csv: Path
    gaps: Path


@dataclass(frozen=True)
class Headline:
    label: str
    value: str  # as shown, French, masked when small
    detail: str = ""


def report_name(evaluation: Evaluation) -> str:
    """``evaluation-2026-01-01_2026-11-30`` (plus the territory when one was asked)."""
    name = f"evaluation-{evaluation.period.slug}"
    if evaluation.territory != ALL:
        slug = "".join(c if c.isalnum() else "-" for c in evaluation.territory.lower())
        name += "-" + "-".join(p for p in slug.split("-") if p)
    return name


# --- French formats -----------------------------------------------------------------------------


def fr_int(value: float) -> str:
    return f"{round(value):,}".replace(",", "\u202f")


def fr_decimal(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def fr_percent(value: float) -> str:
    return f"{fr_decimal(value * 100)}\u00a0%"  # no-break space: "12,5 %" never split


def _month(text: str) -> str:
    if _MONTH_RE.match(text):
        return f"{_MONTHS.split()[int(text[5:7]) - 1]} {text[:4]}"
    return text


def _cell(table: Table, column: str, value: object, hidden: str) -> str:
    if isinstance(value, str) and value == hidden:
        return hidden
    if column in table.counts:
        n = _number(value)
        return "" if n is None else fr_int(n)
    if column in table.rates:
        n = _number(value)
        return "–" if n is None else fr_percent(n)
    if column in table.stats:
        n = _number(value)
        return "–" if n is None else fr_decimal(n)
    if column == "Mois":
        return _month(str(value))
    return str(value)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts (column → value): iterrows builds a Series per row, far slower."""
    columns = [str(c) for c in df.columns]
    return [dict(zip(columns, values, strict=True)) for values in df.itertuples(index=False)]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _number(value: object) -> float | None:
    """A table cell as a number (numpy's included); None when missing."""
    if _missing(value):
        return None
    if isinstance(value, SupportsFloat | str):
        return float(value)
    raise TypeError(f"not a number: {value!r}")  # as float() itself would


# --- headline figures ---------------------------------------------------------------------------


def headline(
    evaluation: Evaluation, led: pd.DataFrame, gap_list: pd.DataFrame, threshold: int
) -> list[Headline]:
    """The figures the page starts with (masked like the tables)."""
    hidden = masked_label(threshold)

    def count(n: int) -> str:
        return hidden if 1 <= n < threshold else fr_int(n)

    def share(num: int, den: int) -> str:
        if den < threshold or 1 <= num < threshold or 1 <= den - num < threshold:
            return hidden
        return fr_percent(num / den)

    t = evaluation.tables
    if evaluation.territory != ALL:
        led = led[led["territory"] == evaluation.territory]
    received, entered = len(led), int(led["entered"].sum())
    days = entry_delays(led)
    delay = (
        f"{fr_decimal(float(days.median()))} j (P90 {fr_decimal(float(days.quantile(0.9)))} j)"
        if len(days) >= threshold
        else hidden
    )
    cols_app = [
        f"app_{d}"
        for d in ("cognition", "mobilite", "nutrition", "vision", "audition", "psychologie")
    ]
    cols_target = [c.replace("app_", "target_") for c in cols_app]
    both = led[cols_app + cols_target].notna().all(axis=1)
    compared = led[both]
    agree = int(
        (compared[cols_app].to_numpy(dtype=bool) == compared[cols_target].to_numpy(dtype=bool))
        .all(axis=1)
        .sum()
    )
    cols_rules = [c.replace("app_", "rules_") for c in cols_app]
    rules_known = led[cols_target + cols_rules].notna().all(axis=1)
    with_rules = led[rules_known]
    agree_rules = int(
        (
            with_rules[cols_target].to_numpy(dtype=bool)
            == with_rules[cols_rules].to_numpy(dtype=bool)
        )
        .all(axis=1)
        .sum()
    )
    tool = t["e-parcours"].frame
    tool = tool[tool["Territoire"] == tool["Territoire"].iloc[0]] if len(tool) else tool
    step1, auto = int(tool["STEP 1"].sum()), int(tool["STEP 1 auto-évaluation"].sum())
    app_known = led[cols_app].notna().all(axis=1)
    any_alert = int(led.loc[app_known, cols_app].fillna(False).any(axis=1).sum())
    follow = t["suivi-step2"].frame
    first = follow.iloc[0] if len(follow) else None
    step2 = (
        share(int(first["STEP 2 sous 90 j"]), int(first["STEP 1 avec alerte"]))
        if first is not None
        else hidden
    )
    returning = t["retours"].frame
    back = int(returning["Personnes revues"].iloc[0]) if len(returning) else 0
    gap_counts = gap_list["Écart"].value_counts()
    return [
        Headline("Auto-évaluations reçues", count(received)),
        Headline("Saisies dans l'e-parcours", count(entered), share(entered, received)),
        Headline("Délai médian de saisie", delay),
        Headline(
            "Alertes identiques ICOPE et Moi / e-parcours (6 domaines)",
            share(agree, len(compared)),
            f"sur {count(len(compared))} auto-évaluations saisies",
        ),
        Headline(
            "Alertes identiques e-parcours / Règles (6 domaines)",
            share(agree_rules, len(with_rules)),
            f"sur {count(len(with_rules))} auto-évaluations saisies",
        ),
        Headline("Au moins une alerte (ICOPE et Moi)", share(any_alert, int(app_known.sum()))),
        Headline(
            "STEP 1 de l'e-parcours en auto-évaluation",
            share(auto, step1),
            f"sur {count(step1)} STEP 1 de la période",
        ),
        Headline("STEP 2 dans les 90 jours après une alerte", step2),
        Headline("Personnes revues environ 6 mois plus tard", count(back)),
        *(
            Headline(label, count(int(gap_counts.get(label, 0))), "écarts à examiner")
            for label in GAP_KINDS.values()
        ),
    ]


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2rem auto;max-width:68rem;color:#222;
line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:2px solid #4e79a7;padding-bottom:.2rem}
.meta{color:#555;margin-top:0}
.headline{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.8rem;
margin:1.2rem 0}
.figure{background:#f3f6fa;border-radius:6px;padding:.7rem .9rem}
.figure .v{font-size:1.5rem;font-weight:bold;color:#1f4e79}.figure .l{font-size:.9rem}
.figure .d{font-size:.8rem;color:#555}
img.chart{max-width:100%;height:auto;display:block;margin:.6rem 0}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}
th{background:#eef2f7}td.l,th.l{text-align:left}
caption{text-align:left;font-weight:bold;margin-bottom:.3rem}
.note{font-size:.82rem;color:#555}
details{margin-bottom:1rem}
"""


def _html_table(table: Table, text: pd.DataFrame, hidden: str) -> str:
    head = "".join(
        f'<th scope="col" class="{"l" if c in table.labels else ""}">{html.escape(c)}</th>'
        for c in text.columns
    )
    body = []
    for row in _records(text):
        cells = "".join(
            f'<td class="{"l" if c in table.labels else ""}">'
            f"{html.escape(_cell(table, c, row[c], hidden))}</td>"
            for c in text.columns
        )
        body.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f"<table><caption>{html.escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}"
    )


#: Tables shown under a chart besides the one it is keyed by (the chart draws from both).
_ALSO_UNDER = {"volumes": ("e-parcours",), "delais-repartition": ("delais",)}


def _html(
    evaluation: Evaluation,
    figures: list[Headline],
    texts: dict[str, pd.DataFrame],
    charts: list[Chart],
    threshold: int,
) -> str:
    hidden = masked_label(threshold)
    where = "les deux territoires" if evaluation.territory == ALL else evaluation.territory
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        f"<title>Évaluation ICOPE {evaluation.period.label()}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Évaluation de l'expérimentation ICOPE</h1>",
        f'<p class="meta">Période {evaluation.period.label()} — {html.escape(where)} — '
        f"rapport produit le {datetime.now():%d/%m/%Y à %H:%M}. Effectifs inférieurs à "
        f"{threshold} masqués (« {hidden} »).</p>",
        '<section aria-label="Chiffres clés"><h2>Chiffres clés</h2><div class="headline">',
    ]
    for f in figures:
        detail = f'<div class="d">{html.escape(f.detail)}</div>' if f.detail else ""
        parts.append(
            f'<div class="figure"><div class="v">{html.escape(f.value)}</div>'
            f'<div class="l">{html.escape(f.label)}</div>{detail}</div>'
        )
    parts.append("</div></section>")
    charted = set()
    for chart in charts:
        table = evaluation.tables[chart.key]
        charted.add(chart.key)
        data = base64.b64encode(chart.png).decode()
        parts.append(f"<section><h2>{html.escape(chart.title)}</h2>")
        parts.append(
            f'<img class="chart" src="data:image/png;base64,{data}" '
            f'alt="Graphique : {html.escape(table.title)}">'
        )
        parts.append(_html_table(table, texts[chart.key], hidden))
        for extra in _ALSO_UNDER.get(chart.key, ()):
            parts.append(_html_table(evaluation.tables[extra], texts[extra], hidden))
            charted.add(extra)
        parts.append("</section>")
    for key, table in evaluation.tables.items():
        if key in charted:
            continue
        parts.append(f"<section><h2>{html.escape(table.title)}</h2>")
        parts.append(_html_table(table, texts[key], hidden))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --- XLSX ---------------------------------------------------------------------------------------

#: Series colours of the native charts, as in the HTML's (bot.evaluation.charts).
_SERIES_COLOURS = {
    **SOURCE_COLOURS,
    **DOMAIN_COLOURS,
    "Reçues": SOURCE_COLOURS["ICOPE et Moi"],
    "Saisies": "#4e79a7",
}
_COUNT_FORMAT = "#,##0"
_RATE_FORMAT = "0.0%"
_DAYS_FORMAT = "0.0"
_MONTH_FORMAT = "[$-fr-FR]mmmm yyyy"


def _sheet(wb: Workbook, table: Table, text: pd.DataFrame, hidden: str) -> None:
    ws = wb.create_sheet(table.key[:31])
    ws["A1"] = table.title
    ws["A1"].font = Font(bold=True, size=13)
    if table.note:
        ws["A2"] = table.note
        ws["A2"].font = Font(italic=True, color="555555")
    header_row = 4
    fill = PatternFill("solid", fgColor="EEF2F7")
    for j, column in enumerate(text.columns, start=1):
        cell = ws.cell(row=header_row, column=j, value=column)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(len(column) + 2, 34))
    for i, row in enumerate(_records(text), start=header_row + 1):
        for j, column in enumerate(text.columns, start=1):
            value = row[column]
            cell = ws.cell(row=i, column=j)
            if isinstance(value, str) and value == hidden and column in table.values:
                cell.value = hidden
                cell.alignment = Alignment(horizontal="right")
            elif column in table.values:
                cell.value = None if _missing(value) else float(value)
                cell.number_format = (
                    _COUNT_FORMAT
                    if column in table.counts
                    else _RATE_FORMAT
                    if column in table.rates
                    else _DAYS_FORMAT
                )
            elif column == "Mois" and isinstance(value, str) and _MONTH_RE.match(value):
                cell.value = datetime(int(value[:4]), int(value[5:7]), 1)
                cell.number_format = _MONTH_FORMAT
            else:
                cell.value = None if _missing(value) else str(value)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)


def _chart_block(ws: Worksheet, frame: pd.DataFrame, at_col: int) -> tuple[int, int]:
    """Write a small wide table for a chart beside the data; returns (rows, columns)."""
    for j, column in enumerate(frame.columns, start=at_col):
        ws.cell(row=4, column=j, value=str(column))
    for i, row in enumerate(_records(frame), start=5):
        for j, column in enumerate(frame.columns, start=at_col):
            value = row[column]
            ws.cell(row=i, column=j, value=None if _missing(value) else value)
    return len(frame), len(frame.columns)


def _native_charts(wb: Workbook, numbers: dict[str, pd.DataFrame]) -> None:
    def ensemble(df: pd.DataFrame) -> pd.DataFrame:
        first = df["Territoire"].iloc[0] if len(df) else ""
        return df[df["Territoire"] == first]

    specs: list[tuple[str, pd.DataFrame, str, str, str, str]] = []
    vol = ensemble(numbers["volumes"])
    specs.append(
        (
            "volumes",
            vol[["Mois", "Reçues", "Saisies"]],
            "bar",
            "Auto-évaluations reçues et saisies par mois",
            "Mois de l'auto-évaluation",
            "Auto-évaluations",
        )
    )
    dist = ensemble(numbers["delais-repartition"])
    specs.append(
        (
            "delais-repartition",
            dist[["Délai", "Saisies"]],
            "bar",
            "Répartition des délais de saisie",
            "Délai entre l'auto-évaluation et sa saisie",
            "Saisies",
        )
    )
    rates = ensemble(numbers["alertes"])
    wide = rates.pivot_table(
        index="Domaine", columns="Source", values="Taux d'alerte", sort=False, dropna=False
    )
    specs.append(
        (
            "alertes",
            wide.reset_index(),
            "bar",
            "Taux d'alerte par domaine et par source",
            "Domaine",
            "Part en alerte",
        )
    )
    conc = ensemble(numbers["concordance-mois"])
    conc = conc[conc["Comparaison"] == "ICOPE et Moi / e-parcours"]
    wide = conc.pivot_table(
        index="Mois", columns="Domaine", values="Taux de concordance", sort=False, dropna=False
    )
    specs.append(
        (
            "concordance-mois",
            wide.reset_index(),
            "line",
            "Concordance ICOPE et Moi / e-parcours par mois",
            "Mois de l'auto-évaluation",
            "Alertes identiques",
        )
    )
    follow = ensemble(numbers["suivi-step2"]).head(1)
    steps = ["STEP 1 avec alerte", "STEP 2 sous 30 j", "STEP 2 sous 60 j", "STEP 2 sous 90 j"]
    funnel = pd.DataFrame(
        {"Étape": steps, "Personnes": [follow[s].iloc[0] if len(follow) else None for s in steps]}
    )
    specs.append(
        ("suivi-step2", funnel, "bar", "Suivi : STEP 2 après une alerte", "Étape", "Personnes")
    )
    for key, frame, kind, title, x_title, y_title in specs:
        ws = cast(Worksheet, wb[key[:31]])  # every sheet here is a worksheet (no chartsheet)
        col = ws.max_column + 2
        n_rows, n_cols = _chart_block(ws, frame, col)
        chart = BarChart() if kind == "bar" else LineChart()
        chart.title = title
        chart.x_axis.title = x_title
        chart.y_axis.title = y_title
        # openpyxl leaves the axes' "delete" unset, which Excel reads as hidden axes.
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.height, chart.width = 8, 18
        data = Reference(
            ws, min_col=col + 1, max_col=col + n_cols - 1, min_row=4, max_row=4 + n_rows
        )
        cats = Reference(ws, min_col=col, min_row=5, max_row=4 + n_rows)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        # The same colour for a source or a domain as in the HTML's charts.
        for series, name in zip(chart.series, frame.columns[1:], strict=True):
            colour = _SERIES_COLOURS.get(str(name), _SERIES_COLOURS["Saisies"]).lstrip("#")
            series.graphicalProperties.line.solidFill = colour
            if kind == "bar":
                series.graphicalProperties.solidFill = colour
        if "Taux" in title or "Concordance" in title:
            chart.y_axis.number_format = "0%"
        ws.add_chart(chart, f"{get_column_letter(col)}{n_rows + 7}")


# --- CSV ----------------------------------------------------------------------------------------


def _aggregate_rows(
    evaluation: Evaluation, texts: dict[str, pd.DataFrame], hidden: str
) -> list[list[str]]:
    rows = [["Tableau", "Territoire", "Ligne", "Indicateur", "Valeur"]]
    for key, table in evaluation.tables.items():
        text = texts[key]
        for row in _records(text):
            labels = " / ".join(
                _cell(table, c, row[c], hidden) for c in table.labels if c != "Territoire"
            )
            for c in table.values:
                value = row[c]
                if isinstance(value, str) and value == hidden:
                    shown = hidden
                elif c in table.rates:
                    shown = "" if _missing(value) else fr_decimal(float(value) * 100)
                elif c in table.stats:
                    shown = "" if _missing(value) else fr_decimal(float(value))
                else:
                    shown = "" if _missing(value) else str(int(value))
                name = f"{c} (%)" if c in table.rates else c
                rows.append([table.title, str(row["Territoire"]), labels, name, shown])
    return rows


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _private_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a file that is 0600 from the moment it exists."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)
    path.chmod(0o600)
    return path


# --- everything ---------------------------------------------------------------------------------


def write_report(
    evaluation: Evaluation,
    led: pd.DataFrame,
    gap_list: pd.DataFrame,
    out_dir: Path,
    *,
    threshold: int = 11,
) -> ReportFiles:
    """Write the four files into ``out_dir`` (0700); returns their paths."""
    private_dir(out_dir)
    hidden = masked_label(threshold)
    numbers: dict[str, pd.DataFrame] = {}
    texts: dict[str, pd.DataFrame] = {}
    for key, table in evaluation.tables.items():
        numbers[key], texts[key] = mask(table, threshold)
    charts = draw_charts(numbers)
    figures = headline(evaluation, led, gap_list, threshold)
    name = report_name(evaluation)

    page = _html(evaluation, figures, texts, charts, threshold)
    html_path = _private_write(out_dir / f"{name}.html", page.encode("utf-8"))

    wb = Workbook()
    summary = wb.active
    assert summary is not None  # a new workbook has its first sheet
    summary.title = "chiffres-clés"
    summary["A1"] = f"Évaluation ICOPE {evaluation.period.label()}"
    summary["A1"].font = Font(bold=True, size=13)
    summary["A2"] = f"Effectifs inférieurs à {threshold} masqués (« {hidden} »)."
    for i, f in enumerate(figures, start=4):
        summary.cell(row=i, column=1, value=f.label)
        summary.cell(row=i, column=2, value=f.value)
        summary.cell(row=i, column=3, value=f.detail)
    summary.column_dimensions["A"].width = 58
    summary.column_dimensions["B"].width = 22
    for key, table in evaluation.tables.items():
        _sheet(wb, table, texts[key], hidden)
    _native_charts(wb, numbers)
    buffer = io.BytesIO()
    wb.save(buffer)
    xlsx_path = _private_write(out_dir / f"{name}.xlsx", buffer.getvalue())

    csv_path = _private_write(
        out_dir / f"{name}-agrege.csv", _csv_bytes(_aggregate_rows(evaluation, texts, hidden))
    )
    gap_rows = [list(gap_list.columns)] + [
        [v.strftime("%d/%m/%Y") if isinstance(v, date) else str(v) for v in row]
        for row in gap_list.itertuples(index=False)
    ]
    gaps_path = _private_write(out_dir / f"{name}-ecarts.csv", _csv_bytes(gap_rows))
    return ReportFiles(html=html_path, xlsx=xlsx_path, csv=csv_path, gaps=gaps_path)
