"""Plain rows checked column by column fill the queue exactly as rows validated one by one.

bot.ingest._plain lets the rows it can prove valid skip pydantic (the largest cost of a large
CSV). Each test ingests the same file twice, once with that path and once with every row through
the model (``PLAIN_ROWS_BY_COLUMN`` off), into two real queues, and compares what a person and the
bot later read: items, states, stored assessments and content hashes, reasons, raw cells,
histories, the summary. The files are sample exports with their deliberately bad rows, and the
same with cells replaced at random by the values where the two paths could part (floats pydantic
and json write differently, names at the limits, dates at the edges of the rules, quotes...).
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.ingest import Summary, ingest_file, load_mapping
from bot.ingest import _rows as rows_module
from bot.ingest._cells import _ColumnReader
from bot.ingest._plain import KNOWN_MODELS, PlainRows, models_fingerprint
from bot.models import NameRules
from bot.sample import SampleExport, generate
from bot.workqueue import open_queue
from tests.fixtures.queue import queue_contents

AS_OF = date(2025, 6, 30)

#: Values where the column checks and the model could disagree, per field kind.
TRICKY: dict[str, list[str]] = {
    "source_id": ["", "a" * 48, "b" * 49, 'id"q', "id\\b", " spaced ", "x1"],
    "name": [
        "O'Brien", "Le Guen-d'Hérouville", "Dupont2", 'Du"pont', "Du\\pont", "Ã©ric", "É",
        "x" * 100, "y" * 101, "A\tB", "1234", "_", "ǅemal", "Anne  Marie", "Jean--Luc", "·",
    ],
    "first_names": [
        "Jean Marie Paul Luc Marc Eric Yves Noel Rene Leon Hugo", "Jean,,Paul", "Jean ; Paul",
        "A B C D E F G H I J", "Zoé", "Zoé2", "Ã©lise", 'Jo"', "z" * 101,
    ],
    "date": [
        "29/02/1960", "29/02/1961", "01/01/1899", "31/12/1899", "01/01/1900", "2099-01-01",
        "45123", "1", "30/06/1965", "01/07/1965", "30/06/1966", "15/06/2024", "2025-06-30",
        "30/06/2025", "01/07/2025", "31/12/9999",
    ],
    "ins": ["240057511599982", "2 40 05 75 115 999 82", "240057511599983", "1 2A", "x" * 31],
    "insee": ["2a001", "2A001", "2B033", "75056", "7505", "750561", "99134", "١٢٣٤٥", "2C001"],
    "text": [
        "", 'a"b', "a\\b", "Ã©", "x" * 31, "y" * 255, "z" * 301, "ok", "\u2028", "é" * 30,
        "1 rue X\n75001 Paris", "a\tb", "\x7f",
    ],
    "bool": ["X", "V", "F", "oui ", "Peut-être", "1", "0", ""],
    "int": ["3,0", "-0", "0", "3", "4", "100", "101", "-10", "-11", "120", "121", "1,5", ""],
    "decimal": ["0,00001", "1e-5", "-0", "0", "300", "300,0001", "100", "100,5", "7,1", "24", ""],
    "seconds": ["NR", "0,00001", "-0", "300", "300,0001", "12,25", "Non réalisé", ""],
    "sex": ["2", "Femme", "X", "m", "i", ""],
    "hearing": ["Aucun", "Chuchotement", "hearWHO", "Audiométrie", "Autre", ""],
}  # fmt: skip


def _tricky(kind: str, key: str) -> list[str]:
    if key == "source_id":
        return TRICKY["source_id"]
    if key in ("identity.birth_name", "identity.used_name", "identity.used_first_name"):
        return TRICKY["name"]
    if kind == "names":
        return TRICKY["first_names"]
    return TRICKY.get(kind, TRICKY["text"])


def _shaken(export: SampleExport, seed: int) -> SampleExport:
    """The export with, row after row, each tricky value alone in its column, then one to three
    tricky cells in every other row left, the very same row twice, an id clash and a row
    without an id."""
    from bot.ingest import FIELD_KINDS

    rng = random.Random(seed)
    headers = [h for h in export.headers if h in export.keys]
    rows = [dict(r) for r in export.rows]
    alone = [
        (header, value)
        for header in headers
        for value in _tricky(FIELD_KINDS[export.keys[header]], export.keys[header])
    ]
    assert len(alone) < len(rows) // 2, "the export is too short for every value"
    for row, (header, value) in zip(rows, alone, strict=False):
        row[header] = value
    for row in rows[len(alone) :: 2]:
        for header in rng.sample(headers, rng.randint(1, 3)):
            key = export.keys[header]
            row[header] = rng.choice(_tricky(FIELD_KINDS[key], key))
    id_header = next(h for h, k in export.keys.items() if k == "source_id")
    phone = next(h for h, k in export.keys.items() if k == "identity.phone")
    rows.insert(len(alone) + 40, dict(rows[len(alone) + 7]))  # the very same row twice
    clash = {**rows[len(alone) + 11], phone: "01 02 03 04 05"}
    rows.insert(len(alone) + 80, clash)  # same id, other content
    rows[len(alone) + 90] = {**rows[len(alone) + 90], id_header: ""}  # no id: a hash reference
    return SampleExport(export.headers, rows, export.keys)


def _stored(db: Path) -> list[tuple[Any, ...]]:
    """The queue file's own columns: the stored payload and content hash, byte for byte."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT reference, state, content_hash, assessment_json, raw_json, row, reason"
            " FROM items ORDER BY reference"
        ).fetchall()


