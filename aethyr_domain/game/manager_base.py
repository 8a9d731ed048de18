"""The Manager's state and its one way to change the world.

:class:`ManagerBase` holds what every part of the :class:`~aethyr_domain.game.manager.Manager`
works with - the :class:`~aethyr_domain.decision.Decider`, the
:class:`~aethyr_domain.game_state.GameState`, the sink, the configuration, who is
online - and :meth:`ManagerBase._change`, the single step every change goes through
(build the command, decide it with the World's handlers, load the changed aggregates
into the game state, record the decision). The other parts of the Manager are mixins
over it, one module each: :mod:`.lifecycle`, :mod:`.presence`, :mod:`.accounts`,
:mod:`.name_search`, :mod:`.verb_rules`, :mod:`.building`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from aethyr_domain import commands
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decider, Decision
from aethyr_domain.errors import DomainError, InvalidCommandError, SlotOccupiedError
from aethyr_domain.game_state import GameState, WorldObject

SYSTEM = "system"
GARBAGE_DUMP_ID = "garbage-dump"


class GameError(Exception):
    """A game rule refused an action; ``str(error)`` is the message for the player."""


class CommandSink(Protocol):
    """Where the Manager sends what it decided when event sourcing is on (the outbox)."""

    def record(self, decision: Decision) -> None:
        """Record one decision (it has events) durably; must not wait for the event store."""

    def close(self) -> None:
        """Stop background work (what is pending stays in the outbox)."""


def new_goid() -> str:
    """A fresh object id in the original's GOID format (8-4-4-4-12 hex)."""
    return str(uuid.uuid4())


class ManagerBase:
    """The Manager's state, :meth:`_change`, and the lookups its parts share.

    ``decider`` holds the world's aggregates (default: an empty world); the game state
    is built from them unless ``state`` is given, which must then show the same
    aggregates (boot passes both, built from the same log). ``world=`` is the old name
    of ``state=``.
    """

    def __init__(
        self,
        state: GameState | None = None,
        *,
        config: ServerConfig | None = None,
        sink: CommandSink | None = None,
        decider: Decider | None = None,
        new_id: Callable[[], str] = new_goid,
        world: GameState | None = None,
    ) -> None:
        if world is not None:
            if state is not None:
                raise TypeError("give the game state once: state= (world= is its old name)")
            state = world
        if decider is None:
            if state is not None and state.objects:
                raise ValueError("a live world with objects needs the Decider holding them")
            decider = Decider()
        self.decider = decider
        if state is None:
            state = GameState()
            state.update_from(decider.aggregates.values())
        #: The game state: the in-memory world the game reads every tick, loaded from
        #: the Decider's aggregates (:attr:`world` is its old name, read-only).
        self.state: GameState = state
        self.config = config if config is not None else ServerConfig()
        self.sink = sink
        self.new_id = new_id
        #: Players currently in the game (``quit`` removes them; not world state).
        self.online: set[str] = set()
        #: The in-process world projection (a ``ProjectionService``) when boot started one.
        self.projection: Any = None
        #: Run in order by :meth:`close` after the sink stopped (boot's clean-up).
        self.closers: list[Callable[[], None]] = []
        #: With event sourcing off, the game's own storage (``storage.WorldStorage``):
        #: each decision's changed aggregates are saved in one transaction.
        self.storage: Any = None
        #: Text for players outside the acting one's output (the server sets it):
        #: ``deliver(player_id, text)``; see :meth:`send`.
        self.deliver: Callable[[str, str], None] | None = None
        #: Saves world checkpoints (a :class:`~aethyr_domain.game.checkpoint.Checkpointer`;
        #: boot sets it when event sourcing and checkpoints are on): told about every
        #: recorded decision, asked before each command, closed first by :meth:`close`.
        self.checkpointer: Any = None
        #: How boot loaded the world (a :class:`~aethyr_domain.game.checkpoint.BootLoad`).
        self.boot_load: Any = None

    @property
    def world(self) -> GameState:
        """The game state under its old name (before issue 17), read-only: use
        :attr:`state`. Kept for embedding programs and tests outside this repository;
        not the ``World`` application, which other objects' ``world`` holds."""
        return self.state

    def _change(self, kind: type[commands.Command], actor: str, **fields: Any) -> Decision:
        """Build, decide, load into the live world and record one command."""
        try:
            command = kind(**fields, actor=actor)
        except InvalidCommandError as exc:
            raise GameError(str(exc)) from None
        if self.checkpointer is not None:
            self.checkpointer.before_change()
        try:
            decision = self.decider.decide(command)
        except DomainError as exc:
            raise GameError(str(exc)) from None
        self._accepted(decision)
        return decision

    def _accepted(self, decision: Decision) -> None:
        self.state.update_from(decision.changed)
        if self.sink is not None and decision.events:
            self.sink.record(decision)
            if self.checkpointer is not None:
                self.checkpointer.count(len(decision.events))
        if self.storage is not None and decision.events:
            self.storage.save(decision.changed)

    def send(self, player_id: str, text: str) -> None:
        """Deliver ``text`` to ``player_id`` now, out of band (e.g. a tell, or a message
        to a player in another room); dropped when no server is attached or the player
        is offline. Text in :meth:`Actions.perform`'s returned pairs needs no call."""
        if self.deliver is not None and player_id in self.online:
            self.deliver(player_id, text)

    def _equip_first_free(self, player_id: str, item_id: str, slots: list[str]) -> str | None:
        """Equip in the first of ``slots`` the ``EquipItem`` handler accepts; ``None`` if
        every one is occupied. Any other refusal is the player's message."""
        for slot in slots:
            try:
                command = commands.EquipItem(player_id, item_id, slot, actor=player_id)
                decision = self.decider.decide(command)
            except SlotOccupiedError:
                continue
            except DomainError as exc:
                raise GameError(str(exc)) from None
            self._accepted(decision)
            return slot
        return None

    def get_object(self, object_id: str) -> WorldObject | None:
        """The live object with this id (``None`` if unknown or deleted)."""
        return self.state.get(object_id)

    def room_of(self, object_id: str) -> str | None:
        """The room the object is in (through its holders)."""
        return self.state.room_of(object_id)

    def _object(self, object_id: str) -> WorldObject:
        obj = self.state.get(object_id)
        if obj is None:
            raise GameError("There is no such thing.")
        return obj

    def _player(self, player_id: str) -> WorldObject:
        obj = self.state.get(player_id)
        if obj is None or not self.state.is_player(player_id):
            raise GameError("There is no such player.")
        return obj

    def _room(self, room_id: str) -> WorldObject:
        obj = self.state.get(room_id)
        if obj is None or not self.state.is_room(room_id):
            raise GameError("There is no such room.")
        return obj
