"""A guard for eventsourcing 9.5's in-memory (POPO) recorder and its subscribers.

``POPOApplicationRecorder.insert_events`` wakes its subscribers by iterating its
set of listeners *outside* its lock and without a copy, while ``listen`` and
``unlisten`` (a :class:`~eventsourcing.popo.POPOSubscription` starting or
stopping, e.g. a projection follower re-subscribing after a fault) change that set
from other threads. When the two meet, the insert fails with ``RuntimeError: Set
changed size during iteration`` *after* its events were stored, so its caller
sees a failed write that in fact happened.

:func:`guard_listeners` swaps the recorder's set for a :class:`SnapshotSet`, whose
iteration walks a copy taken in one step (``set.copy`` runs in C under the GIL,
so no other thread can change the set half-way through it). Nothing else changes:
``add``, ``remove`` and membership are the set's own. The :class:`World`
application applies it to every POPO recorder it makes; other recorders are left
as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.popo import POPOApplicationRecorder

T = TypeVar("T")


class SnapshotSet(set[T]):
    """A set whose iteration walks a copy, so other threads may add and remove meanwhile."""

    def __iter__(self) -> Iterator[T]:
        return set.__iter__(self.copy())


def guard_listeners(recorder: ApplicationRecorder) -> ApplicationRecorder:
    """Give a POPO application recorder a :class:`SnapshotSet` of listeners; returns it."""
    if isinstance(recorder, POPOApplicationRecorder):
        listeners = recorder._listeners  # the library's own attribute (eventsourcing 9.5)
        if not isinstance(listeners, SnapshotSet):
            recorder._listeners = SnapshotSet(listeners)
    return recorder
