"""What every backend decides the same way: which transition is allowed, what the history says.

The backends only store; the checks and the sentences a person reads live here once, so SQLite and
PostgreSQL refuse the same moves with the same French messages.
"""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from bot.logs import logger, mask
from bot.models import ItemState, SelfAssessment
from bot.workqueue.contract import (
    FINISHED_STATES,
    STATE_LABELS,
    TRANSITIONS,
    Conflict,
    Enqueued,
    EnqueueStatus,
    HistoryEntry,
    IllegalTransition,
    ItemView,
    TransitionChanges,
    WorkQueue,
)

__all__ = [
    "CONFLICT_CODE",
    "GIVE_UP_REASON",
    "PURGE_REASON",
    "Prepared",
    "RowQueue",
    "StoredConflict",
    "check_transition",
    "conflict_history_reason",
    "conflict_reason",
    "conflict_review_texts",
    "conflict_to_review_now",
    "delete_evidence",
    "enqueue_reason",
    "entry_parts",
    "finish_or_review",
    "history_entry_of",
    "lease_reason",
    "masked_enqueue_reasons",
    "quarantine_texts",
    "raw_hash",
    "stored_json",
]

S = ItemState


class Prepared(Enqueued):
    """A valid row whose reference, content hash and JSON were computed by the parser.

    The parser writes them for a plain row without building the model (bot.ingest._plain), and
    for a large file in a process of its own. Handing a validated assessment from one process to another costs more than validating it
    (pickling pydantic models: ~115 µs a row); three strings cost ~5 µs. The writing process
    stores the strings as they are; the assessment itself is rebuilt from its JSON only when it
    is needed (a changed reference, a quarantined row fixed), which is rare.
    """

    reference: str
    content_hash: str
    payload_json: str
    concern: str | None

    def __init__(
        self,
        reference: str,
        content_hash: str,
        payload_json: str,
        row: int | None,
        concern: str | None,
    ) -> None:
        # The dataclass's fields are frozen: set past its __setattr__, as its own __init__ does,
        # all at once (one frozen check per attribute cost ~3 µs a row, a million per file).
        vars(self).update(
            row=row,
            raw=None,
            reference=reference,
            content_hash=content_hash,
            payload_json=payload_json,
            concern=concern,  # assessment.out_of_programme(), computed by the parser
        )

    @cached_property
    def assessment(self) -> SelfAssessment:
        return SelfAssessment.model_validate_json(self.payload_json)


def entry_parts(entry: Enqueued) -> tuple[str, str, str]:
    """(reference, content hash, JSON payload) of a row to enqueue, computed once."""
    if isinstance(entry, Prepared):
        return entry.reference, entry.content_hash, entry.payload_json
    a = entry.assessment
    return a.reference, a.content_hash(), a.model_dump_json()


def _where(source: str, row: int | None) -> str:
    return source + (f", ligne {row}" if row is not None else "")


def enqueue_reason(source: str, row: int | None) -> str:
    return f"Importé ({_where(source, row)})"


def masked_enqueue_reasons(source: str, rows: Iterable[int | None]) -> list[str]:
    """``mask(enqueue_reason(source, row))`` for each row, the source masked once per chunk.

    Masking every row's reason cost ~30 µs a row, a third of a batch enqueue. A row number is
    digits alone between "ligne " and ")": no pattern of the mask matches it (a phone number
    needs ten digits with a leading 0, an INS thirteen, a date its separators), so the text
    around it is masked once and the number put in. Should the mask touch the words around
    the number (a person's name "Ligne" registered), every row is masked one by one.
    """
    rows = list(rows)
    probe = mask(enqueue_reason(source, 1))
    if not probe.endswith(", ligne 1)"):
        return [mask(enqueue_reason(source, row)) for row in rows]
    head = probe[: -len("1)")]
    return [
        f"{head}{row})"
        if row is not None and 0 < row < 10**9
        else mask(enqueue_reason(source, row))
        for row in rows
    ]


def conflict_reason(source: str, row: int | None) -> str:
    return (
        "Conflit : cette référence a été importée à nouveau avec un contenu "
        f"différent ({_where(source, row)}) ; l'élément existant n'a pas été modifié."
    )


#: The error code of an item whose reference came back with other content (issue 11).
CONFLICT_CODE = "conflict"


class StoredConflict(BaseModel):
    """The later version of an item, stored beside the queued one until a person decides.

    Both backends keep it as this model's JSON in ``items.conflict_json``.
    """

    assessment: SelfAssessment
    content_hash: str
    source: str
    row: int | None
    entered: bool  # the old version may already be in the target (the item had been worked on)

    @classmethod
    def of(
        cls, new: SelfAssessment, source: str, row: int | None, state: ItemState
    ) -> StoredConflict:
        # Nothing of the old version was entered yet when pending or waiting for a retry that
        # never started: "keep the old one" then re-queues it instead of approving it.
        entered = state not in (S.PENDING, S.RETRY_WAIT)
        return cls(
            assessment=new, content_hash=new.content_hash(), source=source, row=row, entered=entered
        )

    def as_view(self) -> Conflict:
        return Conflict(self.assessment, self.source, self.row, self.entered)

    @property
    def where(self) -> str:
        return _where(self.source, self.row)


