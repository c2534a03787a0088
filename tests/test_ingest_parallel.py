"""A large export is parsed in a forked process while this one writes: same queue, same words.

Big files take the parallel path by themselves (bot.ingest._rows.PARALLEL_MIN_BYTES); here it is
asked for on small files cut in small chunks, and everything a person or the bot later reads is
compared with the one-process path: items, states, reasons, raw cells, histories, the summary.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.ingest import Summary, ingest_file
from bot.sample import SampleExport, generate
from bot.workqueue import WorkQueue, open_queue
from tests.fixtures.queue import BOTH_BACKENDS, queue_contents

AS_OF = date(2025, 6, 30)


@pytest.fixture(scope="module")
def dirty() -> SampleExport:
    """A sample with invalid rows, plus the very same row twice, an id clash and a blank line."""
    export = generate(120, seed=11, errors=9, as_of=AS_OF)
    id_header = next(h for h, k in export.keys.items() if k == "source_id")
    name_header = next(h for h, k in export.keys.items() if k == "identity.birth_name")
    rows = list(export.rows)
    rows.insert(30, dict(rows[3]))  # the same row again, in another chunk
    clash = dict(rows[50])
    clash[name_header] = "Autrenom"
    rows.insert(77, clash)  # the same assessment id with other content: to a person
    rows.insert(90, dict.fromkeys(export.headers, ""))  # a blank line: not a row
    rows[100] = {**rows[100], id_header: "X" * 60}  # an id too long to be a reference
    return SampleExport(export.headers, rows, export.keys)


def _summary(s: Summary) -> dict[str, Any]:
    d = s.as_dict()
    d.pop("seconds")
    return d


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_parallel_parsing_fills_the_queue_exactly_as_one_process_does(
    dirty: SampleExport, tmp_path: Path, suffix: str
) -> None:
    path = dirty.write(tmp_path / f"export{suffix}")
    with open_queue(tmp_path / "one" / "q.db") as one, open_queue(tmp_path / "two" / "q.db") as two:
        # parallel first: the names it masks were registered from the child's chunks
        parallel = ingest_file(path, two, chunk_rows=16, parallel=True)
        serial = ingest_file(path, one, chunk_rows=16, parallel=False)
        assert _summary(parallel) == _summary(serial)
        assert serial.invalid >= 9
        assert (serial.conflicts, serial.duplicates) == (1, 1)
        assert len(serial.quarantined) == serial.invalid  # the reasons, masked, for the terminal
        assert queue_contents(two) == queue_contents(one)


@BOTH_BACKENDS
def test_parallel_ingestion_again_adds_nothing(
    dirty: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    path = dirty.write(tmp_path / "export.csv")
    first = ingest_file(path, work_queue, chunk_rows=16, parallel=True)
    counts = work_queue.counts()
    again = ingest_file(path, work_queue, chunk_rows=16, parallel=True)
    assert first.new > 100
    assert (again.new, again.invalid, again.fixed) == (0, first.invalid, 0)
    assert again.duplicates == first.new + first.duplicates
    assert work_queue.counts() == counts


def test_a_malformed_line_far_down_stops_the_parallel_file_after_the_rows_before_it(
    dirty: SampleExport, tmp_path: Path
) -> None:
    path = SampleExport(dirty.headers, dirty.rows[:60], dirty.keys).write(tmp_path / "e.csv")
    lines = path.read_bytes().split(b"\r\n")
    lines[41] += b";en trop"  # spreadsheet line 42: chunks of 16 rows from line 2
    path.write_bytes(b"\r\n".join(lines))
    with open_queue(tmp_path / "one" / "q.db") as one, open_queue(tmp_path / "two" / "q.db") as two:
        serial = ingest_file(path, one, chunk_rows=16, parallel=False)
        parallel = ingest_file(path, two, chunk_rows=16, parallel=True)
        assert parallel.refused is not None
        assert "la ligne 42 a 39 cellules au lieu de 38" in parallel.refused
        assert "Les 32 lignes lues avant ont été traitées" in parallel.refused
        assert _summary(parallel) == _summary(serial)
        assert queue_contents(two) == queue_contents(one)


@BOTH_BACKENDS
def test_a_row_quarantined_earlier_and_fixed_in_a_parallel_file_goes_back_to_pending(
    dirty: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    birth = next(h for h, k in dirty.keys.items() if k == "identity.birth_date")
    id_header = next(h for h, k in dirty.keys.items() if k == "source_id")
    rows = [r for r in dirty.rows[:40] if r[id_header]][:30]
    broken = [dict(r) for r in rows]
    broken[5][birth] = "31/02/1950"
    first = SampleExport(dirty.headers, broken, dirty.keys).write(tmp_path / "juin.csv")
    later = SampleExport(dirty.headers, rows, dirty.keys).write(tmp_path / "juillet.csv")
    before = ingest_file(first, work_queue, chunk_rows=8, parallel=True)
    after = ingest_file(later, work_queue, chunk_rows=8, parallel=True)
    assert "Ligne 7, colonne « Date de naissance » : la date" in " ".join(before.quarantined)
    assert after.fixed == 1
    fixed = [
        ref
        for ref, history in work_queue.histories().items()
        if any(
            "Corrigé par un export ultérieur (juillet.csv, ligne 7)" in h.reason for h in history
        )
    ]
    assert len(fixed) == 1
    view = work_queue.get(fixed[0])
    assert view.state.value == "pending"
    assert view.assessment is not None
    assert f"{view.assessment.identity.birth_date:%d/%m/%Y}" == rows[5][birth]
