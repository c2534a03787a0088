"""Hostile and dirty exports (issue 12): no file stops the night, no bad value reaches the target.

Each test writes a real file (as Excel, a text editor or an attacker would), ingests it through
:func:`bot.ingest.ingest_file` or the inbox, then reads what a person reads: the queue item's
state and reason, the ``refused/`` folder and its reason file, file modes.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings
from bot.ingest import ingest_file, ingest_inbox
from bot.logs import logger
from bot.models import ItemState
from bot.sample import SampleExport, generate, write_export
from bot.workqueue import ItemView, WorkQueue, open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import run_env
from tests.fixtures.settings import make_settings, settings_env

S = ItemState
AS_OF = date(2025, 6, 30)


@pytest.fixture
def export() -> SampleExport:
    e = generate(6, seed=12, as_of=AS_OF)
    # Accented names throughout: a file read in the wrong encoding shows it in every row.
    for i, row in enumerate(e.rows):
        row[_header(e, "identity.birth_name")] = ["LEFÈVRE", "BÉRANGER", "NOËL", "GAÏA"][i % 4]
        row[_header(e, "source_id")] = f"AE-{i + 1:03d}"
    return e


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, inbox_dir=tmp_path / "inbox", archive_dir=tmp_path / "archive")


@pytest.fixture
def night_env(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """``icope-bot`` aimed at the test sandbox, every file under ``tmp_path``."""
    env = settings_env(tmp_path, logs_dir=tmp_path / "logs")
    env |= run_env(sandbox, tmp_path, screenshots="off", timeout_ms=15_000)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield tmp_path
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def _header(e: SampleExport, key: str) -> str:
    return next(h for h, k in e.keys.items() if k == key)


def _views(queue: WorkQueue) -> dict[int | None, ItemView]:
    return {v.row: v for v in queue.items()}


def _csv_bytes(e: SampleExport, tmp_path: Path, **options: object) -> bytes:
    return write_export(e, tmp_path / "tmp-export.csv", **options).read_bytes()  # type: ignore[arg-type]


# --- a 7 KB file must not kill ingestion or the scheduler ---------------------------------------


def _dimension_bomb(e: SampleExport, path: Path, *, declared: bool = True) -> Path:
    """A real export plus one cell at XFD1048576 (Excel's last cell): ~7 KB on disk."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(e.headers)
    for r in e.rows:
        ws.append([r[h] for h in e.headers])
    ws["XFD1048576"] = "x"
    wb.save(path)
    if not declared:  # the same bomb without the <dimension> a guard could trust
        _rewrite_part(
            path, "xl/worksheets/sheet1.xml", lambda x: re.sub(rb"<dimension[^>]*/>", b"", x)
        )
    return path


def _rewrite_part(path: Path, name: str, change: object) -> None:
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    parts[name] = change(parts[name])  # type: ignore[operator]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_a_dimension_bomb_goes_to_refused_and_the_next_file_is_ingested(
    export: SampleExport, settings: Settings, work_queue: WorkQueue, declared: bool
) -> None:
    settings.inbox_dir.mkdir()
    bomb = _dimension_bomb(export, settings.inbox_dir / "a-bombe.xlsx", declared=declared)
    assert bomb.stat().st_size < 10_000
    write_export(export, settings.inbox_dir / "b-bon.csv")

    first, second = ingest_inbox(settings, work_queue)

    assert first.refused is not None
    assert first.refused.startswith("Fichier « a-bombe.xlsx » refusé : la feuille")
    assert "colonne XFD" in first.refused
    assert "limite de 256 colonnes" in first.refused
    refused = settings.archive_dir.parent / "refused"
    assert (refused / f"{first.refused_as}").is_file()
    reason = (refused / f"{first.refused_as}.raison.txt").read_text(encoding="utf-8")
    assert "colonne XFD" in reason
    assert stat.S_IMODE((refused / f"{first.refused_as}.raison.txt").stat().st_mode) == 0o600
    assert second.ok
    assert second.new == len(export.rows)
    assert not any(settings.inbox_dir.iterdir())


