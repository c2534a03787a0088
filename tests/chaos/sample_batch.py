"""The batch the chaos tests run: a sample ICOPE et Moi export, ingested into a run's queue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.ingest import ingest_file
from bot.sample import generate
from bot.workqueue import open_queue

__all__ = ["Batch", "export_in_queue"]


@dataclass(frozen=True)
class Batch:
    references: list[str]
    no_consent: set[str]  # rows without consent to share: they go to a person, never entered

    @property
    def to_enter(self) -> int:
        return len(self.references) - len(self.no_consent)


def export_in_queue(n: int, seed: int, data: Path) -> Batch:
    """``n`` fictitious people exported, ingested into ``data/queue/queue.db``."""
    path = generate(n, seed=seed).write(data / "export-icope-et-moi.xlsx")
    with open_queue(data / "queue" / "queue.db") as queue:
        summary = ingest_file(path, queue)
        assert (summary.new, summary.invalid) == (n, 0), summary
        views = queue.items()
    return Batch(
        references=[v.reference for v in views],
        no_consent={
            v.reference for v in views if v.assessment and not v.assessment.consent_sharing
        },
    )
