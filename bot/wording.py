"""French as the users read it: counts with their plural, decimal commas, durations, states.

Every sentence a person reads that holds a number goes through here, so "1 retours", "2 invalide",
"9.3 s" or "0 h 0 min" cannot come back one message at a time.
"""

from __future__ import annotations

from bot.models import ItemState

__all__ = ["count", "decimal", "duration", "state_count", "state_plural"]

S = ItemState

#: A state's label for several items (bot.workqueue.STATE_LABELS holds the singular).
_STATE_PLURALS: dict[ItemState, tuple[str, str]] = {
    S.INVALID: ("invalide (quarantaine)", "invalides (quarantaine)"),
    S.PENDING: ("en attente", "en attente"),
    S.IN_PROGRESS: ("en cours", "en cours"),
    S.RETRY_WAIT: ("nouvel essai prévu", "nouveaux essais prévus"),
    S.DONE: ("terminé", "terminés"),
    S.NEEDS_REVIEW: ("à vérifier", "à vérifier"),
    S.FAILED: ("en échec", "en échec"),
    S.APPROVED: ("validé", "validés"),
    S.REJECTED: ("rejeté", "rejetés"),
}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun agreed: ``count(1, "retour")`` → "1 retour", 2 → "2 retours".

    French uses the singular for 0 and 1. The default plural adds an ``s`` to each word that does
    not end in s, x or z ("alerte discordante" → "alertes discordantes"); give ``plural`` for the
    others ("nouvel essai" → "nouveaux essais", "à vérifier" stays).
    """
    if abs(n) < 2:
        return f"{n} {singular}"
    if plural is None:
        plural = " ".join(w if w[-1:] in ("s", "x", "z") else w + "s" for w in singular.split(" "))
    return f"{n} {plural}"


def state_plural(state: ItemState, n: int) -> str:
    """The label of a state for ``n`` items ("terminé" / "terminés")."""
    singular, plural = _STATE_PLURALS[state]
    return singular if abs(n) < 2 else plural


def state_count(n: int, state: ItemState) -> str:
    """ "1 terminé", "2 invalides (quarantaine)"."""
    return f"{n} {state_plural(state, n)}"


def decimal(value: float, digits: int = 1) -> str:
    """A number as written in French: a decimal comma, no useless zero ("9,3", "16", "2,5")."""
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text.replace(".", ",")


def duration(seconds: float) -> str:
    """An elapsed time as a person says it: "moins d'une minute", "12 min", "2 h 05", "3 j 4 h"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "moins d'une minute"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
