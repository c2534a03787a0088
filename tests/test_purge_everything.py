"""``icope-bot purge`` erases the purged people from every byte the bot wrote.

A whole life of a batch through the commands a person runs: an export dropped in the inbox and
ingested (then archived), a dry run (its screenshots are never evidence), a real run against the
sandbox, the review file exported and every decision imported, then ``purge --older-than 0m``.
Afterwards nothing in the bot's data folder, and nothing the browser left in the temp folder,
holds the names or birth dates of those people, in the forms they are written in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.evidence import EvidencePolicy
from bot.flows.double_entry import double_entry
from bot.logs import logger
from bot.pages.session import TargetSession
from bot.runner import RunOptions, run_batch
from bot.sample import generate
from bot.workqueue import WorkItem, WorkQueue, open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.review import fill_xlsx, xlsx_rows
from tests.fixtures.runner import enqueue_batch, run_env, run_settings

#: Birth names no other test writes, so a hit anywhere is ours. (name, first name, birth date)
PEOPLE = [
    ("Zorvapurga", "Ombeline", date(1931, 7, 3)),
    ("Zorvapurgb", "Philibert", date(1938, 11, 27)),
    ("Zorvapurgc", "Eulalie", date(1944, 1, 19)),
    ("Zorvapurgd", "Anatole", date(1929, 8, 14)),
]
# Where the bot or its browser might write in the system temp folder.
TEMP_PREFIXES = (
    "playwright",
    "icope-bot-usager",
    "icope-bot-login",
    "org.chromium",
    ".org.chromium",
)


def needles() -> dict[bytes, str]:
    """Every form a person's data takes in the files: as typed, upper case, French and ISO dates."""
    found: dict[bytes, str] = {}
    for name, first, born in PEOPLE:
        for text in (name, name.upper(), first, f"{born:%d/%m/%Y}", born.isoformat()):
            found[text.encode()] = text
    return found


def scan(root: Path) -> list[str]:
    """``path: text`` for every needle found in every file under ``root``."""
    hits = []
    wanted = needles()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            hits += [f"{path}: {text}" for needle, text in wanted.items() if needle in data]
    return hits


@pytest.fixture
def data_env(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every folder of the bot under one data folder, the commands pointed at the sandbox."""
    data = tmp_path / "data"
    env = run_env(sandbox, data) | {
        "ICOPE_BOT_LOGS_DIR": str(data / "logs"),
        "ICOPE_BOT_REVIEWS_DIR": str(data / "reviews"),
        "ICOPE_BOT_INBOX_DIR": str(data / "queue" / "inbox"),
        "ICOPE_BOT_ARCHIVE_DIR": str(data / "queue" / "archive"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield data
    logger.remove()  # main() configured logging sinks into the data folder


def _export(inbox: Path) -> None:
    """Four rows of our people (one with an impossible date of evaluation: quarantined)."""
    sample = generate(4, seed=3, errors=0, as_of=date(2025, 6, 30))
    for row, (name, first, born) in zip(sample.rows, PEOPLE, strict=True):
        row.update(
            {
                "Nom de naissance": name,
                "Prénoms de naissance": first,
                "Date de naissance": f"{born:%d/%m/%Y}",
                "E-mail": "",
                "INS": "",
            }
        )
    sample.rows[1]["Consentement au partage"] = "Non"  # to review, never entered
    sample.rows[3]["Date d'évaluation"] = "31/02/2024"  # invalid: quarantined with its cells
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    sample.write(inbox / "export-icope.csv")


@pytest.mark.timeout(300)
def test_purge_leaves_no_name_or_birth_date_of_the_purged_people_anywhere(
    data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = data_env
    temp = Path(tempfile.gettempdir())
    before = set(os.listdir(temp))
    _export(data / "queue" / "inbox")

    assert main(["ingest", "--inbox"]) == 0
    assert main(["run", "--dry-run"]) in (0, 1)  # forms filled, screenshots taken, nothing saved
    assert list((data / "screenshots").rglob("*.png"))
    assert main(["run"]) == 1  # the one without consent waits for a person
    assert main(["review", "export"]) == 0
    (xlsx,) = (data / "reviews").glob("exceptions-*.xlsx")
    waiting = [r["Référence"] for r in xlsx_rows(xlsx)]
    assert len(waiting) == 2  # no consent, and the invalid row
    fill_xlsx(xlsx, {ref: {"Décision": "rejeter"} for ref in waiting})
    assert main(["review", "import", str(xlsx), "--reviewer", "alice"]) == 0
    # Before the purge, the people are there to be found (the scan can see them): in the
    # queue, the review files, the archived export.
    found = "\n".join(scan(data))
    for where in ("queue.db", "exceptions-", "export-icope"):
        assert where in found
    capsys.readouterr()

    assert main(["purge", "--older-than", "0m"]) == 0

    out = capsys.readouterr().out
    assert "4 élément(s) terminé(s) purgé(s)" in out
    with open_queue(data / "queue" / "queue.db") as queue:
        assert all(v.purged_at is not None for v in queue.items())
    assert scan(data) == []
    # What the run left in the system temp folder (its own entries only: other test sessions
    # share it).
    ours = [temp / n for n in set(os.listdir(temp)) - before if n.startswith(TEMP_PREFIXES)]
    assert [hit for p in ours for hit in scan(p)] == []
    # No report embeds a screenshot any more; no review file, no archived export, no browser
    # folder is left; the lock folder holds its key only.
    for report in (data / "reports").glob("run-*.html"):
        assert "data:image" not in report.read_text(encoding="utf-8")
    assert not list((data / "reviews").glob("exceptions-*"))
    archived = [p.name for p in (data / "queue" / "archive").iterdir()]
    assert [n for n in archived if not n.startswith(".")] == ["ingested.jsonl"]  # names only
    assert list((data / "queue" / "tmp").iterdir()) == []
    assert [p.name for p in (data / "queue" / "locks").iterdir()] == [".key"]


def test_the_browser_keeps_its_temporary_files_in_the_private_folder_and_they_go(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path)
    private = settings.queue_path.parent / "tmp"
    # What a killed run left (its process is gone): removed when the next run starts.
    stale = private / "run-999999999" / "playwright-artifacts-abc"
    stale.mkdir(parents=True)
    (stale / "page.html").write_text(PEOPLE[0][0].upper())
    tmpdir_before = os.environ.get("TMPDIR")
    seen: list[str] = []

    def flow(
        session: TargetSession,
        item: WorkItem,
        settings: Settings,
        *,
        evidence: EvidencePolicy | None = None,
        dry_run: bool = False,
    ) -> object:
        seen.extend(p.name for p in (private / f"run-{os.getpid()}").iterdir())
        return double_entry(session, item, settings, evidence=evidence, dry_run=dry_run)

    enqueue_batch(work_queue, 1)
    summary = run_batch(settings, work_queue, RunOptions(), flow=flow)

    assert summary.counts == {"done": 1}
    assert any(n.startswith("playwright-artifacts-") for n in seen), seen
    assert any(n.startswith("playwright_chromiumdev_profile-") for n in seen), seen
    assert list(private.iterdir()) == []  # the dead run's and this run's, both gone
    assert private.stat().st_mode & 0o777 == 0o700
    assert os.environ.get("TMPDIR") == tmpdir_before
