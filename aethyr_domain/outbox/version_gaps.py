"""Refusing outbox entries whose events skip aggregate versions the store does not have.

Every entry of the outbox was decided on the game's World, whose aggregates carried
every event the store had acknowledged. If the store later lacks some of those events
- after an *asynchronous* failover the promoted replica may miss the newest
acknowledged transactions (``docs/replication.md``) - an entry's first event for an
aggregate can carry version 8 while the store holds that aggregate only up to version
4. The store accepts such an event (the key of version 8 is free), and the log then has
a gap: replaying the aggregate fails at boot with ``OriginatorVersionError``.

:func:`refuse_version_gaps` keeps that out of the log. Before a batch is appended it
checks, for each entry in order, that every aggregate's first event in it comes right
after what the store (plus the entries before it in the batch) holds. An entry that
skips ahead becomes a dead letter whose reason names the aggregate, the store's
version and the entry's; the later entries of that aggregate follow it (they skip
ahead too), the other entries are delivered. A version at or below the store's is a
version clash, left to the store (``IntegrityError``, the usual refusal).

The store's version is read (one ``select_events``, newest first, limit 1) only for an
aggregate whose event is not version 1 and whose next version this process has not
just delivered: the per-World memory of "next version" is a hint, and any mismatch is
settled by reading the store, so a stale hint costs a read, never a wrong answer.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence

from aethyr_domain.application import World
from aethyr_domain.outbox.event_store import last_version
from aethyr_domain.outbox.queue import Entry

#: What the operator reads in the dead letter (and the log).
GAP_REASON = (
    "VersionGapError: aggregate {aggregate} is at version {stored} in the event store, "
    "but this entry's event has version {version}: the store lacks events the game had "
    "acknowledged (an asynchronous failover?). Not written, to keep the log without gaps; "
    "see docs/replication.md (failover runbook) and docs/operations.md"
)

_hints: weakref.WeakKeyDictionary[World, dict[str, int]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _hint_for(world: World) -> dict[str, int]:
    """The World's "next version" hints (a throwaway dict if it cannot be weakly keyed)."""
    with _lock:
        try:
            return _hints.setdefault(world, {})
        except TypeError:
            return {}


def refuse_version_gaps(
    world: World, batch: Sequence[Entry], refuse: Callable[[Entry, str], None]
) -> list[Entry]:
    """The entries of ``batch`` that may be appended; ``refuse(entry, reason)`` each other.

    ``batch`` is in outbox order; so is the result. See the module docstring.
    """
    hints = _hint_for(world)
    planned: dict[str, int] = {}  # aggregate -> next version, after the entries kept so far
    kept: list[Entry] = []
    for entry in batch:
        mine: dict[str, int] = {}
        reason: str | None = None
        for event in entry.events or ():
            aggregate = str(event.originator_id)
            version = int(event.originator_version)
            expected = mine.get(aggregate) or planned.get(aggregate)
            if expected is None:
                expected = _next_in_store(world, hints, aggregate, version)
            if version > expected:
                reason = GAP_REASON.format(
                    aggregate=aggregate, stored=expected - 1, version=version
                )
                break
            mine[aggregate] = version + 1
        if reason is not None:
            refuse(entry, reason)
            continue
        planned.update(mine)
        kept.append(entry)
    hints.update(planned)  # a hint only: a mismatch next round reads the store again
    return kept


def _next_in_store(world: World, hints: dict[str, int], aggregate: str, version: int) -> int:
    """The version the store's next event of ``aggregate`` must have."""
    if version == 1:
        return 1  # a new aggregate cannot skip; an existing one clashes in the store
    if hints.get(aggregate) == version:
        return version  # this process delivered version - 1 itself
    return last_version(world, aggregate) + 1
