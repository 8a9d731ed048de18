"""``world --json [--source live|projection|replay] [--at TX|TIME]``: the world as
canonical JSON, read from the log, from the log plus the outbox, or from the read
model.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethyr_domain.cli.common import (
    CliError,
    load_config,
    open_outbox,
    require_event_sourcing,
)
from aethyr_domain.cli.projections import game_state_from_projection, world_at
from aethyr_domain.config import ServerConfig
from aethyr_domain.game_state import GameState
from aethyr_domain.read.world_dump import dumps

if TYPE_CHECKING:
    from aethyr_domain.application import World


# ------------------------------------------------------------------ world
def run_world(args: argparse.Namespace) -> int:
    config = load_config(args)
    require_event_sourcing(config, "world")
    if args.at is not None:
        state = world_at(config, args.at)
    else:
        state = load_game_state(config, args.source)
    sys.stdout.write(dumps(state))
    return 0


def load_game_state(config: ServerConfig, source: str) -> GameState:
    """The world from ``source``: ``replay`` (the event log), ``live`` or ``projection``.

    ``live`` is the world the game would load at boot - the log replayed, then what
    the outbox still holds applied - computed read-only (:func:`live_world`).
    """
    if source == "projection":
        return game_state_from_projection(config)
    from aethyr_domain.outbox.event_store import open_world_or_raise
    from aethyr_domain.read.replay import rebuild_world_state

    app = open_world_or_raise(config, CliError, lag_tolerant=source == "replay")
    try:
        if source == "live":
            return live_world(config, app)
        return rebuild_world_state(app)
    finally:
        app.close()


#: The name :func:`load_game_state` had before issue 17, kept for code outside this
#: repository (``aethyr_domain.cli.load_world``); it returns a ``GameState``.
load_world = load_game_state


def live_world(config: ServerConfig, app: World) -> GameState:
    """The store's world with the outbox's pending entries applied in memory.

    Read-only: nothing is delivered or written, and no lease is taken. The entries'
    events are applied in order to the aggregates replayed from the store, skipping
    an entry already stored (an interrupted delivery) and one that no longer fits
    (its aggregate moved past the entry's version: delivery will refuse it).
    Command rows of earlier versions are not decided here, so they are not shown.
    """
    from aethyr_domain.outbox.delivery import is_stored, to_stored_events
    from aethyr_domain.read.replay import final_aggregates, live_world_of

    aggregates, _events = final_aggregates(app)
    if Path(config.outbox_path).exists():
        outbox = open_outbox(config)
        try:
            entries = outbox.entries_between(0, 2**62)
        finally:
            outbox.close()
        for entry in entries:
            if not entry.events or is_stored(app, entry.events[0]):
                continue
            events: list[Any] = [app.mapper.to_domain_event(s) for s in to_stored_events([entry])]
            staged = dict(aggregates)
            fits = True
            for event in events:
                key = str(event.originator_id)
                current = staged.get(key)
                if (0 if current is None else current.version) + 1 != event.originator_version:
                    fits = False
                    break
                staged[key] = event.mutate(copy.deepcopy(current))
            if fits:
                aggregates = staged
    return live_world_of(aggregates)
