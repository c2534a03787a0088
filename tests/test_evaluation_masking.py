"""Small counts in the evaluation's aggregates: masked at the threshold, and never recoverable."""

from __future__ import annotations

import pandas as pd
import pytest

from bot.evaluation.tables import Table, mask


def volumes(rows: list[tuple[str, int, int, int]]) -> Table:
    frame = pd.DataFrame(rows, columns=["Mois", "Reçues", "Saisies", "Non saisies"])
    return Table(
        key="t",
        title="t",
        frame=frame,
        labels=["Mois"],
        counts=["Reçues", "Saisies", "Non saisies"],
        rates={},
        sums=[("Reçues", ["Saisies", "Non saisies"])],
    )


@pytest.mark.parametrize(("count", "shown"), [(10, "< 11"), (11, 11), (0, 0), (1, "< 11")])
def test_a_count_under_the_threshold_reads_less_than_11(count: int, shown: object) -> None:
    table = Table("t", "t", pd.DataFrame({"Mois": ["2026-01"], "n": [count]}), ["Mois"], ["n"])

    _, text = mask(table, 11)

    assert text.loc[0, "n"] == shown


def test_the_threshold_is_a_setting() -> None:
    table = Table("t", "t", pd.DataFrame({"Mois": ["2026-01"], "n": [4]}), ["Mois"], ["n"])

    assert mask(table, 5)[1].loc[0, "n"] == "< 5"
    assert mask(table, 4)[1].loc[0, "n"] == 4


def test_a_hidden_part_of_a_shown_total_hides_another_part() -> None:
    # 30 received, 10 not entered: showing 20 entered would give the 10 back.
    _, text = mask(volumes([("2026-01", 30, 20, 10)]), 11)

    assert text.loc[0].tolist() == ["2026-01", 30, "< 11", "< 11"]


def test_at_eleven_nothing_is_hidden() -> None:
    _, text = mask(volumes([("2026-01", 31, 20, 11)]), 11)

    assert text.loc[0].tolist() == ["2026-01", 31, 20, 11]


def test_a_hidden_cell_alone_in_a_column_of_a_partition_hides_another() -> None:
    table = volumes([("2026-01", 30, 15, 15), ("2026-02", 40, 10, 30), ("2026-03", 50, 25, 25)])
    table.partition = []  # the months split the period: a total over them would give it back

    numbers, text = mask(table, 11)

    hidden = text["Saisies"].eq("< 11")
    assert hidden.sum() == 2
    assert text.loc[1, "Saisies"] == "< 11"
    assert numbers["Saisies"].isna().sum() == 2  # the charts leave them out too


def test_the_ensemble_row_is_the_sum_of_the_territories() -> None:
    frame = pd.DataFrame(
        {"Territoire": ["Ensemble", "A", "B"], "Domaine": ["Vision"] * 3, "n": [40, 35, 5]}
    )
    table = Table("t", "t", frame, ["Territoire", "Domaine"], ["n"])

    _, text = mask(table, 11)

    assert text["n"].tolist() == [40, "< 11", "< 11"]


def test_a_rate_on_a_hidden_count_or_a_small_base_is_hidden() -> None:
    frame = pd.DataFrame(
        {
            "Domaine": ["Vision", "Nutrition", "Mobilité"],
            "Évaluées": [100, 100, 10],
            "En alerte": [60, 7, 0],
            "Sans alerte": [40, 93, 10],
        }
    )
    frame["Taux"] = frame["En alerte"] / frame["Évaluées"]
    table = Table(
        "t",
        "t",
        frame,
        ["Domaine"],
        ["Évaluées", "En alerte", "Sans alerte"],
        rates={"Taux": ("En alerte", "Évaluées")},
        sums=[("Évaluées", ["En alerte", "Sans alerte"])],
    )

    _, text = mask(table, 11)

    assert text.loc[0, "Taux"] == pytest.approx(0.6)
    assert text.loc[1, "Taux"] == "< 11"  # 7 alerts
    assert text.loc[2, "Taux"] == "< 11"  # out of 10 people
    assert text.loc[1, "Sans alerte"] == "< 11"  # 100 - 93 would give the 7 back


def test_a_median_resting_on_fewer_people_than_the_threshold_is_hidden() -> None:
    frame = pd.DataFrame(
        {"Mois": ["2026-01", "2026-02"], "Saisies": [10, 11], "Médiane": [3.0, 4.5]}
    )
    table = Table("t", "t", frame, ["Mois"], ["Saisies"], stats={"Médiane": "Saisies"})

    _, text = mask(table, 11)

    assert text["Médiane"].tolist() == ["< 11", 4.5]
