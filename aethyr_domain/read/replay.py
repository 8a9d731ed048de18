"""Rebuilding the world from the event log (boot, ``world --source replay``, time travel).

Two ways, one result:

* :func:`rebuild_world_state` reconstructs the game's
  :class:`~aethyr_domain.game_state.GameState` - objects, players (with their
  password hashes, so logins work after a boot), rooms, exits, inventories in
  arrival order and layered equipment - from the *aggregates*: it reads the
  notification log once, in large pages, and applies each event to its
  aggregate (``event.mutate``, exactly what ``repository.get`` does), so every
  aggregate ends in the state ``repository.get`` would return, in creation
  order, without one ``select_events`` round trip per aggregate (measured: the
  per-aggregate loading was about 3-4x slower in memory and far slower on a
  server; see ``docs/performance.md``). Snapshots are not needed for this
  pass. Each aggregate becomes live state through
  :func:`~aethyr_domain.game_state.load_aggregate`, the function the game uses after
  every decided command, so a replay and the live world cannot differ in how they read
  an aggregate. At boot the game calls :func:`aggregates_and_game_state`, which also hands back
  the aggregates (they become its :class:`~aethyr_domain.decision.Decider`'s).
* :func:`replay_world` replays the log *event by event* into an in-memory
  read model (the projection's own logic, :mod:`aethyr_domain.read.projections.projection`)
  and can stop at a notification id or at a time: that is time travel
  (``world --json --at TX|ISO-TIMESTAMP``).

Both feed the replay metrics (events replayed, rate).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import Application

from aethyr_domain.game_state import GameState
from aethyr_domain.outbox.event_store import iter_notifications
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.projection import apply_event
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.view import Rows

PAGE_SIZE = 500
#: Notifications per read when rebuilding (fewer round trips to a server).
REBUILD_PAGE_SIZE = 2000


class TimeTravelError(ValueError):
    """An ``--at`` value that is neither a notification id nor an ISO-8601 time."""


def parse_at(text: str) -> int | datetime:
    """``"42"`` -> notification id 42; ``"2026-01-02T03:04:05+00:00"`` -> that time (UTC
    assumed when no offset is given)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--at {text!r}: expected a notification/transaction id or an ISO-8601 time"
        raise TimeTravelError(msg) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class Replay:
    """The outcome of :func:`replay_world`."""

    world: dict[str, Any]
    last_notification_id: int | None
    events: int
    seconds: float


def replay_world(app: Application[Any], at: int | datetime | None = None) -> Replay:
    """Replay the log into a fresh in-memory read model, up to ``at`` (inclusive).

    ``at`` is a notification id (for the immudb store: the position the
    recorder assigned, shown by ``history``) or a time: events recorded after
    it are not applied. Returns the world in the ``aethyr-world/1`` layout.
    """
    started = time.perf_counter()
    view = MemoryWorldView()
    stop_id = at if isinstance(at, int) else None
    position = 0
    last: int | None = None
    count = 0
    done = False
    while not done:
        page = app.recorder.select_notifications(
            start=position, limit=PAGE_SIZE, stop=stop_id, inclusive_of_start=False
        )
        events = []
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            if isinstance(at, datetime) and getattr(event, "timestamp", at) > at:
                done = True
                break
            events.append(event)
            last = notification.id
        if events:

            def apply_all(rows: Rows, batch: list[Any] = events) -> None:
                for event in batch:
                    apply_event(rows, event)

            view.apply(None, apply_all)
            count += len(events)
        if len(page) < PAGE_SIZE:
            done = True
        elif page:
            position = page[-1].id
    seconds = time.perf_counter() - started
    _count(count, seconds)
    with view.read() as rows:
        return Replay(world_dict(rows), last, count, seconds)


def _count(events: int, seconds: float) -> None:
    metrics.REPLAY_EVENTS.inc(events)
    metrics.REPLAY_SECONDS.inc(max(seconds, 0.0))


def final_aggregates(app: Application[Any]) -> tuple[dict[str, Any], int]:
    """Every aggregate in its latest state, in order of creation, and the events read.

    One pass over the notification log: each event is decoded once and applied
    to its aggregate with ``mutate`` - what ``repository.get`` does per aggregate,
    without one ``select_events`` round trip per aggregate. Boot hands these
    aggregates to the game's :class:`~aethyr_domain.decision.Decider` and builds the
    live world from them.
    """
    aggregates: dict[str, Any] = {}
    to_domain_event = app.mapper.to_domain_event
    count = 0
    for notification in iter_notifications(app, page_size=REBUILD_PAGE_SIZE):
        event: Any = to_domain_event(notification)
        key = str(event.originator_id)
        aggregates[key] = event.mutate(aggregates.get(key))
        count += 1
    return aggregates, count


def live_world_of(aggregates: Mapping[str, Any], world: GameState | None = None) -> GameState:
    """The live world holding ``aggregates`` (each loaded with
    :func:`~aethyr_domain.game_state.load_aggregate`, in the mapping's order).

    ``world`` (optional) is filled in place - its previous content is replaced -
    and returned; otherwise a new :class:`GameState` is returned. ``aggregates``
    (from :func:`final_aggregates`, possibly advanced in memory) saves reading the
    log again.
    """
    live = world if world is not None else GameState()
    live.objects.clear()
    live.players.clear()
    live.rooms.clear()
    live.inventories.clear()
    live.equipment.clear()
    live.update_from(aggregates.values())
    return live


def rebuild_world_state(app: Application[Any], world: GameState | None = None) -> GameState:
    """Reconstruct the live world from the event store.

    ``world`` (optional) is filled in place - its previous content is replaced -
    and returned; otherwise a new :class:`GameState` is returned.
    """
    return aggregates_and_game_state(app, world)[1]


def aggregates_and_game_state(
    app: Application[Any], world: GameState | None = None
) -> tuple[dict[str, Any], GameState]:
    """The latest aggregates (:func:`final_aggregates`) and the live world built from
    them (:func:`live_world_of`): what the game's boot needs, in one pass over the log."""
    started = time.perf_counter()
    aggregates, events = final_aggregates(app)
    live = live_world_of(aggregates, world)
    _count(events, time.perf_counter() - started)
    return aggregates, live


#: The name :func:`aggregates_and_game_state` had before issue 17, kept for code outside
#: this repository (it returns the aggregates and a ``GameState``, not a ``World``).
load_world = aggregates_and_game_state
