"""Items whose identity searches could meet are entered in the order they were leased.

With one worker, items are entered in queue order: of two near twins, the first creates its
dossier and the second finds it and goes to review. With several workers both are leased at once;
the per-person lock (:func:`bot.flows.identity.search_keys`) keeps them from searching at the same
moment, but whichever worker takes it first would win, and the outcome would hang on timing. So an
item waits for every item leased before it in this run that shares a search key: the run decides
as one worker would, whatever the number of workers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["Turns"]


class Turns:
    """Leased items in lease order, with their search keys; an item's turn comes when no earlier
    item sharing a key is still being entered."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._order = itertools.count()
        self._active: dict[str, tuple[int, frozenset[tuple[str, ...]]]] = {}

    def join(self, reference: str, keys: Iterable[tuple[str, ...]]) -> None:
        """Put a just-leased item in line (call it in lease order, under the leasing lock)."""
        with self._changed:
            self._active[reference] = (next(self._order), frozenset(keys))

    def leave(self, reference: str) -> None:
        """The item is finished (or was given back): later items sharing a key may go."""
        with self._changed:
            if self._active.pop(reference, None) is not None:
                self._changed.notify_all()

    @contextmanager
    def turn(self, reference: str) -> Iterator[None]:
        """Wait until every earlier item sharing a key has left; leave when done."""
        try:
            with self._changed:
                self._changed.wait_for(lambda: not self._before(reference))
            yield
        finally:
            self.leave(reference)

    def _before(self, reference: str) -> list[str]:
        mine = self._active.get(reference)
        if mine is None:
            return []
        order, keys = mine
        return [
            other
            for other, (their_order, their_keys) in self._active.items()
            if their_order < order and keys & their_keys
        ]