def conflict_history_reason(source: str, row: int | None, state: ItemState) -> str:
    """The history row of a conflicting import (finished items are only told, not changed)."""
    if state in FINISHED_STATES:
        return (
            "Conflit : cette référence a été importée à nouveau avec un contenu "
            f"différent ({_where(source, row)}) ; l'élément était déjà terminé, "
            "il n'a pas été modifié."
        )
    return (
        "Conflit : cette référence a été importée à nouveau avec un contenu différent "
        f"({_where(source, row)}) ; rien n'est saisi avant la décision d'une personne."
    )


def conflict_to_review_now(state: ItemState) -> bool:
    """Whether a new conflict sends the item to a person at once.

    Pending and retry-waiting items go to review; items already with a person (review, failed)
    take the conflict as their reason; an item being entered goes when it is given back (the
    backends' ``lease`` does it), a finished one is not changed.
    """
    return state in (S.PENDING, S.RETRY_WAIT, S.NEEDS_REVIEW, S.FAILED)


def conflict_review_texts(where: str, previous: str, previous_details: str) -> tuple[str, str]:
    """(reason, details) of an item sent to a person for a conflict (``where``: source, row)."""
    reason = (
        f"Conflit : une nouvelle version de cette auto-évaluation a été importée ({where}), "
        "différente de celle en file ; rien n'est saisi avant votre décision."
    )
    details = f"Motif précédent : {previous}\n\n{previous_details}".strip() if previous else ""
    return reason, details


def finish_or_review(
    current: ItemState,
    to: ItemState,
    conflict_json: str | None,
    changes: TransitionChanges,
) -> tuple[ItemState, TransitionChanges]:
    """Where a bot's release really goes: ``done`` becomes ``needs_review`` under a conflict.

    A new version that came in while the queued one was being entered (the attempt under way is
    not cut) must still reach a person: finishing the item would leave the new version on a done
    item nobody looks at. The queued version is in the target; the reviewer picks, and the flow's
    result stays for the review file.
    """
    if conflict_json is None or current != S.IN_PROGRESS or to != S.DONE:
        return to, changes
    where = StoredConflict.model_validate_json(conflict_json).where
    reason = (
        f"Conflit : une nouvelle version de cette auto-évaluation a été importée ({where}) "
        "pendant la saisie de celle en file, qui est enregistrée dans l'e-parcours ; "
        "la nouvelle version n'est pas saisie avant votre décision."
    )
    done = changes.get("reason", "")
    details = f"Saisie terminée : {done}" if done else ""
    return S.NEEDS_REVIEW, changes | {
        "reason": reason,
        "details": "\n\n".join(x for x in (details, changes.get("details", "")) if x),
        "error_code": CONFLICT_CODE,
    }


def quarantine_texts(reasons: list[str], source: str, row: int | None) -> tuple[str, str, str]:
    """(reason, details, history reason) of a quarantined row."""
    first = reasons[0] if reasons else "ligne invalide"
    more = f" (et {len(reasons) - 1} autre(s) problème(s))" if len(reasons) > 1 else ""
    # Validation messages may quote the rejected value: the history only counts them.
    history = f"Mis en quarantaine : {len(reasons)} problème(s) ({_where(source, row)})"
    return first + more, "\n".join(reasons), history


def check_transition(
    reference: str,
    current: ItemState,
    to: ItemState,
    *,
    expect_from: Iterable[ItemState] | None,
    owner: str | None,
    lease_owner: str | None,
    assessment: SelfAssessment | None,
    has_payload: bool,
) -> None:
    """Raise IllegalTransition (or ValueError) unless ``current → to`` may happen now."""
    if expect_from is not None and current not in {ItemState(s) for s in expect_from}:
        raise IllegalTransition(
            f"l'élément {reference} est « {STATE_LABELS[current]} » : "
            f"passage à « {STATE_LABELS[to]} » refusé"
        )
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"passage de « {STATE_LABELS[current]} » à « {STATE_LABELS[to]} » "
            f"interdit (élément {reference})"
        )
    holds_lease = current != S.IN_PROGRESS or to == S.IN_PROGRESS or lease_owner == owner
    if owner is not None and not holds_lease:
        raise IllegalTransition(
            f"l'élément {reference} n'est plus réservé par {owner} (bail expiré et repris)"
        )
    if assessment is not None and assessment.reference != reference:
        raise ValueError(
            f"l'auto-évaluation {assessment.reference} ne correspond pas à {reference}"
        )
    if to in {S.PENDING, S.IN_PROGRESS, S.RETRY_WAIT} and not has_payload:
        raise IllegalTransition(
            f"l'élément {reference} n'a pas d'auto-évaluation valide : "
            f"passage à « {STATE_LABELS[to]} » impossible"
        )


def lease_reason(state: ItemState, attempts: int, lease_owner: str | None) -> str:
    """What the history says when a worker takes an item."""
    if state == S.IN_PROGRESS:
        return (
            f"Repris après expiration du bail de {lease_owner} : vérifier l'état dans l'outil cible"
        )
    if attempts:
        return f"Nouvel essai (tentative {attempts + 1})"
    return "Pris en charge"