def _summary(s: Summary) -> dict[str, Any]:
    d = s.as_dict()
    d.pop("seconds")
    return d


def _both_ways(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[Summary, list[dict[str, Any]]]:
    """Ingest by column and one by one into two new queues; both must hold the same."""
    results = []
    for by_column in (True, False):
        monkeypatch.setattr(rows_module, "PLAIN_ROWS_BY_COLUMN", by_column)
        db = tmp_path / f"by_column_{by_column}" / "q.db"
        with open_queue(db) as queue:
            summary = ingest_file(path, queue, **options)
            results.append((_summary(summary), queue_contents(queue), _stored(db)))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert results[0][2] == results[1][2]
    summary = Summary(**results[0][0])
    return summary, results[0][1]


def test_the_column_checks_were_written_for_these_models() -> None:
    # A field, a constraint or a validator changed in bot/models.py: every row now goes through
    # the model one by one (right, but slow). Bring bot/ingest/_plain.py's checks up to date
    # with the change, then set KNOWN_MODELS to the new fingerprint.
    assert models_fingerprint() == KNOWN_MODELS


def test_most_rows_of_a_clean_export_are_plain() -> None:
    """Otherwise the comparisons below would compare the one-by-one path with itself."""
    export = generate(400, seed=5, as_of=AS_OF)
    mapping = load_mapping()
    keys = {k for k in export.keys.values() if k in mapping.columns}
    plain = PlainRows.build(keys, mapping.reference_prefix, NameRules())
    assert plain is not None
    reader = _ColumnReader(mapping)
    parsed = {
        key: reader.read(key, [r[h] for r in export.rows])[0]
        for h, key in export.keys.items()
        if key in mapping.columns
    }
    is_plain, refs, _, _ = plain.chunk(parsed, len(export.rows), date.today())
    assert sum(is_plain) >= 0.95 * len(export.rows)
    assert all(
        ref.startswith(mapping.reference_prefix)
        for ref, ok in zip(refs, is_plain, strict=True)
        if ok
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_sample_export_with_its_bad_rows_is_queued_alike_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    export = generate(
        600, seed=21, returning=40, homonyms=20, errors=64, discordant=10, as_of=AS_OF
    )
    path = export.write(tmp_path / f"export{suffix}")
    summary, items = _both_ways(path, tmp_path, monkeypatch, chunk_rows=128)
    assert summary.invalid >= 60  # the deliberately bad rows, with their reasons
    assert summary.new + summary.invalid == 600
    assert any(i["state"] == "invalid" and "Ligne " in i["reason"] for i in items)


#: A target that takes any name: the model's own rule (a name has a letter) is then the only one.
ANY_NAME = NameRules(pattern=r"^.+$", allowed="tout")


@pytest.mark.parametrize(
    ("seed", "parallel", "rules"), [(1, False, NameRules()), (2, True, ANY_NAME)]
)
def test_cells_at_the_edges_of_every_rule_are_judged_alike_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, parallel: bool, rules: NameRules
) -> None:
    export = _shaken(generate(1400, seed=seed, as_of=AS_OF), seed)
    path = export.write(tmp_path / "export.csv")
    summary, items = _both_ways(
        path, tmp_path, monkeypatch, chunk_rows=100, parallel=parallel, name_rules=rules
    )
    states = {i["state"] for i in items}
    assert {"pending", "invalid", "needs_review"} <= states
    assert summary.new > 600
    assert summary.invalid > 300
    assert summary.duplicates >= 1
    assert summary.conflicts >= 1


def test_an_export_listing_its_alerts_in_one_column_is_queued_alike_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_ingest_mapping import OTHER_APP, OTHER_CSV

    mapping_file = tmp_path / "autre_app.yaml"
    mapping_file.write_text(OTHER_APP, encoding="utf-8")
    mapping = load_mapping(mapping_file)
    keys = set(mapping.columns)
    assert PlainRows.build(keys, mapping.reference_prefix, NameRules()) is not None
    lines = OTHER_CSV.splitlines()
    # the two rows again under other ids, one without alerts listed, one listing a wrong domain
    more = [
        lines[1].replace("77,", "79,", 1).replace('"COG, VIS, AUD, PSY"', ""),
        lines[2].replace("78,", "80,", 1).replace("LOC / NUT / AUD", "LOC / XYZ"),
        lines[2].replace("78,", "81,", 1).replace("LOC / NUT / AUD", "Aucune"),
    ]
    export = tmp_path / "autre.csv"
    export.write_text("\n".join([*lines, *more]) + "\n", encoding="utf-8")
    summary, items = _both_ways(export, tmp_path, monkeypatch, mapping=mapping)
    assert (summary.read, summary.new, summary.invalid) == (5, 4, 1)
    assert [i["reference"] for i in items if i["state"] == "pending"] == [
        "DGC-77", "DGC-78", "DGC-79", "DGC-81",
    ]  # fmt: skip
