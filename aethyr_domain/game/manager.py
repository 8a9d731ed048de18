"""The Manager: the facade the game calls for every change to the world.

Modelled on the original ``Manager`` (``create_object``, ``delete_object`` with
re-homing, ``add_player``, ``set_password``, ``drop_player`` and friends), with one
difference that matters: every change goes through a single private step,
:meth:`Manager._change`, which

1. builds the matching command of :mod:`aethyr_domain.commands` (bad input raises
   before anything changes),
2. has the game's :class:`~aethyr_domain.decision.Decider` decide it: the World's own
   handlers run on the world's aggregates in memory, so there is one rule set for the
   game and the event store. A refusal becomes a :class:`GameError` with the
   handler's message; nothing changes,
3. loads the aggregates the command changed into the
   :class:`~aethyr_domain.game_state.GameState`, with the same function a replay of
   the log uses (:func:`~aethyr_domain.game_state.load_aggregate`), so the live world
   equals a replay by construction, and
4. when event sourcing is enabled, hands the :class:`~aethyr_domain.decision.Decision`
   (the command, its actor and the events it produced) to the sink (the durable
   outbox) exactly once. A command that changed nothing is not recorded.

The Manager decides nothing the handlers decide. What it adds are the rules of the
player's verbs, which a command does not carry (``get`` needs a movable object,
``put`` a container, ``wear`` an item with a position: see
:mod:`aethyr_domain.object_classes`): they only refuse, or choose the slot a command
names. With ``event_sourcing_enabled`` off the sink is ``None`` and no store module is
imported (the Decider uses the eventsourcing domain model, never a store).

Game rules (who may take what, where things are worn) raise :class:`GameError`,
whose message is meant for the player.

The Manager is one class made of parts, one module per concern: its state and
:meth:`~.manager_base.ManagerBase._change` (:mod:`.manager_base`), creating and deleting
(:mod:`.lifecycle`), who is online (:mod:`.presence`), passwords and the admin flag
(:mod:`.accounts`), finding things by name (:mod:`.name_search`), the verbs' own rules
(:mod:`.verb_rules`) and building (:mod:`.building`). This module puts them together
and adds starting and stopping the Manager.
"""

from __future__ import annotations

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.accounts import hash_password, verify_password
from aethyr_domain.game.building import Building
from aethyr_domain.game.manager_base import (
    GARBAGE_DUMP_ID,
    SYSTEM,
    CommandSink,
    GameError,
    new_goid,
)
from aethyr_domain.game.name_search import NameSearch
from aethyr_domain.game.presence import Presence
from aethyr_domain.game.verb_rules import VerbRules

__all__ = [
    "GARBAGE_DUMP_ID",
    "SYSTEM",
    "CommandSink",
    "GameError",
    "Manager",
    "hash_password",
    "new_goid",
    "verify_password",
]


class Manager(Presence, VerbRules, Building, NameSearch):
    """The game's facade over the game state (and, when enabled, the event store).

    ``decider`` holds the world's aggregates (default: an empty world); the game state
    (:attr:`state`) is built from them unless ``state`` is given, which must then show
    the same aggregates (boot passes both, built from the same log). ``world`` is the
    old name of both (``Manager(world=...)``, ``manager.world``, read-only).
    """

    @classmethod
    def from_config(cls, config: ServerConfig) -> Manager:
        """A Manager for ``config`` over an empty world: with an outbox sink when event
        sourcing is on (:func:`~aethyr_domain.game.session.boot` loads the world first)."""
        sink: CommandSink | None = None
        if config.event_sourcing_enabled:
            from aethyr_domain.outbox.event_sink import OutboxSink

            sink = OutboxSink.start(config)
        return cls(config=config, sink=sink)

    def close(self) -> None:
        """Stop the sink's background delivery (the outbox keeps what is pending), then
        whatever boot started (the projection, the store connection). A checkpointer
        first saves the last checkpoint (once the outbox drained)."""
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.close()
        if self.sink is not None:
            self.sink.close()
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        closers, self.closers = self.closers, []
        for closer in closers:
            closer()