def test_a_native_crash_of_the_excel_reader_is_contained_and_explained(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    # Guards opened wide on purpose: the bomb reaches the reader, which aborts in its child
    # process (out of memory under the cap) instead of taking ingestion down with it.
    from bot.ingest import ReadLimits

    bomb = _dimension_bomb(export, tmp_path / "bombe.xlsx")
    wide = ReadLimits(
        max_columns=20_000, max_rows=2_000_000, max_cells=10**12, reader_memory_mb=256
    )

    summary = ingest_file(bomb, work_queue, limits=wide)

    assert summary.refused is not None
    assert "mémoire autorisée (256 Mo)" in summary.refused
    assert "[" not in summary.refused  # a sentence for a person, no error code
    assert work_queue.items() == []


def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_reading(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    path = write_export(export, tmp_path / "zip.xlsx")
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf,
        zf.open("xl/media/vide.bin", "w") as f,
    ):
        block = bytes(1 << 20)
        for _ in range(300):  # 300 MB of zeros: about 300 KB compressed
            f.write(block)
    assert path.stat().st_size < 2_000_000

    summary = ingest_file(path, work_queue)

    assert summary.refused is not None
    assert "300 Mo une fois décompressée" in summary.refused
    assert "limite de 256 Mo" in summary.refused


# --- one stray byte must not rewrite every name ----------------------------------------------------


@pytest.mark.parametrize("accented_headers", [True, False], ids=["accented", "plain"])
def test_a_utf8_file_with_one_stray_byte_quarantines_only_that_row(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue, accented_headers: bool
) -> None:
    content = _csv_bytes(export, tmp_path, encoding="utf-8")
    if not accented_headers:
        content = content.replace("Prénoms".encode(), b"Prenoms")
    lines = content.split(b"\r\n")
    lines[3] = lines[3].replace("ÈVRE".encode(), b"\xc8VRE").replace("NOËL".encode(), b"NO\xcbL")
    lines[3] = (
        lines[3].replace("BÉRANGER".encode(), b"B\xc9RANGER").replace("GAÏA".encode(), b"GA\xcfA")
    )
    path = tmp_path / "export.csv"
    path.write_bytes(b"\r\n".join(lines))

    summary = ingest_file(path, work_queue)
    views = _views(work_queue)

    assert summary.ok, summary.refused
    assert summary.detected.startswith("CSV, UTF-8")
    assert (summary.new, summary.invalid) == (len(export.rows) - 1, 1)
    bad = views[4]
    assert bad.state == S.INVALID
    assert re.search(r"Ligne 4, colonne « Nom de naissance » : .*octets .*UTF-8 \(0x", bad.reason)
    names = {v.assessment.identity.birth_name for v in views.values() if v.assessment}
    assert names <= {"LEFÈVRE", "BÉRANGER", "NOËL", "GAÏA"}


def test_a_windows_1252_file_is_still_read_as_windows_1252(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    path = write_export(export, tmp_path / "export.csv", encoding="cp1252")

    summary = ingest_file(path, work_queue)

    assert "Windows-1252" in summary.detected or "latin-1" in summary.detected
    assert summary.new == len(export.rows)
    names = {v.assessment.identity.birth_name for v in work_queue.items() if v.assessment}
    assert "LEFÈVRE" in names


def test_a_name_showing_mojibake_is_quarantined_with_a_reason(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    export.rows[0][_header(export, "identity.birth_name")] = "LEFÃˆVRE"
    export.rows[1][_header(export, "identity.address")] = "3 place de l'Ã‰glise"
    path = write_export(export, tmp_path / "export.csv")

    ingest_file(path, work_queue)
    views = _views(work_queue)

    assert views[2].state == S.INVALID
    assert "« Nom de naissance »" in views[2].reason
    assert "mauvais encodage" in views[2].reason
    assert views[3].state == S.INVALID
    assert "« Adresse »" in views[3].reason


# --- ordinary CSVs must not be refused whole ---------------------------------------------------


@pytest.mark.parametrize("ending", ["\r", "mixed"])
def test_bare_cr_and_mixed_line_endings_are_read(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue, ending: str
) -> None:
    lines = _csv_bytes(export, tmp_path).split(b"\r\n")
    if ending == "\r":
        content = b"\r".join(lines)
    else:
        content = b"".join(line + [b"\r\n", b"\n", b"\r"][i % 3] for i, line in enumerate(lines))
    path = tmp_path / "export.csv"
    path.write_bytes(content)

    summary = ingest_file(path, work_queue)

    assert summary.ok, summary.refused
    assert (summary.new, summary.invalid) == (len(export.rows), 0)
    assert sorted(_views(work_queue)) == list(range(2, len(export.rows) + 2))


def test_an_oversized_cell_quarantines_its_row_only(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    export.rows[0][_header(export, "identity.address")] = "rue " * 50_000  # 200,000 characters
    path = write_export(export, tmp_path / "export.csv")

    summary = ingest_file(path, work_queue)
    views = _views(work_queue)

    assert summary.ok, summary.refused
    assert (summary.new, summary.invalid) == (len(export.rows) - 1, 1)
    assert "colonne « Adresse » : la cellule fait 200\u202f000 caractères" in views[2].reason


# --- what the e-parcours or the programme refuses is refused at ingestion ---------------------------


def test_names_the_target_refuses_are_quarantined_naming_the_column(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    export.rows[0][_header(export, "identity.birth_name")] = "DUPONT2"
    export.rows[1][_header(export, "identity.first_names")] = "Marie J0sé"
    export.rows[2][_header(export, "identity.birth_name")] = "LE GUEN-D'HÉROUVILLE"
    path = write_export(export, tmp_path / "export.csv")

    ingest_file(path, work_queue)
    views = _views(work_queue)

    assert views[2].state == S.INVALID
    assert (
        "Ligne 2, colonne « Nom de naissance » : le nom « DUPONT2 » serait refusé"
        in views[2].reason
    )
    assert "traits d'union" in views[2].reason
    assert views[3].state == S.INVALID
    assert "colonne « Prénoms de naissance »" in views[3].reason
    assert views[4].state == S.PENDING  # letters, spaces, hyphens and apostrophes are kept


@pytest.mark.parametrize(
    ("birth", "state", "says"),
    [
        ("15/06/2025", S.INVALID, "postérieure à la date d'évaluation"),
        ("01/01/1850", S.INVALID, "antérieure à 1900"),
        ("01/03/1990", S.NEEDS_REVIEW, "35 ans à la date d'évaluation"),
    ],
    ids=["after-assessment", "before-1900", "under-60"],
)
def test_impossible_birth_dates_are_invalid_and_out_of_programme_ones_go_to_a_person(
    export: SampleExport,
    tmp_path: Path,
    work_queue: WorkQueue,
    birth: str,
    state: ItemState,
    says: str,
) -> None:
    export.rows[0][_header(export, "identity.birth_date")] = birth
    export.rows[0][_header(export, "assessed_on")] = "10/06/2025"
    path = write_export(export, tmp_path / "export.csv")

    ingest_file(path, work_queue)
    view = _views(work_queue)[2]

    assert view.state == state
    assert says in view.reason
    if state == S.INVALID:
        assert "colonne « Date de naissance »" in view.reason
    assert all(v.state == S.PENDING for r, v in _views(work_queue).items() if r != 2)


def test_invisible_characters_are_stripped_and_meaning_changing_ones_refused(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    with open_queue(tmp_path / "propre.db") as clean_queue:
        ingest_file(write_export(export, tmp_path / "propre.csv"), clean_queue)
        clean = {v.row: v for v in clean_queue.items()}
    sid, name = _header(export, "source_id"), _header(export, "identity.birth_name")
    export.rows[0][sid] = "AE-\x00001"  # a NUL inside the app's id
    export.rows[1][name] = "BÉ\u200bRANGER"  # a zero-width space inside a name
    export.rows[2][name] = "NO\u202eËL"  # a right-to-left override
    export.rows[3][name] = "GA\x07ÏA"  # a control character (bell)
    dirty = write_export(export, tmp_path / "sale.csv")

    summary = ingest_file(dirty, work_queue)
    views = _views(work_queue)

    # stripped: the very same references and values as the clean file
    assert views[2].reference == clean[2].reference == "ICM-AE-001"
    assert views[2].assessment == clean[2].assessment
    assert views[3].assessment == clean[3].assessment
    assert "\x00" not in "".join(v.reference for v in views.values())
    # refused, naming the character and the column
    assert summary.invalid == 2
    assert "colonne « Nom de naissance »" in views[4].reason
    assert "(U+202E, forçage droite-à-gauche)" in views[4].reason
    assert "caractère de contrôle invisible (U+0007)" in views[5].reason


def test_lengths_are_bounded(export: SampleExport, tmp_path: Path, work_queue: WorkQueue) -> None:
    export.rows[0][_header(export, "identity.address")] = "1 rue de la Paix " * 1_000
    export.rows[1][_header(export, "identity.first_names")] = " ".join(["Marie"] * 5_000)
    path = write_export(export, tmp_path / "export.csv")

    ingest_file(path, work_queue)
    views = _views(work_queue)

    assert (
        "colonne « Adresse » : le texte est trop long (300 caractères au plus)" in views[2].reason
    )
    assert views[3].state == S.INVALID
    assert "colonne « Prénoms de naissance »" in views[3].reason


def test_a_formula_without_its_value_is_reported_as_a_formula(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue
) -> None:
    from openpyxl import load_workbook

    path = write_export(export, tmp_path / "export.xlsx")
    wb = load_workbook(path)
    ws = wb.active
    col = export.headers.index(_header(export, "identity.birth_date")) + 1
    ws.cell(row=2, column=col, value="=DATE(1950,1,1)")  # openpyxl keeps no cached value
    wb.save(path)

    ingest_file(path, work_queue)
    views = _views(work_queue)

    assert views[2].state == S.INVALID
    assert "colonne « Date de naissance » : la cellule contient une formule" in views[2].reason
    assert "vide" not in views[2].reason
    assert views[3].state == S.PENDING


# --- one row, one visible fate ---------------------------------------------------------------------


def _twice(export: SampleExport, first: dict[str, str], second: dict[str, str]) -> SampleExport:
    rows = [dict(r) for r in export.rows[2:]]
    return SampleExport(export.headers, [first, *rows, second], export.keys)


@pytest.mark.parametrize("case", ["valid-then-invalid", "invalid-then-valid", "two-people"])
def test_one_id_twice_in_a_file_goes_to_a_person_with_both_rows(
    export: SampleExport, tmp_path: Path, work_queue: WorkQueue, case: str
) -> None:
    sid, born = _header(export, "source_id"), _header(export, "identity.birth_date")
    a, b = dict(export.rows[0]), dict(export.rows[1])
    b[sid] = a[sid]
    if case == "valid-then-invalid":
        b = dict(a, **{born: "31/02/1950"})
    elif case == "invalid-then-valid":
        a, b = dict(a, **{born: "31/02/1950"}), a
    e = _twice(export, a, b)
    last = len(e.rows) + 1
    path = write_export(e, tmp_path / "export.csv")

    summary = ingest_file(path, work_queue)
    views = _views(work_queue)

    # every row read has exactly one item, and the summary counts match the queue
    assert sorted(r for r in views if r is not None) == list(range(2, last + 1))
    assert summary.read == len(e.rows)
    assert summary.conflicts == 1
    first, second = views[2], views[last]
    assert second.state == S.INVALID
    assert second.reference == f"ICM-{a[sid]}~L{last}"
    assert "l'identifiant d'évaluation de la ligne 2 du même fichier" in second.reason
    assert "Ligne 2 :" in second.details
    assert f"Ligne {last} :" in second.details
    if case == "invalid-then-valid":
        assert first.state == S.INVALID  # never silently replaced by the other row
        assert first.assessment is None
    else:
        assert first.state == S.NEEDS_REVIEW
        assert f"lignes 2 et {last}" in first.reason


# --- the inbox is not a door to the rest of the disk ----------------------------------------------


def test_symlinks_and_pipes_in_the_inbox_are_refused_and_what_they_point_to_untouched(
    export: SampleExport, settings: Settings, work_queue: WorkQueue, tmp_path: Path
) -> None:
    outside = write_export(export, tmp_path / "ailleurs" / "secret.csv")
    outside.chmod(0o644)
    settings.inbox_dir.mkdir()
    (settings.inbox_dir / "lien.csv").symlink_to(outside)
    os.mkfifo(settings.inbox_dir / "tube.csv")

    summaries = {s.file: s for s in ingest_inbox(settings, work_queue)}

    assert "lien symbolique" in (summaries["lien.csv"].refused or "")
    assert "pas un fichier ordinaire" in (summaries["tube.csv"].refused or "")
    assert work_queue.items() == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert outside.is_file()
    refused = settings.archive_dir.parent / "refused"
    moved = refused / (summaries["lien.csv"].refused_as or "")
    assert moved.is_symlink()
    assert "lien symbolique" in Path(f"{moved}.raison.txt").read_text(encoding="utf-8")


# --- everything the bot creates is private, whatever the umask ----------------------------------


def test_ingest_inbox_under_umask_000_creates_only_private_folders_and_files(
    export: SampleExport, tmp_path: Path
) -> None:
    data = tmp_path / "donnees"
    env = {
        "ICOPE_BOT_QUEUE_PATH": str(data / "file" / "queue.db"),
        "ICOPE_BOT_INBOX_DIR": str(data / "depot" / "entree"),
        "ICOPE_BOT_ARCHIVE_DIR": str(data / "depot" / "archive"),
        "ICOPE_BOT_LOGS_DIR": str(tmp_path / "logs"),
    }
    (tmp_path / "logs").mkdir(mode=0o700)
    write_export(export, tmp_path / "export.csv")
    _dimension_bomb(export, tmp_path / "bombe.xlsx")
    code = (
        "import os, shutil, sys; os.umask(0)\n"
        "from bot.cli import main\n"
        "main(['ingest', '--inbox'])\n"  # creates the folders
        f"shutil.copy({str(tmp_path / 'export.csv')!r}, {env['ICOPE_BOT_INBOX_DIR']!r})\n"
        f"shutil.copy({str(tmp_path / 'bombe.xlsx')!r}, {env['ICOPE_BOT_INBOX_DIR']!r})\n"
        "sys.exit(main(['ingest', '--inbox']))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean | {"PYTHONPATH": str(PROJECT_ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr  # the bomb was refused
    depot = data / "depot"
    found = {p.relative_to(tmp_path): stat.S_IMODE(p.lstat().st_mode) for p in depot.rglob("*")}
    found[depot.relative_to(tmp_path)] = stat.S_IMODE(depot.stat().st_mode)
    found[data.relative_to(tmp_path)] = stat.S_IMODE(data.stat().st_mode)
    copied = {Path("donnees/depot/entree/export.csv"), Path("donnees/depot/entree/bombe.xlsx")}
    too_open = {str(p): oct(m) for p, m in found.items() if p not in copied and m & 0o077}
    assert not too_open
    assert any(p.name == ".ingest.lock" for p in found)
    assert any(p.name.endswith(".raison.txt") for p in found)


# --- the night goes on ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_schedule_once_refuses_a_bomb_and_runs_the_files_after_it(
    night_env: Path, check_usager: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    good = generate(2, seed=31, as_of=AS_OF)
    inbox = night_env / "queue" / "inbox"
    inbox.mkdir(parents=True)
    _dimension_bomb(good, inbox / "a-bombe.xlsx")
    good.write(inbox / "b-export.xlsx")

    code = main(["schedule", "--once"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert not list(inbox.iterdir())
    assert "a-bombe.xlsx : REFUSÉ" in out
    assert "colonne XFD" in out
    assert [p.name for p in (night_env / "queue" / "refused").glob("*a-bombe.xlsx")]
    with open_queue(night_env / "queue" / "queue.db") as queue:
        assert [v.state for v in queue.items()] == [S.DONE, S.DONE]


# --- a reviewer's correction passes the same checks --------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "says"),
    [
        ({"Date de naissance": "15/06/2025"}, "postérieure à la date d'évaluation"),
        ({"Date de naissance": "01/01/1850"}, "antérieure à 1900"),
        ({"Date de naissance": "01/03/1990"}, "ans à la date d'évaluation"),
        ({"Nom de naissance": "DUPONT2"}, "serait refusé par l'e-parcours"),
        ({"Nom de naissance": "DU\u202ePONT"}, "U+202E"),
    ],
    ids=["after-assessment", "before-1900", "under-60", "digits", "override"],
)
def test_a_reviewer_fix_is_checked_as_ingestion_checks(
    work_queue: WorkQueue, tmp_path: Path, cells: dict[str, str], says: str
) -> None:
    from bot.review import export_exceptions, import_decisions
    from tests.fixtures.queue import make_assessment
    from tests.fixtures.review import DAY, fill_xlsx, to_review

    ref = to_review(work_queue, make_assessment(reference="AE-1", assessed_on=date(2025, 6, 10)))
    path = export_exceptions(work_queue, tmp_path, today=DAY).xlsx
    fill_xlsx(path, {ref: {"Décision": "fix", **cells}})

    report = import_decisions(work_queue, path, reviewer="alice")

    assert not report.ok
    (refusal,) = report.refused
    assert says in refusal.message
    assert work_queue.get(ref).state == S.NEEDS_REVIEW


def test_a_workbook_the_child_reader_refuses_is_refused_in_plain_words(
    tmp_path: Path, work_queue: WorkQueue
) -> None:
    from openpyxl import Workbook

    path = tmp_path / "vide.xlsx"
    Workbook().save(path)  # readable, guarded, but nothing in it

    summary = ingest_file(path, work_queue)

    assert summary.refused == "Fichier « vide.xlsx » refusé : le classeur est vide."
