"""``icope-bot review export`` / ``review import`` on a real queue file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import open_queue
from tests.fixtures.queue import make_assessment
from tests.fixtures.review import fill_xlsx, to_failed, to_review

S = ItemState


@pytest.fixture
def cli_env(queue_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings point at a test queue, reviews folder and log folder."""
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(queue_path))
    monkeypatch.setenv("ICOPE_BOT_REVIEWS_DIR", str(tmp_path / "reviews"))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))
    with open_queue(queue_path) as q:
        to_review(q, make_assessment(reference="AE-1"))
        to_failed(q, make_assessment(reference="AE-2"))
    yield tmp_path
    logger.remove()  # main() configured logging sinks into tmp_path: close them


def test_review_export_then_import_applies_the_decisions(
    cli_env: Path, queue_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "export"]) == 0
    out = capsys.readouterr()
    assert (
        "2 élément(s) à examiner (1 à vérifier, 1 en échec, 0 invalide (quarantaine))." in out.out
    )
    (xlsx,) = (cli_env / "reviews").glob("exceptions-*.xlsx")
    fill_xlsx(xlsx, {"AE-1": {"Décision": "approve"}, "AE-2": {"Décision": "reject"}})

    assert main(["review", "import", str(xlsx), "--reviewer", "alice"]) == 0

    out = capsys.readouterr()
    assert "1 validée(s), 0 relancée(s), 1 rejetée(s)" in out.out
    with open_queue(queue_path) as q:
        assert [q.get(r).state for r in ("AE-1", "AE-2")] == [S.APPROVED, S.REJECTED]
    logs = "".join(p.read_text() for p in (cli_env / "logs").glob("*.jsonl"))
    assert "TESTICOPE" not in out.out + out.err + logs


def test_review_import_exits_1_and_names_the_refused_row(
    cli_env: Path, queue_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "export", "--masked", "--out", str(cli_env / "elsewhere")]) == 0
    (xlsx,) = (cli_env / "elsewhere").glob("exceptions-*.xlsx")
    fill_xlsx(xlsx, {"AE-1": {"Décision": "approve"}, "AE-2": {"Décision": "peut-être"}})
    capsys.readouterr()

    assert main(["review", "import", str(xlsx), "--reviewer", "alice"]) == 1

    err = capsys.readouterr().err
    assert "Aucune décision appliquée" in err
    assert "ligne 3 (AE-2) : décision « peut-être » inconnue" in err
    with open_queue(queue_path) as q:
        assert q.get("AE-1").state is S.NEEDS_REVIEW


def test_review_import_requires_the_reviewer_name(cli_env: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["review", "import", "file.xlsx"])
    assert exit_info.value.code == 2


def test_review_import_of_a_missing_file_says_so(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "import", str(cli_env / "nope.xlsx"), "--reviewer", "alice"]) == 1
    assert "Fichier introuvable" in capsys.readouterr().err
