"""Several machines on one queue: batched enqueue, work per machine, the PostgreSQL schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bot.config import Settings
from bot.errors import ConfigurationError
from bot.models import ItemState
from bot.runner.recovery import machine_of, worker_name
from bot.runner.report import write_run_report
from bot.runner.summary import RunSummary
from bot.scheduler.steps import report_step
from bot.workqueue import (
    Enqueued,
    EnqueueStatus,
    WorkQueue,
    is_queue_url,
    open_queue,
    work_by_machine,
)
from bot.workqueue.postgres import MIGRATIONS
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.queue import BOTH_BACKENDS, FakeClock, QueueTarget, make_assessment

S = ItemState


@BOTH_BACKENDS
def test_enqueue_many_says_what_enqueue_one_by_one_would(work_queue: WorkQueue) -> None:
    work_queue.enqueue(make_assessment(reference="OLD"), source="a.csv", row=2)
    changed = make_assessment(reference="OLD", consent_sharing=False)
    entries = [
        Enqueued(make_assessment(reference="N1"), row=2),
        Enqueued(make_assessment(reference="OLD"), row=3),  # same content
        Enqueued(changed, row=4),  # other content
        Enqueued(make_assessment(reference="N2"), row=5),
        Enqueued(make_assessment(reference="N1"), row=6),  # repeated within the chunk
        Enqueued(make_assessment(reference="N2", consent_sharing=False), row=7),
    ]

    statuses = work_queue.enqueue_many(entries, source="b.csv")

    N, D, C = EnqueueStatus.NEW, EnqueueStatus.DUPLICATE, EnqueueStatus.CONFLICT
    assert statuses == [N, D, C, N, D, C]
    assert [v.reference for v in work_queue.items()] == ["OLD", "N1", "N2"]
    old = work_queue.get("OLD")
    assert old.assessment == make_assessment(reference="OLD")  # not overwritten
    # A conflict reaches a person with both versions, as with enqueue (issue 11).
    assert (old.state, old.error_code) == (S.NEEDS_REVIEW, "conflict")
    assert old.conflict is not None
    assert (old.conflict.assessment, old.conflict.row) == (changed, 4)
    n2 = work_queue.history("N2")
    assert [(h.event, h.from_state, h.to_state) for h in n2] == [
        ("enqueue", None, S.PENDING),
        ("conflict", S.PENDING, S.PENDING),
        ("transition", S.PENDING, S.NEEDS_REVIEW),
    ]
    assert n2[0].reason == "Importé (b.csv, ligne 5)"
    assert "ligne 7" in n2[1].reason
    assert work_queue.get("N1").row == 2


@BOTH_BACKENDS
def test_enqueue_many_of_nothing_changes_nothing(work_queue: WorkQueue) -> None:
    assert work_queue.enqueue_many([], source="vide.csv") == []
    assert sum(work_queue.counts().values()) == 0


@BOTH_BACKENDS
def test_work_by_machine_counts_each_machines_releases(
    clocked_queue: WorkQueue, fake_clock: FakeClock
) -> None:
    for i in range(5):
        clocked_queue.enqueue(make_assessment(reference=f"R{i}"), source="t.csv")
    a, b = "robot-a:11:1", "robot-b:22:1"
    (old,) = clocked_queue.lease(a, 1)
    old.done()  # a day and more ago: outside the window
    fake_clock.advance(hours=30)
    since = fake_clock.now - timedelta(hours=24)
    for item in clocked_queue.lease(a, 2):
        item.done()
    (review,) = clocked_queue.lease(b, 1)
    review.needs_review("à vérifier")
    (unfinished,) = clocked_queue.lease(b, 1)  # still in progress: not a release

    assert work_by_machine(clocked_queue, since) == {
        "robot-a": {"done": 2},
        "robot-b": {"needs_review": 1},
    }
    assert unfinished.outcome is None


def test_worker_names_carry_the_machine_name() -> None:
    name = worker_name(3, "robot-2")
    assert name.startswith("robot-2:")
    assert name.endswith(":3")
    assert machine_of(name) == "robot-2"
    assert machine_of(f"bot:{name}") == "robot-2"
    assert machine_of("reviewer:alice") == ""


def test_queue_targets_are_told_apart() -> None:
    assert is_queue_url("postgresql://bot@db/icope")
    assert is_queue_url("postgres://bot@db/icope")
    assert not is_queue_url("queue/queue.db")


@pytest.mark.parametrize("queue_backend", ["postgres"], indirect=True)
def test_postgres_schema_is_versioned_and_created_once(queue_target: QueueTarget) -> None:
    with open_queue(queue_target) as q:
        q.enqueue(make_assessment(reference="R1"), source="t.csv")
    with open_queue(queue_target) as q:  # a second machine, or a restart: nothing re-created
        assert q.get("R1").state == S.PENDING
    with psycopg.connect(str(queue_target)) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [v for v, _ in MIGRATIONS]


@pytest.mark.parametrize("queue_backend", ["postgres"], indirect=True)
def test_a_postgres_queue_of_schema_1_is_migrated_and_its_items_can_conflict(
    queue_target: QueueTarget,
) -> None:
    # A queue written by a bot of before issue 11: only migration 1 applied, one pending item.
    first = make_assessment(reference="R1")
    with psycopg.connect(str(queue_target), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0][1].encode())
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute(
            'INSERT INTO items (reference, state, content_hash, assessment_json, source, "row",'
            " created_at, updated_at) VALUES ('R1', 'pending', %s, %s, 'a.csv', 2, now(), now())",
            (first.content_hash(), first.model_dump_json()),
        )

    with open_queue(queue_target) as q:
        assert q.get("R1").conflict is None  # the existing item is read after the migration
        changed = make_assessment(reference="R1", consent_sharing=False)
        assert q.enqueue(changed, source="b.csv", row=3) == EnqueueStatus.CONFLICT
        view = q.get("R1")
        assert (view.state, view.error_code) == (S.NEEDS_REVIEW, "conflict")
        assert view.conflict is not None
        assert view.conflict.assessment == changed
    with psycopg.connect(str(queue_target)) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [v for v, _ in MIGRATIONS]


@BOTH_BACKENDS
def test_a_conflict_arriving_while_the_item_is_entered_sends_it_to_review_not_done(
    work_queue: WorkQueue,
) -> None:
    work_queue.enqueue(make_assessment(reference="R1"), source="a.csv", row=2)
    (item,) = work_queue.lease("w1")
    changed = make_assessment(reference="R1", consent_sharing=False)
    statuses = work_queue.enqueue_many([Enqueued(changed, row=3)], source="b.csv")
    assert statuses == [EnqueueStatus.CONFLICT]
    assert work_queue.get("R1").state == S.IN_PROGRESS  # the attempt under way is not cut
    with item:
        item.result["alerts"] = {"app": {"vision": True}}
    # The entry ended well, but the new version must reach a person (issue 11).
    assert item.outcome == S.NEEDS_REVIEW
    assert item.error is not None
    assert getattr(item.error, "code", None) == "conflict"

    view = work_queue.get("R1")
    assert (view.state, view.error_code) == (S.NEEDS_REVIEW, "conflict")
    assert "b.csv, ligne 3" in view.reason
    assert "enregistrée dans l'e-parcours" in view.reason
    assert view.conflict is not None
    assert view.conflict.entered
    assert view.result == {"alerts": {"app": {"vision": True}}}  # what was entered stays
    assert [(h.from_state, h.to_state) for h in work_queue.history("R1")][-1] == (
        S.IN_PROGRESS,
        S.NEEDS_REVIEW,
    )

    # The reviewer keeps what is in the target: finished, the conflict settled, then purged.
    work_queue.transition("R1", S.APPROVED, actor="reviewer:alice")
    assert work_queue.get("R1").conflict is None
    assert work_queue.purge(timedelta(0)) == 1
    view = work_queue.get("R1")
    assert (view.state, view.assessment, view.conflict) == (S.APPROVED, None, None)


@pytest.mark.parametrize("queue_backend", ["postgres"], indirect=True)
def test_a_bot_older_than_the_schema_refuses_to_open_it(queue_target: QueueTarget) -> None:
    open_queue(queue_target).close()
    newer = MIGRATIONS[-1][0] + 1
    with psycopg.connect(str(queue_target), autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (newer,))

    with pytest.raises(ConfigurationError, match=f"schéma {newer}, plus récent"):
        open_queue(queue_target)


def test_an_unreachable_database_is_a_configuration_error(postgres_server: PostgresCluster) -> None:
    url = f"postgresql://icope@127.0.0.1:{postgres_server.port}/absente"
    with pytest.raises(ConfigurationError, match="ICOPE_BOT_QUEUE_URL"):
        open_queue(url)


@BOTH_BACKENDS
def test_the_morning_report_shows_what_each_machine_did(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    for i in range(3):
        work_queue.enqueue(make_assessment(reference=f"R{i}"), source="t.csv")
    for item in work_queue.lease("robot-a:11:1", 2):
        item.done()
    (other,) = work_queue.lease("robot-b:22:1", 1)
    other.needs_review("Alerte différente", code="alerts_differ")
    settings = Settings(
        queue_path=tmp_path / "queue" / "queue.db",
        reports_dir=tmp_path / "reports",
        reviews_dir=tmp_path / "reviews",
    )

    report, path = report_step(settings, work_queue, None, now=datetime.now(UTC))

    assert report.machines == {"robot-a": {"done": 2}, "robot-b": {"needs_review": 1}}
    text = path.read_text(encoding="utf-8")
    assert "Par machine du robot (24 dernières heures, toute la file) :" in text
    assert "  robot-a : terminé 2" in text
    assert "  robot-b : à vérifier 1" in text


@BOTH_BACKENDS
def test_the_run_report_shows_each_machines_share_of_the_queue(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(3):
        work_queue.enqueue(make_assessment(reference=f"R{i}"), source="t.csv")
    (mine,) = work_queue.lease("robot-a:11:1", 1)
    mine.done()
    for item in work_queue.lease("robot-b:22:1", 2):  # another machine, same night
        item.done()
    summary = RunSummary(
        started_at=started,
        finished_at=datetime.now(UTC),
        workers=1,
        dry_run=False,
        machines=work_by_machine(work_queue, started),
    )

    html = write_run_report(summary, tmp_path / "reports").read_text(encoding="utf-8")

    assert "Toute la file pendant le passage, par machine" in html
    assert "<td>robot-a</td><td>terminé 1</td>" in html
    assert "<td>robot-b</td><td>terminé 2</td>" in html
