"""What every backend decides the same way: which transition is allowed, what the history says.

The backends only store; the checks and the sentences a person reads live here once, so SQLite and
PostgreSQL refuse the same moves with the same French messages.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.models import ItemState, SelfAssessment
from bot.workqueue.contract import STATE_LABELS, TRANSITIONS, IllegalTransition

__all__ = [
    "GIVE_UP_REASON",
    "check_transition",
    "conflict_reason",
    "enqueue_reason",
    "lease_reason",
    "quarantine_texts",
]

S = ItemState


def _where(source: str, row: int | None) -> str:
    return source + (f", ligne {row}" if row is not None else "")


def enqueue_reason(source: str, row: int | None) -> str:
    return f"Importé ({_where(source, row)})"


def conflict_reason(source: str, row: int | None) -> str:
    return (
        "Conflit : cette référence a été importée à nouveau avec un contenu "
        f"différent ({_where(source, row)}) ; l'élément existant n'a pas été modifié."
    )


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
