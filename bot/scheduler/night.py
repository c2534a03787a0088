"""What one night did, kept between its jobs, and the morning report made from it.

The scheduler's steps (:mod:`bot.scheduler.steps`) fill a :class:`Night` and save it next to the queue
after each step; the morning job turns it, with the queue as it is then, into a
:class:`MorningReport` (``reports/morning-<date>.txt`` for a person, ``.json`` for a program) and
exports the exceptions file for the reviewer. References, counts, codes and reasons only — never
a name; files 0600 in 0700 folders.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from bot.evidence import write_private
from bot.logs import logger
from bot.models import ItemState
from bot.workqueue import STATE_LABELS

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_TARGET_CHANGED",
    "IngestLine",
    "ItemLine",
    "MorningReport",
    "Night",
    "ReviewExport",
    "RunLine",
    "TargetCheck",
    "night_path",
    "open_night",
]

S = ItemState

EXIT_FAILED = 2  # same as the runner's EXIT_SYSTEM: a step failed or items wait for a retry
EXIT_TARGET_CHANGED = 4  # the preflight refused the target: the queue was not run

NIGHT_NAME = "scheduler-night.json"
#: Items listed by reference in the text report; the JSON lists them all.
TEXT_LIST_LIMIT = 40


# --- what a night did (kept between its jobs) --------------------------------------------------


class IngestLine(BaseModel):
    """One inbox file: counts only (its name is the one the export tool gave it)."""

    file: str
    archived_as: str | None = None
    read: int = 0
    new: int = 0
    duplicates: int = 0
    conflicts: int = 0
    invalid: int = 0
    refused: str | None = None
    already_ingested: bool = False


class TargetCheck(BaseModel):
    ok: bool
    missing: list[str] = Field(default_factory=list)  # what the preflight did not find
    message: str = ""


class ItemLine(BaseModel):
    """An item in the report: reference, state, code and reason — never identity."""

    reference: str
    state: str
    code: str | None = None
    reason: str = ""


class RunLine(BaseModel):
    started_at: datetime
    finished_at: datetime
    stop_at: datetime | None
    handled: int
    attempts: int
    counts: dict[str, int]
    stopped_reason: str | None
    message: str
    exit_code: int
    exceptions: list[ItemLine] = Field(default_factory=list)  # last outcome of each, this run
    report: str | None = None  # the run's HTML report (bot.runner.report)


class Night(BaseModel):
    """What the steps of one night did; saved after each step, closed by the morning report."""

    started_at: datetime
    ingest: list[IngestLine] | None = None  # None: the ingest step did not run
    target: TargetCheck | None = None
    run: RunLine | None = None
    not_run: str | None = None  # why the queue was not run, in French
    errors: list[str] = Field(default_factory=list)  # steps that failed unexpectedly
    reported_at: datetime | None = None

    @classmethod
    def load(cls, path: Path) -> Night | None:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            logger.warning("Suivi de la nuit illisible ({}) : un nouveau est commencé", path.name)
            return None

    def save(self, path: Path) -> None:
        write_private(path, self.model_dump_json(indent=2))


def night_path(settings: Settings) -> Path:
    return Path(settings.queue_path).parent / NIGHT_NAME


def open_night(settings: Settings, now: datetime) -> Night:
    """The night in progress, or a new one if the last was reported (or never started)."""
    night = Night.load(night_path(settings))
    if night is None or night.reported_at is not None:
        night = Night(started_at=now)
    return night


# --- the morning report ------------------------------------------------------------------------


class ReviewExport(BaseModel):
    count: int
    xlsx: str
    csv: str


class MorningReport(BaseModel):
    """What the team reads in the morning (``reports/morning-<date>.txt`` and ``.json``)."""

    date: date
    written_at: datetime
    timezone: str
    night: Night | None
    queue: dict[str, int]  # counts per state now
    needs_review: list[ItemLine]  # every item waiting for a person's decision now
    failures: list[ItemLine]  # failed, or waiting for a new technical attempt
    review_export: ReviewExport | None
    notes: list[str] = Field(default_factory=list)
    #: Items each bot machine released in the last 24 h, whole queue: machine → {state: count}
    machines: dict[str, dict[str, int]] = Field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 nothing to look at, 1 items for a person, 2 failures, 4 target refused."""
        night = self.night
        if night is not None and night.target is not None and not night.target.ok:
            return EXIT_TARGET_CHANGED
        if (night is not None and night.errors) or self.failures:
            return EXIT_FAILED
        # Only the run's codes this command shares: the run's 3 (stopped at the stop time)
        # would read as "another run was in progress" here; what still waits is listed.
        if night is not None and night.run is not None and night.run.exit_code in (1, 2):
            return night.run.exit_code
        return 1 if self.needs_review else 0

    def text(self) -> str:
        """The report as plain French text for a person."""
        tz = ZoneInfo(self.timezone)
        lines = [f"Rapport du matin icope-bot — {self.date:%d/%m/%Y}", ""]
        night = self.night
        if night is None:
            lines.append("Aucun passage de nuit enregistré depuis le dernier rapport.")
        else:
            # The zone and its offset once, so no one reads the hours below as UTC.
            offset = f"{night.started_at.astimezone(tz):%z}"
            lines.append(f"Heures de {self.timezone} (UTC{offset[:3]}:{offset[3:]}).")
            lines += _night_text(night, tz)
        if self.machines:
            lines += ["", "Par machine du robot (24 dernières heures, toute la file) :"]
            lines += [
                f"  {machine} : "
                + ", ".join(f"{STATE_LABELS[ItemState(s)]} {n}" for s, n in sorted(states.items()))
                for machine, states in self.machines.items()
            ]
        lines += ["", "File de travail maintenant :"]
        lines += [
            f"  {STATE_LABELS[ItemState(state)]} : {n}" for state, n in self.queue.items() if n
        ] or ["  vide"]
        lines += ["", f"À examiner par une personne : {len(self.needs_review)}"]
        lines += _listed(self.needs_review)
        invalid = self.queue.get(S.INVALID.value, 0)
        if invalid:
            lines.append(
                f"Lignes d'export invalides (quarantaine) à corriger ou rejeter : {invalid} "
                "(dans le fichier des exceptions)"
            )
        lines += ["", f"Échecs techniques (en échec ou nouvel essai prévu) : {len(self.failures)}"]
        lines += _listed(self.failures)
        if self.review_export is not None:
            lines += [
                "",
                f"Fichier des exceptions ({self.review_export.count} élément(s)) :",
                f"  {self.review_export.xlsx}",
                f"  {self.review_export.csv}",
                "  Remplir la colonne « Décision » puis : "
                "icope-bot review import FICHIER --reviewer NOM",
            ]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%d/%m %H:%M}"


