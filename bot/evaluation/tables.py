"""An aggregate table of the report, and the masking of its small counts.

Every figure that leaves the machine is a count, a rate or a statistic in a :class:`Table` that
says which columns are counts, which rates are made of which counts, which statistics rest on
how many people, and which counts add up to another. :func:`mask` then hides every count from 1
to ``threshold - 1`` (« < 11 » by default, as in French health-data practice), and enough
others that no subtraction gives one back (complementary masking):

- in a row, when a total is shown and only one of its parts is hidden, the smallest other part
  is hidden too (and the total when there is no other part);
- in a column whose rows split one population, when a single cell is hidden the next smallest is;
- the "Ensemble" row is the total of the territories' rows: the same rule applies to them;
- a rate is hidden when its numerator or its denominator is; a median or a percentile is hidden
  when it rests on fewer people than the threshold.

Hidden cells read « < 11 » in the files and are left out of the charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["TOTAL", "Table", "mask", "masked_label"]

#: The label of the row that adds up every territory.
TOTAL = "Ensemble"


def masked_label(threshold: int) -> str:
    return f"< {threshold}"


@dataclass
class Table:
    """One aggregate table: labels first, then counts, rates (0–1) and statistics."""

    key: str  # short name: XLSX sheet, CSV section
    title: str  # French title, as the committee reads it
    frame: pd.DataFrame
    labels: list[str]
    counts: list[str]
    rates: dict[str, tuple[str, str]] = field(default_factory=dict)  # rate → (num, den)
    stats: dict[str, str] = field(default_factory=dict)  # statistic → the count it rests on
    sums: list[tuple[str, list[str]]] = field(default_factory=list)  # (total, parts) by row
    #: Groups of rows that each split one population (column-wise complementary masking):
    #: label columns whose values name a group; [] = all rows together; None = no such split.
    partition: list[str] | None = None
    note: str = ""

    @property
    def values(self) -> list[str]:
        return [*self.counts, *self.rates, *self.stats]


def _pair_up(values: np.ndarray, hidden: np.ndarray) -> None:
    """In place: where a column of rows holds exactly one hidden cell, hide the smallest other."""
    if int(hidden.sum()) != 1 or hidden.all():
        return
    shown = np.where(hidden, np.inf, values)
    hidden[int(np.argmin(shown))] = True


def _pair_sums(values: np.ndarray, hidden: np.ndarray) -> None:
    """In place, row by row over (total, parts…) columns: one hidden cell is one too few."""
    lonely = hidden.sum(axis=1) == 1
    if not lonely.any():
        return
    parts_hidden = hidden[:, 1:]
    shown_parts = np.where(parts_hidden, np.inf, values[:, 1:])
    has_other = ~parts_hidden.all(axis=1)
    rows = np.flatnonzero(lonely & has_other)
    hidden[rows, 1 + np.argmin(shown_parts[rows], axis=1)] = True
    hidden[np.flatnonzero(lonely & ~has_other), 0] = True


def mask(table: Table, threshold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numbers with hidden cells as NaN, the same as text cells with « < N »)."""
    df = table.frame.reset_index(drop=True)
    counts = {c: df[c].fillna(0).to_numpy(dtype=float) for c in table.counts}
    hidden = {c: (v >= 1) & (v < threshold) for c, v in counts.items()}
    if table.partition is None:
        groups: list[np.ndarray] = []
    elif table.partition:
        groups = [np.asarray(ix) for ix in df.groupby(table.partition, sort=False).indices.values()]
    else:
        groups = [np.arange(len(df))]
    # "Ensemble" = the sum of the territories' rows (every item has one territory, "Hors
    # territoire" included): a total and its parts, like a row's columns.
    splits: list[np.ndarray] = []
    if "Territoire" in df.columns and (df["Territoire"] == TOTAL).any():
        others = [c for c in table.labels if c != "Territoire"]
        keyed = df.groupby(others, sort=False).indices.values() if others else [np.arange(len(df))]
        for index in keyed:
            index = np.asarray(index)
            is_total = df["Territoire"].to_numpy()[index] == TOTAL
            if is_total.sum() == 1 and len(index) > 1:
                splits.append(np.concatenate([index[is_total], index[~is_total]]))
    for _ in range(8):  # until stable: each pass may hide cells the next pass must pair
        before = sum(int(h.sum()) for h in hidden.values())
        for total, parts in table.sums:
            cols = [total, *parts]
            values = np.column_stack([counts[c] for c in cols])
            flags = np.column_stack([hidden[c] for c in cols])
            _pair_sums(values, flags)
            for j, c in enumerate(cols):
                hidden[c] = hidden[c] | flags[:, j]
        for c in table.counts:
            for index in splits:
                flags = hidden[c][index][None, :]
                _pair_sums(counts[c][index][None, :], flags)
                hidden[c][index] = flags[0]
            for index in groups:
                sub = hidden[c][index]
                _pair_up(counts[c][index], sub)
                hidden[c][index] = sub
        if sum(int(h.sum()) for h in hidden.values()) == before:
            break
    for rate, (num, den) in table.rates.items():
        hidden[rate] = hidden[num] | hidden[den] | (counts[den] < threshold)
    for stat, n in table.stats.items():
        hidden[stat] = hidden[n] | (counts[n] < threshold)
    numbers = df.copy()
    text = df.astype(object).copy()
    label = masked_label(threshold)
    for c in table.values:
        numbers[c] = df[c].astype(float).where(~hidden[c], np.nan)
        text[c] = df[c].astype(object).where(~hidden[c], label)
    return numbers, text
