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
   :class:`~aethyr_domain.game_state.LiveWorld`, with the same function a replay of
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
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aethyr_domain import commands, passwords, validation
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decider, Decision
from aethyr_domain.directions import OPPOSITES, normalise_direction
from aethyr_domain.equipment_slots import normalise_slot
from aethyr_domain.errors import DomainError, InvalidCommandError, SlotOccupiedError
from aethyr_domain.game_state import LiveWorld, WorldObject
from aethyr_domain.object_classes import (
    PAIRED_POSITIONS,
    ObjectClass,
    is_container,
    is_movable,
    wear_position,
)

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


class Manager:
    """The game's facade over the live world (and, when enabled, the event store).

    ``decider`` holds the world's aggregates (default: an empty world); the live world
    is built from them unless ``world`` is given, which must then show the same
    aggregates (boot passes both, built from the same log).
    """

    def __init__(
        self,
        world: LiveWorld | None = None,
        *,
        config: ServerConfig | None = None,
        sink: CommandSink | None = None,
        decider: Decider | None = None,
        new_id: Callable[[], str] = new_goid,
    ) -> None:
        if decider is None:
            if world is not None and world.objects:
                raise ValueError("a live world with objects needs the Decider holding them")
            decider = Decider()
        self.decider = decider
        if world is None:
            world = LiveWorld()
            world.update_from(decider.aggregates.values())
        self.world = world
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

    # ----------------------------------------------------------------- core
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
        self.world.update_from(decision.changed)
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

    # ---------------------------------------------------------------- reads
    def get_object(self, object_id: str) -> WorldObject | None:
        """The live object with this id (``None`` if unknown or deleted)."""
        return self.world.get(object_id)

    def find(self, text: str, holders: list[str]) -> WorldObject | None:
        """The first object held by one of ``holders`` that ``text`` names.

        A name matches by id, whole name, generic noun, an ``alt_names`` entry, or the
        last word of the name (``sword`` finds "a rusty sword"), case-insensitively.
        """
        wanted = text.strip().lower()
        if not wanted:
            return None
        for holder in holders:
            for obj in self.world.inventory(holder):
                if _matches(obj, wanted):
                    return obj
        return None

    def find_worn(self, player_id: str, text: str) -> WorldObject | None:
        """An item ``player_id`` wears or wields that ``text`` names."""
        wanted = text.strip().lower()
        for _slot, _layer, item_id in self.world.worn(player_id):
            obj = self.world.get(item_id)
            if obj is not None and _matches(obj, wanted):
                return obj
        return None

    def room_of(self, object_id: str) -> str | None:
        """The room the object is in (through its holders)."""
        return self.world.room_of(object_id)

    # ---------------------------------------------------------- creation
    def ensure_room(
        self, room_id: str, name: str, description: str = "", *, actor: str = SYSTEM
    ) -> WorldObject:
        """The room ``room_id``, created if it does not exist yet."""
        existing = self.world.get(room_id)
        if existing is not None and self.world.is_room(room_id):
            return existing
        return self.create_room(name, description, actor=actor, room_id=room_id)

    def ensure_start_room(self) -> WorldObject:
        """The configured start room (created, with a default description, if missing)."""
        return self.ensure_room(
            self.config.start_room,
            "The Starting Room",
            "A plain stone room where every journey begins.",
        )

    def create_room(
        self, name: str, description: str = "", *, actor: str = SYSTEM, room_id: str | None = None
    ) -> WorldObject:
        """Create a room (no exits yet)."""
        rid = room_id or self.new_id()
        self._change(commands.CreateRoom, actor, id=rid, name=name, description=description)
        return self.world.require(rid)

    def create_object(
        self,
        klass: ObjectClass,
        room: str | None = None,
        *,
        name: str | None = None,
        vars: Mapping[str, Any] | None = None,
        actor: str = SYSTEM,
        object_id: str | None = None,
    ) -> WorldObject:
        """Create an object of ``klass`` in ``room`` (or any holder, or nowhere).

        Emits ``CreateGameObject`` and, when the object has attributes (the class
        defaults merged with ``vars``), one ``UpdateGameObjectAttributes``.
        """
        oid = object_id or self.new_id()
        if room is not None and self.world.get(room) is None:
            raise GameError(f"There is no {room!r} to put it in.")
        attributes = klass.initial_attributes()
        attributes.update(vars or {})
        try:
            commands.UpdateGameObjectAttributes(id=oid, attributes=attributes)
        except InvalidCommandError as exc:
            raise GameError(str(exc)) from None
        self._change(
            commands.CreateGameObject,
            actor,
            id=oid,
            name=name or klass.default_name,
            generic=klass.generic,
            container_id=room,
        )
        self._change(commands.UpdateGameObjectAttributes, actor, id=oid, attributes=attributes)
        return self.world.require(oid)

    def add_player(
        self,
        name: str,
        password: str,
        *,
        room: str | None = None,
        player_id: str | None = None,
        actor: str = SYSTEM,
    ) -> WorldObject:
        """Create a player character in ``room`` (default: the start room).

        Names are unique, case-insensitively. Emits ``CreatePlayer`` and an
        ``UpdateGameObjectContainer`` placing the player in the room.
        """
        target = room or self.ensure_start_room().id
        pid = player_id or self.new_id()
        # Hash before the command enters the outbox: no plaintext password on disk.
        hashed = _hash_checked(password)
        self._change(commands.CreatePlayer, actor, id=pid, name=name, password_hash=hashed)
        self._change(commands.UpdateGameObjectContainer, actor, id=pid, container_id=target)
        self.online.add(pid)
        return self.world.require(pid)

    # --------------------------------------------------------- accounts
    def set_password(self, player_id: str, password: str, *, actor: str) -> None:
        """Change a player's password (emits ``UpdatePlayerPassword``)."""
        self._player(player_id)
        hashed = _hash_checked(password)  # no plaintext password in the outbox
        self._change(commands.UpdatePlayerPassword, actor, id=player_id, password_hash=hashed)

    def check_password(self, player_id: str, password: str) -> bool:
        """True if ``password`` is the player's password (checked against the live hash)."""
        state = self.world.players.get(player_id)
        return state is not None and verify_password(password, state.password_hash)

    def password_hash(self, player_id: str) -> str:
        """The player's stored hash ('' if none): for checking a password off the game
        thread (:func:`verify_password`), then :meth:`upgrade_password`."""
        state = self.world.players.get(player_id)
        return state.password_hash if state is not None else ""

    def upgrade_password(self, player_id: str, password: str, checked_hash: str) -> bool:
        """After a successful login with ``password`` against ``checked_hash``: re-hash
        a legacy MD5 (or weaker scrypt) hash with the current policy (one
        ``UpdatePlayerPassword``, decided and recorded like any command). Returns True
        if it upgraded. Nothing happens if the hash changed meanwhile."""
        if self.password_hash(player_id) != checked_hash:
            return False
        if not passwords.needs_upgrade(checked_hash):
            return False
        hashed = hash_password(password)
        self._change(commands.UpdatePlayerPassword, player_id, id=player_id, password_hash=hashed)
        return True

    def set_admin(self, player_id: str, admin: bool, *, actor: str = SYSTEM) -> None:
        """Grant or revoke admin rights (emits ``UpdatePlayerAdminStatus``)."""
        self._player(player_id)
        self._change(commands.UpdatePlayerAdminStatus, actor, id=player_id, admin=admin)

    def is_admin(self, player_id: str) -> bool:
        state = self.world.players.get(player_id)
        return state is not None and state.admin

    def connect_player(self, player_id: str) -> None:
        """A player (back) in the game; one with no room is put in the start room."""
        player = self._player(player_id)
        if player.container is None:
            start = self.ensure_start_room().id
            self._change(
                commands.UpdateGameObjectContainer, player_id, id=player_id, container_id=start
            )
        self.online.add(player_id)

    def drop_player(self, player_id: str) -> None:
        """The player leaves the game (``quit``). Presence is session state: no event."""
        self.online.discard(player_id)

    def delete_player(self, player_id: str, *, actor: str) -> None:
        """Delete a player and everything they carry or wear (``deleteplayer``, ``delete me``)."""
        self._player(player_id)
        self._delete_tree(player_id, actor)
        self.online.discard(player_id)

    # ------------------------------------------------------------ moves
    def move_object(self, object_id: str, destination: str, *, actor: str) -> None:
        """Put an object into ``destination``'s inventory (``UpdateGameObjectContainer``).

        The handler decides (rooms are never held, players only in rooms, no cycles,
        worn items must be removed first)."""
        obj = self._object(object_id)
        dest = self._object(destination)
        self._change(commands.UpdateGameObjectContainer, actor, id=obj.id, container_id=dest.id)

    def move_player(self, player_id: str, direction: str) -> WorldObject:
        """Walk through the current room's exit ``direction``; returns the new room."""
        canonical = normalise_direction(direction)
        room_id = self.room_of(player_id)
        if canonical is None or room_id is None:
            raise GameError("You cannot go that way.")
        target = self.world.rooms[room_id].exits.get(canonical)
        if target is None or self.world.get(target) is None:
            raise GameError("You cannot go that way.")
        for obj in self.world.inventory(room_id):
            attributes = obj.attributes
            door_here = attributes.get("door") is True and attributes.get("direction") == canonical
            if door_here and attributes.get("open") is not True:
                raise GameError(f"{obj.name} is closed.")
        self.move_object(player_id, target, actor=player_id)
        return self.world.require(target)

    def take(self, player_id: str, item_id: str) -> None:
        """``get``: move a movable item into the player's inventory."""
        item = self._object(item_id)
        if self.world.is_player(item.id) or self.world.is_room(item.id):
            raise GameError(f"You cannot take {item.name}.")
        if not is_movable(item.attributes) and not self.is_admin(player_id):
            raise GameError(f"You cannot take {item.name}.")
        self.move_object(item.id, player_id, actor=player_id)

    def drop(self, player_id: str, item_id: str) -> None:
        """``drop``: move an item from the player's inventory to the room."""
        room = self.room_of(player_id)
        if room is None:
            raise GameError("There is nowhere to drop it.")
        self.move_object(item_id, room, actor=player_id)

    def put(self, player_id: str, item_id: str, container_id: str) -> None:
        """``put X in C``: C must be a container."""
        item = self._object(item_id)
        container = self._object(container_id)
        if not is_container(container.attributes):
            raise GameError(f"You cannot put anything in {container.name}.")
        self.move_object(item.id, container.id, actor=player_id)

    def give(self, player_id: str, item_id: str, receiver_id: str) -> None:
        """``give X to P``: P must be a player in the same room."""
        if not self.world.is_player(receiver_id) or receiver_id == player_id:
            raise GameError("You can only give things to other players.")
        if self.room_of(receiver_id) != self.room_of(player_id):
            raise GameError("They are not here.")
        self.move_object(item_id, receiver_id, actor=player_id)

    # -------------------------------------------------------- equipment
    def wear(self, player_id: str, item_id: str, position: str | None = None) -> str:
        """Wear an item from the inventory; returns the slot used.

        The item's ``position`` says where it goes (a pair such as ``hand``: the left,
        then the right one); the ``EquipItem`` handler decides the rest (the item's
        ``layer``, a free slot at that layer).
        """
        item = self._object(item_id)
        natural = wear_position(item.attributes)
        if natural is None or natural == "wield":
            raise GameError(f"You cannot wear {item.name}.")
        wanted = _slot_name(position) if position else natural
        if wanted != natural and wanted.removeprefix("left_").removeprefix("right_") != natural:
            raise GameError(
                f"You cannot wear {item.name} on your {_nice(wanted)}. "
                f"It is intended to be worn on the {_nice(natural)}."
            )
        names = [f"left_{wanted}", f"right_{wanted}"] if wanted in PAIRED_POSITIONS else [wanted]
        slots = [name for name in names if normalise_slot(name) == name]
        if not slots:
            raise GameError(f"You cannot wear {item.name}.")
        slot = self._equip_first_free(player_id, item.id, slots)
        if slot is None:
            raise GameError(f"You are already wearing something where {item.name} would be worn.")
        return slot

    def wield(self, player_id: str, item_id: str, hand: str | None = None) -> str:
        """Wield a weapon (``left``/``right`` hand, or the first free one); returns the slot."""
        item = self._object(item_id)
        if wear_position(item.attributes) != "wield":
            raise GameError(f"You cannot wield {item.name}.")
        if hand is not None and hand not in ("left", "right"):
            raise GameError("Wield it in your left or right hand?")
        candidates = [f"{hand}_wield"] if hand else ["right_wield", "left_wield"]
        slot = self._equip_first_free(player_id, item.id, candidates)
        if slot is not None:
            return slot
        if hand:
            raise GameError("You are already wielding something in that hand.")
        raise GameError("You need an empty hand.")

    def remove(self, player_id: str, item_id: str) -> str:
        """Take off (or unwield) a worn item; it goes back to the inventory."""
        item = self._object(item_id)
        slot = self.world.slot_of(player_id, item.id)
        if slot is None:
            raise GameError(f"You are not wearing {item.name}.")
        self._change(commands.UnequipItem, player_id, id=player_id, item_id=item.id, slot=slot)
        return slot

    # ---------------------------------------------------- rooms & attrs
    def set_room_description(self, room_id: str, description: str, *, actor: str) -> None:
        self._room(room_id)
        self._change(commands.UpdateRoomDescription, actor, id=room_id, description=description)

    def add_exit(self, room_id: str, direction: str, target_room_id: str, *, actor: str) -> str:
        """Add (or replace) an exit; returns the canonical direction."""
        self._room(room_id)
        self._room(target_room_id)
        canonical = normalise_direction(direction)
        if canonical is None:
            raise GameError(f"{direction!r} is not a direction.")
        if canonical in self.world.rooms[room_id].exits:
            self._change(commands.RemoveRoomExit, actor, id=room_id, direction=canonical)
        self._change(
            commands.AddRoomExit,
            actor,
            id=room_id,
            direction=canonical,
            target_room_id=target_room_id,
        )
        return canonical

    def remove_exit(self, room_id: str, direction: str, *, actor: str) -> None:
        self._room(room_id)
        canonical = normalise_direction(direction)
        if canonical is None or canonical not in self.world.rooms[room_id].exits:
            raise GameError("There is no exit that way.")
        self._change(commands.RemoveRoomExit, actor, id=room_id, direction=canonical)

    def link_rooms(self, room_id: str, direction: str, target_room_id: str, *, actor: str) -> None:
        """Two-way link: ``direction`` from ``room_id`` and the opposite way back."""
        canonical = self.add_exit(room_id, direction, target_room_id, actor=actor)
        self.add_exit(target_room_id, OPPOSITES[canonical], room_id, actor=actor)

    def update_attribute(self, object_id: str, key: str, value: Any, *, actor: str) -> None:
        self._object(object_id)
        self._change(commands.UpdateGameObjectAttribute, actor, id=object_id, key=key, value=value)

    def update_attributes(
        self, object_id: str, attributes: Mapping[str, Any], *, actor: str
    ) -> None:
        self._object(object_id)
        self._change(
            commands.UpdateGameObjectAttributes, actor, id=object_id, attributes=dict(attributes)
        )

    def update_door(self, object_id: str, attributes: Mapping[str, Any], *, actor: str) -> None:
        """Change a door and its other side together (``UpdateDoorAttributes``)."""
        self._object(object_id)
        self._change(
            commands.UpdateDoorAttributes, actor, id=object_id, attributes=dict(attributes)
        )

    # ---------------------------------------------------------- deletion
    def delete_object(self, object_id: str, *, actor: str) -> None:
        """Delete an object; what it holds or wears moves to its room.

        The ``DeleteGameObject`` handler re-homes the contents to the room that
        contains the deleted object. When there is none (a room, or an object in no
        room), the contents go to the "Garbage Dump" room first, as in the original
        (the dump is created on first use). Players are refused (use
        ``delete_player``), and so are the start room and the dump.
        """
        obj = self._object(object_id)
        if self.world.is_player(obj.id):
            raise GameError("Use deleteplayer to delete a player.")
        if obj.id in (self.config.start_room, GARBAGE_DUMP_ID):
            raise GameError(f"{obj.name} cannot be deleted.")
        contents: list[tuple[str | None, str]] = [
            (slot, item_id) for slot, _l, item_id in self.world.worn(obj.id)
        ]
        contents += [(None, item.id) for item in self.world.inventory(obj.id)]
        if contents and (self.world.is_room(obj.id) or self.room_of(obj.id) is None):
            dump = self.ensure_room(GARBAGE_DUMP_ID, "Garbage Dump", actor=actor).id
            for slot, item_id in contents:
                if slot is not None:
                    self._change(commands.UnequipItem, actor, id=obj.id, item_id=item_id, slot=slot)
                self._change(
                    commands.UpdateGameObjectContainer, actor, id=item_id, container_id=dump
                )
        self._change(commands.DeleteGameObject, actor, id=obj.id)

    def _delete_tree(self, object_id: str, actor: str) -> None:
        """Delete an object and, depth first, everything inside it."""
        for _s, _l, inner in list(self.world.worn(object_id)):
            self._delete_tree(inner, actor)
        for inner_obj in list(self.world.inventory(object_id)):
            self._delete_tree(inner_obj.id, actor)
        self._change(commands.DeleteGameObject, actor, id=object_id)

    # ----------------------------------------------------------- helpers
    def _object(self, object_id: str) -> WorldObject:
        obj = self.world.get(object_id)
        if obj is None:
            raise GameError("There is no such thing.")
        return obj

    def _player(self, player_id: str) -> WorldObject:
        obj = self.world.get(player_id)
        if obj is None or not self.world.is_player(player_id):
            raise GameError("There is no such player.")
        return obj

    def _room(self, room_id: str) -> WorldObject:
        obj = self.world.get(room_id)
        if obj is None or not self.world.is_room(room_id):
            raise GameError("There is no such room.")
        return obj


def _matches(obj: WorldObject, wanted: str) -> bool:
    if wanted in (obj.id.lower(), obj.name.lower(), obj.generic.lower()):
        return True
    alt = obj.attributes.get("alt_names")
    if isinstance(alt, list) and any(isinstance(a, str) and a.lower() == wanted for a in alt):
        return True
    words = obj.name.lower().split()
    return bool(words) and words[-1] == wanted


def _slot_name(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _nice(position: str) -> str:
    return position.replace("_", " ")


def _hash_checked(password: str) -> str:
    """Check a plaintext password against the command rules, then hash it."""
    try:
        validation.password(password)
    except InvalidCommandError as exc:
        raise GameError(str(exc)) from None
    return hash_password(password)


def hash_password(password: str) -> str:
    """The live world's salted hash of ``password`` (the domain's scrypt encoding)."""
    return passwords.hash_password(password)


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches a hash made by :func:`hash_password`."""
    return bool(encoded) and passwords.verify_password(password, encoded)
