"""A night and a morning, end to end: 30 exported self-assessments through every module.

ingest (bot.ingest) → batch run, 2 workers, real Chromium against the sandbox (bot.runner)
→ exceptions file (bot.review) → the reviewer's decisions → second run → final states.

The export mixes what real nights bring: ordinary rows, rows the app alerted differently from the
rules, homonyms of people whose dossier already exists (one only by name, one a near match),
rows without consent, unreadable rows, and
an e-parcours that answers with errors when the night starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ingest import ingest_inbox, load_mapping
from bot.models import ItemState
from bot.review import export_exceptions, import_decisions
from bot.runner import RunEvent, RunOptions, run_batch
from bot.sample import SampleExport, generate
from bot.workqueue import open_queue
from sandbox.server import RunningSandbox
from tests.fixtures.review import fill_xlsx
from tests.fixtures.runner import run_settings

S = ItemState

#: A sample whose first rows are ordinary ones (they meet the e-parcours while it is failing).
SEED = 12


@pytest.mark.browser
# A hang guard, not a speed check: on a loaded 2-core CI machine this test took 222–242 s.
@pytest.mark.timeout(600)
def test_thirty_items_through_ingest_run_review_and_a_second_run(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = run_settings(
        sandbox,
        tmp_path,
        inbox_dir=tmp_path / "queue" / "inbox",
        archive_dir=tmp_path / "queue" / "archive",
        reviews_dir=tmp_path / "reviews",
        max_attempts=1,  # a technical failure goes straight to the reviewer
        screenshots="off",  # evidence has its own tests; a lighter browser keeps this one short
        timeout_ms=15_000,  # a busy test machine is not a technical failure of the target
    )
    export = generate(30, seed=SEED, homonyms=2, errors=3, discordant=3)
    consent = load_mapping().columns["consent_sharing"].header
    birth_date = load_mapping().columns["identity.birth_date"].header
    originals = [original for original, _ in export.homonyms]
    # One homonym shares every strict trait but the first name with someone (a near match the bot
    # must not decide); the other only shares the names (another person: a dossier of their own).
    [twin] = [
        h
        for o, h in export.homonyms
        if _cell(export, h, birth_date) == _cell(export, o, birth_date)
    ]
    [namesake] = [h for _, h in export.homonyms if h != twin]
    special = set(export.errors) | set(export.discordant) | {twin}
    plain = [r for r in range(2, 32) if r not in special]  # rows the bot can enter as they are
    no_consent = [r for r in plain if r not in (*originals, namesake)][-2:]
    for row, cells in enumerate(export.rows, start=2):
        cells[consent] = "Non" if row in no_consent else "Oui"
    assert {2, 3}.isdisjoint(special | {*originals, namesake, *no_consent})
    export.write(settings.inbox_dir / "export-icope-et-moi.xlsx")

    # --- 21:00, ingest ---------------------------------------------------------------------------
    [ingested] = ingest_inbox(settings)

    assert (ingested.read, ingested.new, ingested.invalid) == (30, 27, 3)
    assert not any(settings.inbox_dir.iterdir())
    assert (settings.archive_dir / ingested.archived_as).is_file()

    with open_queue(settings.queue_path) as queue:
        ref = {v.row: v.reference for v in queue.items()}
        # The dossiers of the homonyms' namesakes already exist in the e-parcours.
        for row in originals:
            identity = queue.get(ref[row]).assessment.identity
            sandbox.add_usager(
                birth_name=identity.birth_name,
                used_name=identity.used_name,
                first_names=list(identity.first_names),
                sex=identity.sex.value,
                birth_date=identity.birth_date.isoformat(),
                birth_insee=identity.birth_insee,
                ins=identity.ins,
            )

        # --- 21:05, the night's run: the e-parcours fails at first, then recovers -----------
        sandbox.set_faults(error_rate=1.0)

        def target_recovers(event: RunEvent) -> None:
            if event.kind == "item_finished":
                sandbox.set_faults(error_rate=0.0)

        night = run_batch(settings, queue, RunOptions(workers=2), on_event=target_recovers)

        assert night.stopped_reason is None
        assert len({r.worker for r in night.items}) == 2
        failed = {v.reference for v in queue.items([S.FAILED])}
        assert failed
        assert failed <= {ref[2], ref[3]}  # only the items entered while the target failed

        def state_and_code(row: int) -> tuple[ItemState, str | None]:
            view = queue.get(ref[row])
            return view.state, view.error_code

        for row in export.errors:
            assert state_and_code(row)[0] == S.INVALID
        for row in export.discordant:
            assert state_and_code(row) == (S.NEEDS_REVIEW, "alerts_discordant")
        assert state_and_code(twin) == (S.NEEDS_REVIEW, "identity_near_match")
        for row in no_consent:
            assert state_and_code(row) == (S.NEEDS_REVIEW, "consent_missing")
        entered = [r for r in plain if r not in no_consent and ref[r] not in failed]
        assert {state_and_code(r)[0] for r in entered} == {S.DONE}  # namesake and originals too

        # --- the morning: the reviewer's file and decisions --------------------------------------
        review = export_exceptions(queue, settings.reviews_dir)
        assert review.count == 3 + 3 + 1 + 2 + len(failed)

        discordant, errors = sorted(export.discordant), sorted(export.errors)
        decisions = {
            ref[discordant[0]]: {"Décision": "approve"},
            ref[discordant[1]]: {"Décision": "approve"},
            ref[discordant[2]]: {"Décision": "reject"},
            ref[twin]: {"Décision": "retry"},  # nothing changed on the target: still a question
            ref[no_consent[0]]: {"Décision": "fix", consent: "Oui"},  # consent obtained
            ref[no_consent[1]]: {"Décision": "reject"},
            ref[errors[0]]: {"Décision": "reject"},
            ref[errors[1]]: {"Décision": "reject"},
            **{r: {"Décision": "retry"} for r in failed},
        }
        fill_xlsx(review.xlsx, decisions)
        imported = import_decisions(queue, review.xlsx, reviewer="alice")
        assert imported.ok, imported.summary()

        # --- the next night -------------------------------------------------------------------
        again = run_batch(settings, queue, RunOptions(workers=2))

        assert sorted(again.final) == sorted([*failed, ref[twin], ref[no_consent[0]]])
        expected = {ref[r]: S.DONE for r in entered} | dict.fromkeys(failed, S.DONE)
        expected |= {
            ref[discordant[0]]: S.APPROVED,
            ref[discordant[1]]: S.APPROVED,
            ref[discordant[2]]: S.REJECTED,
            ref[twin]: S.NEEDS_REVIEW,
            ref[no_consent[0]]: S.DONE,
            ref[no_consent[1]]: S.REJECTED,
            ref[errors[0]]: S.REJECTED,
            ref[errors[1]]: S.REJECTED,
            ref[errors[2]]: S.INVALID,  # no decision yet
        }
        assert {r: queue.get(r).state for r in ref.values()} == expected
        assert queue.counts()[S.DONE] == len(plain) - 1  # all but the refused consent
        for reference in decisions:
            assert any(h.actor == "reviewer:alice" for h in queue.history(reference))

    # Every STEP 1 was saved once (none for the twin and the refused consent), never twice;
    # one dossier per person: the two the test created beforehand were found and reused.
    counts = sandbox.counts()
    assert counts["step1"] == 27 - 1 - 1
    assert counts["usagers"] == 2 + counts["step1"] - 2
    assert counts["duplicate_step1"] == 0
    assert counts["duplicate_usagers"] == 0


def _cell(export: SampleExport, row: int, header: str) -> str:
    return export.rows[row - 2][header]
