"""Ingesting again adds nothing twice; changed content is flagged; the inbox archives each file."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import date, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.ingest import LEDGER_NAME, ingest_file, ingest_inbox
from bot.models import ItemState
from bot.sample import SampleExport, generate
from bot.workqueue import WorkQueue
from tests.fixtures.queue import BOTH_BACKENDS
from tests.fixtures.settings import make_settings

pytestmark = BOTH_BACKENDS

AS_OF = date(2025, 6, 30)


@pytest.fixture(scope="module")
def export() -> SampleExport:
    return generate(60, seed=5, errors=4, as_of=AS_OF)


def _slice(export: SampleExport, rows: slice) -> SampleExport:
    return SampleExport(export.headers, export.rows[rows], export.keys)


def test_the_same_file_twice_adds_nothing_the_second_time(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    path = export.write(tmp_path / "export.xlsx")
    first = ingest_file(path, work_queue)
    counts = work_queue.counts()
    second = ingest_file(path, work_queue)
    assert (first.new, first.invalid) == (56, 4)
    assert (second.new, second.duplicates, second.conflicts, second.invalid) == (0, 56, 0, 4)
    assert work_queue.counts() == counts


def test_an_overlapping_later_export_adds_only_the_new_rows(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    early = _slice(export, slice(0, 40)).write(tmp_path / "juin.csv")
    later = _slice(export, slice(25, 60)).write(tmp_path / "juillet.xlsx")
    a, b = ingest_file(early, work_queue), ingest_file(later, work_queue)
    valid_early = sum(1 for r in range(2, 42) if r not in export.errors)
    valid_later_only = sum(1 for r in range(42, 62) if r not in export.errors)
    assert a.new == valid_early
    assert b.new == valid_later_only
    assert b.duplicates == 15 - sum(1 for r in range(27, 42) if r in export.errors)
    assert work_queue.counts()[ItemState.PENDING] == 56


def test_same_reference_with_other_content_is_a_conflict_and_nothing_is_overwritten(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    original = _slice(export, slice(0, 10))
    ingest_file(original.write(tmp_path / "a.csv"), work_queue)
    valid_row = next(r for r in range(2, 12) if r not in export.errors)
    changed = [dict(r) for r in original.rows]
    row = changed[valid_row - 2]
    row["Problème de vision"] = "Non" if row["Problème de vision"] == "Oui" else "Oui"
    row["Alerte vision"] = row["Problème de vision"]
    reference = f"ICM-{row['Identifiant évaluation']}"
    before = work_queue.get(reference).assessment

    summary = ingest_file(
        SampleExport(export.headers, changed, export.keys).write(tmp_path / "b.csv"), work_queue
    )
    assert summary.conflicts == 1
    assert summary.new == 0
    view = work_queue.get(reference)
    assert view.assessment == before
    assert view.conflict is not None  # the new version waits beside it for a person
    assert view.state == ItemState.NEEDS_REVIEW
    assert "conflict" in [h.event for h in work_queue.history(reference)]


def test_a_quarantined_row_corrected_in_a_later_export_becomes_pending(
    export: SampleExport, work_queue: WorkQueue, tmp_path: Path
) -> None:
    bad_row = min(export.errors)
    first = _slice(export, slice(0, bad_row - 1))
    ingest_file(first.write(tmp_path / "a.csv"), work_queue)
    reference = f"ICM-{export.rows[bad_row - 2]['Identifiant évaluation']}"
    assert work_queue.get(reference).state is ItemState.INVALID

    fixed = generate(60, seed=5, as_of=AS_OF)  # the same export without the deliberate errors
    corrected = _slice(fixed, slice(0, bad_row - 1))
    summary = ingest_file(corrected.write(tmp_path / "b.csv"), work_queue)
    assert summary.fixed == 1
    item = work_queue.get(reference)
    assert item.state is ItemState.PENDING
    assert item.assessment is not None
    assert "Corrigé par un export ultérieur (b.csv" in work_queue.history(reference)[-1].reason


def test_without_app_ids_the_reference_is_a_stable_hash_across_formats(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    export = generate(30, seed=9, with_ids=False, as_of=AS_OF)
    a = ingest_file(export.write(tmp_path / "sans_id.csv"), work_queue)
    b = ingest_file(export.write(tmp_path / "sans_id.xlsx"), work_queue)
    assert (a.new, b.new, b.duplicates) == (30, 0, 30)
    refs = [v.reference for v in work_queue.items()]
    assert all(r.startswith("H-") and len(r) == 18 for r in refs)


# --- the inbox ----------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, inbox_dir=tmp_path / "inbox", archive_dir=tmp_path / "archive")


def test_inbox_files_are_ingested_then_archived_under_a_dated_name(
    export: SampleExport, settings: Settings, work_queue: WorkQueue
) -> None:
    settings.inbox_dir.mkdir()
    export.write(settings.inbox_dir / "export_juin.xlsx")
    (settings.inbox_dir / "~$export_juin.xlsx").write_bytes(b"excel lock file")
    (settings.inbox_dir / "lisez-moi.pdf").write_bytes(b"%PDF")

    (summary,) = ingest_inbox(settings, work_queue, now=lambda: datetime(2025, 7, 1, 6, 30))
    assert summary.new == 56
    assert summary.archived_as == "20250701-063000_export_juin.xlsx"
    archived = settings.archive_dir / summary.archived_as
    assert archived.exists()
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    assert sorted(p.name for p in settings.inbox_dir.iterdir()) == [
        "lisez-moi.pdf",
        "~$export_juin.xlsx",
    ]
    ledger = settings.archive_dir / LEDGER_NAME
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    entry = json.loads(ledger.read_text(encoding="utf-8"))
    assert entry["archived_as"] == summary.archived_as
    assert entry["new"] == 56


def test_a_renamed_copy_of_an_ingested_file_is_archived_without_ingestion(
    export: SampleExport, settings: Settings, work_queue: WorkQueue
) -> None:
    settings.inbox_dir.mkdir()
    path = export.write(settings.inbox_dir / "export.csv")
    copy = settings.archive_dir.parent / "copie.csv"
    shutil.copy(path, copy)
    ingest_inbox(settings, work_queue, now=lambda: datetime(2025, 7, 1, 6, 0))
    shutil.move(copy, settings.inbox_dir / "export (1).csv")

    (again,) = ingest_inbox(settings, work_queue, now=lambda: datetime(2025, 7, 2, 6, 0))
    assert again.already_ingested
    assert again.read == again.new == again.duplicates == 0
    assert "déjà ingéré" in again.detected
    assert again.archived_as == "20250702-060000_DEJA-INGERE_export (1).csv"
    assert not any(settings.inbox_dir.iterdir())
    history = [h for v in work_queue.items() for h in work_queue.history(v.reference)]
    assert all(h.event == "enqueue" for h in history)


def test_a_refused_inbox_file_goes_to_refused_with_its_reason_and_may_come_back(
    export: SampleExport, settings: Settings, work_queue: WorkQueue
) -> None:
    settings.inbox_dir.mkdir()
    broken = SampleExport(
        [("Sex" if h == "Sexe" else h) for h in export.headers],
        [{("Sex" if h == "Sexe" else h): v for h, v in r.items()} for r in export.rows],
        {("Sex" if h == "Sexe" else h): k for h, k in export.keys.items()},
    )
    path = broken.write(settings.inbox_dir / "export.csv")
    content = path.read_bytes()
    (refused,) = ingest_inbox(settings, work_queue, now=lambda: datetime(2025, 7, 1, 6, 0))
    assert not refused.ok
    assert refused.refused_as == "20250701-060000_export.csv"
    beside = settings.archive_dir.parent / "refused"
    assert (beside / "20250701-060000_export.csv").read_bytes() == content
    reason = (beside / "20250701-060000_export.csv.raison.txt").read_text(encoding="utf-8")
    assert "colonne obligatoire « Sexe » absente" in reason
    assert "déposez-le à nouveau" in reason
    assert not (settings.archive_dir / LEDGER_NAME).exists()

    # once the mapping knows the header (here: the file is fixed by hand), it is ingested
    (settings.inbox_dir / "export.csv").write_bytes(content.replace(b";Sex;", b";Sexe;"))
    (ok,) = ingest_inbox(settings, work_queue, now=lambda: datetime(2025, 7, 1, 7, 0))
    assert ok.ok
    assert ok.new == 56


def test_cli_ingest_inbox_prints_each_file_as_json(
    export: SampleExport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    for name, value in {
        "QUEUE_PATH": tmp_path / "queue" / "queue.db",
        "INBOX_DIR": tmp_path / "inbox",
        "ARCHIVE_DIR": tmp_path / "archive",
        "LOGS_DIR": tmp_path / "logs",
    }.items():
        monkeypatch.setenv(f"ICOPE_BOT_{name}", str(value))
    export.write(tmp_path / "inbox" / "export.csv")
    assert main(["ingest", "--inbox", "--json"]) == 0
    (line,) = json.loads(capsys.readouterr().out)
    assert (line["file"], line["new"], line["invalid"]) == ("export.csv", 56, 4)
    assert line["archived_as"].endswith("_export.csv")
    assert main(["ingest"]) == 2  # neither files nor --inbox