#: The history of an item a worker died on at every attempt (lease → failed).
GIVE_UP_REASON = (
    "Traitement interrompu à chaque tentative : vérifier dans l'outil cible ce qui a été saisi"
)


# --- what both backends store the same way --------------------------------------------------


def stored_json(value: Any) -> str:
    """JSON as the queue stores it: sorted keys (stable hashes), accents kept."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def raw_hash(raw: dict[str, str]) -> str:
    """The content hash of an invalid row: its raw cells, since it has no assessment."""
    return hashlib.sha256(stored_json(raw).encode()).hexdigest()


class Columns(Protocol):
    """A stored row read by column name (sqlite3.Row, a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


class RowQueue(WorkQueue):
    """A backend that stores one row per item: entering and quarantining are the same insert,
    with the texts decided here; each backend writes it with :meth:`_insert`."""

    def enqueue(
        self,
        assessment: SelfAssessment,
        *,
        source: str,
        row: int | None = None,
        raw: dict[str, str] | None = None,
        actor: str = "ingest",
    ) -> EnqueueStatus:
        return self._insert(
            reference=assessment.reference,
            state=ItemState.PENDING,
            content_hash=assessment.content_hash(),
            assessment=assessment,
            raw=raw,
            source=source,
            row=row,
            reason="",
            details="",
            history_reason=enqueue_reason(source, row),
            actor=actor,
        )

    def quarantine(
        self,
        reference: str,
        *,
        source: str,
        row: int | None,
        reasons: list[str],
        raw: dict[str, str],
        actor: str = "ingest",
    ) -> EnqueueStatus:
        reason, details, history_reason = quarantine_texts(reasons, source, row)
        return self._insert(
            reference=reference,
            state=ItemState.INVALID,
            content_hash=raw_hash(raw),
            assessment=None,
            raw=raw,
            source=source,
            row=row,
            reason=reason,
            details=details,
            history_reason=history_reason,
            actor=actor,
        )

    @abstractmethod
    def _insert(
        self,
        *,
        reference: str,
        state: ItemState,
        content_hash: str,
        assessment: SelfAssessment | None,
        raw: dict[str, str] | None,
        source: str,
        row: int | None,
        reason: str,
        details: str,
        history_reason: str,
        actor: str,
    ) -> EnqueueStatus:
        """Insert a new reference, or say it is a duplicate or a conflict of the stored one."""

    @staticmethod
    def view_of(r: Columns, moment: Callable[[Any], datetime | None]) -> ItemView:
        """An item's row as callers see it; ``moment`` reads a stored date (SQLite keeps text)."""
        a, c = r["assessment_json"], r["conflict_json"]
        created, updated = moment(r["created_at"]), moment(r["updated_at"])
        assert created is not None  # NOT NULL columns
        assert updated is not None
        return ItemView(
            reference=r["reference"],
            state=ItemState(r["state"]),
            assessment=None if a is None else SelfAssessment.model_validate_json(a),
            raw=None if r["raw_json"] is None else json.loads(r["raw_json"]),
            source=r["source"],
            row=r["row"],
            attempts=r["attempts"],
            reason=r["reason"],
            details=r["details"],
            error_code=r["error_code"],
            result=None if r["result_json"] is None else json.loads(r["result_json"]),
            evidence=json.loads(r["evidence_json"]),
            not_before=moment(r["not_before"]),
            lease_owner=r["lease_owner"],
            lease_expires=moment(r["lease_expires"]),
            created_at=created,
            updated_at=updated,
            purged_at=moment(r["purged_at"]),
            conflict=None if c is None else StoredConflict.model_validate_json(c).as_view(),
        )


PURGE_REASON = "Données de santé effacées (durée de conservation dépassée)"


def history_entry_of(h: Columns, moment: Callable[[Any], datetime | None]) -> HistoryEntry:
    """A history row as callers see it (``moment`` as in :meth:`RowQueue.view_of`)."""
    at = moment(h["at"])
    assert at is not None  # NOT NULL column
    return HistoryEntry(
        at=at,
        actor=h["actor"],
        from_state=None if h["from_state"] is None else ItemState(h["from_state"]),
        to_state=ItemState(h["to_state"]),
        reason=h["reason"],
        # most rows carry none: skip the JSON parser (100,000 items, ~5 rows each)
        evidence=[] if h["evidence_json"] == "[]" else json.loads(h["evidence_json"]),
        error_code=h["error_code"],
        event=h["event"],
    )


def delete_evidence(evidence: Iterable[str]) -> None:
    """Delete purged items' screenshots, and each item's evidence folder once empty. A file
    this machine cannot reach is logged and left (the shared evidence folder: docs/scaling.md)."""
    for p in map(Path, evidence):
        try:
            p.unlink(missing_ok=True)
            if p.parent.is_dir() and not any(p.parent.iterdir()):
                p.parent.rmdir()  # the item's evidence folder, now empty
        except OSError as e:
            logger.warning("Preuve non effacée ({}) : {}", p, type(e).__name__)