def _night_text(night: Night, tz: ZoneInfo) -> list[str]:
    lines = [f"Nuit commencée le {_when(night.started_at, tz)}."]
    if night.ingest is None:
        lines.append("Ingestion : pas faite cette nuit.")
    elif not night.ingest:
        lines.append("Ingestion : aucun fichier dans la boîte de dépôt.")
    else:
        lines.append(f"Ingestion : {len(night.ingest)} fichier(s).")
        for f in night.ingest:
            if f.refused:
                lines.append(f"  {f.file} : REFUSÉ — {f.refused}")
            elif f.already_ingested:
                lines.append(f"  {f.file} : déjà ingéré, archivé sans réingestion")
            else:
                lines.append(
                    f"  {f.file} : {f.read} lue(s), {f.new} nouvelle(s), {f.duplicates} "
                    f"doublon(s), {f.conflicts} conflit(s), {f.invalid} invalide(s)"
                )
    if night.target is not None:
        lines.append(
            "Contrôle de l'outil cible : conforme."
            if night.target.ok
            else "Contrôle de l'outil cible : NON CONFORME."
        )
    if night.not_run:
        lines.append(night.not_run)
    run = night.run
    if run is not None:
        counts = ", ".join(f"{STATE_LABELS[ItemState(s)]} {n}" for s, n in run.counts.items())
        lines.append(
            f"Lot : {_when(run.started_at, tz)} → {_when(run.finished_at, tz)}, "
            f"{run.handled} élément(s) traité(s)" + (f" ({counts})" if counts else "") + "."
        )
        if run.message:
            lines.append(f"  {run.message}")
        if run.report:
            lines.append(f"  Rapport détaillé du lot : {run.report}")
    elif night.target is None and not night.not_run:
        lines.append("Lot : pas lancé cette nuit.")
    lines += [f"ERREUR : {e}" for e in night.errors]
    return lines


def _listed(items: list[ItemLine]) -> list[str]:
    out = [
        f"  {i.reference} — {STATE_LABELS[ItemState(i.state)]}"
        + (f" [{i.code}]" if i.code else "")
        + (f" : {i.reason}" if i.reason else "")
        for i in items[:TEXT_LIST_LIMIT]
    ]
    if len(items) > TEXT_LIST_LIMIT:
        out.append(f"  … et {len(items) - TEXT_LIST_LIMIT} autre(s) (voir le fichier .json)")
    return out
