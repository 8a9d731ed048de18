"""The ``game-delivery`` scenario: commands/s from the game's outbox through the World to a store.

This is the game's write path when event sourcing is on: the game decides each
command in process (:class:`~aethyr_domain.decision.Decider`) and appends the
resulting events to the durable local outbox, and the delivery thread records the
entries in the store, many per ``insert_events`` (group commit). The scenario
pre-fills an outbox with ``Size.delivery_commands`` decided commands of the seeded
game of :mod:`benchmarks.game_log` (all accepted by the world, so none is refused)
and times how long delivery takes to empty it, on each backend.

Set-up, not timed: a World named after the round is opened on the backend and the
events of the game's set-up (rooms, exits, players; played once in memory) are
copied into its store with one ``insert_events``, then the outbox (a sqlite file
in a temporary directory, as ``aethyr-es`` keeps it) is filled.

The two functions that touch the outbox API are the only ones to change when that
API changes: :func:`fill_outbox` and :func:`deliver_all`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from aethyr_domain.application import World
from aethyr_domain.commands import Command
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_sink import record_decision
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.read.replay import final_aggregates
from benchmarks.backends import Backend
from benchmarks.game_log import AcceptedGame, accepted_commands
from benchmarks.replay_child import world_class
from benchmarks.scenarios import Measure, Size

ROOMS = 8
#: Entries per delivery round: the game's default (``outbox_batch_size``).
BATCH_SIZE = ServerConfig().outbox_batch_size

_games: dict[int, AcceptedGame] = {}


# ------------------------------------------------------------------ the adapter
def fill_outbox(outbox: Outbox, world: World, commands: Sequence[Command]) -> None:
    """Put ``commands`` into ``outbox`` as the game does, ready for delivery.

    A :class:`~aethyr_domain.decision.Decider` holding ``world``'s aggregates decides
    each command, and its events are appended as one outbox entry
    (:func:`~aethyr_domain.outbox.event_sink.record_decision`), as ``OutboxSink.record`` does.
    """
    aggregates, _events = final_aggregates(world)
    decider = Decider(aggregates, scrypt_n=world.scrypt_n)
    for command in commands:
        record_decision(outbox, world.mapper, decider.decide(command))


def deliver_all(outbox: Outbox, world: World, *, batch_size: int = BATCH_SIZE) -> int:
    """Deliver every pending entry to ``world`` in rounds, as the delivery thread does.

    Returns how many commands were delivered. A refused entry (a dead letter) is an
    error here: the scenario only sends commands the world accepts.
    """
    delivered = 0
    while outbox.backlog():
        result = deliver_pending(outbox, world, batch_size=batch_size)
        if result.dead:
            raise RuntimeError(f"{result.dead} command(s) refused during delivery")
        delivered += result.delivered + result.recovered
    return delivered


# ------------------------------------------------------------------ the scenario
def game_for(size: Size) -> AcceptedGame:
    """The set-up and the measured commands (generated once per size)."""
    if size.delivery_commands not in _games:
        _games[size.delivery_commands] = accepted_commands(size.delivery_commands, rooms=ROOMS)
    return _games[size.delivery_commands]


def game_delivery(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Time the delivery of ``size.delivery_commands`` outbox entries to a World (commands/s)."""
    game = game_for(size)  # one store per round (a new application name): same ids each round
    played = game.actions
    env = {**backend.env_for(app_name), "ORIGINATOR_ID_TYPE": "text", "SCRYPT_N": "1024"}
    world = world_class(app_name)(env=env)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        try:
            world.recorder.insert_events(game.setup_events)
            fill_outbox(outbox, world, played)
            started = time.perf_counter()
            delivered = deliver_all(outbox, world)
            elapsed = time.perf_counter() - started
        finally:
            outbox.close()
            world.close()
    if delivered != len(played):
        raise RuntimeError(f"delivered {delivered} of {len(played)} commands")
    return [Measure("game-delivery", delivered / elapsed, "commands/s")]
