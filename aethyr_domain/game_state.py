"""The game state (the "live world"): the game's own in-memory state, read on every tick.

The game never asks the event store anything while it runs; it reads this model.
It decides nothing and has no rules: it is a read-friendly copy of the world's
aggregates (players, rooms, inventories in arrival order, layered equipment), written
only by :func:`load_aggregate`. The game's :class:`~aethyr_domain.decision.Decider`
runs every command's handler on the aggregates, and the Manager then loads the
aggregates the command changed; a replay of the event log
(:func:`~aethyr_domain.read.replay.rebuild_world_state`) loads every aggregate with the
same function. So the live world, a replay and the projections print the same
``world --json`` bytes (:mod:`aethyr_domain.read.world_dump`) by construction.

It imports the world's aggregate classes (the eventsourcing domain model), never a
store. It is part of the model (a pure function of the aggregates), so the game
(:mod:`aethyr_domain.game`) and the replay (:mod:`aethyr_domain.read`) both build it
without importing each other. :class:`GameState` was called ``LiveWorld`` (module
``aethyr_domain.live_world``); both old names still work.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aethyr_domain.game_object import GameObject
from aethyr_domain.player import Player
from aethyr_domain.room import Room

_V = TypeVar("_V")

JSONValue = Any  # str | int | float | bool | None | list | dict (checked by the domain)


class WorldStateError(LookupError):
    """A live-world lookup (:meth:`GameState.require`) named an object that does not exist."""


@dataclass
class WorldObject:
    """One game object: an item, a container, a player or a room."""

    id: str
    name: str
    generic: str
    container: str | None = None
    attributes: dict[str, JSONValue] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class PlayerState:
    """What a player has beyond the object part."""

    admin: bool = False
    #: Salted KDF hash kept for ``check_password``; never printed or dumped.
    password_hash: str = field(default="", repr=False)


@dataclass
class RoomState:
    """What a room has beyond the object part."""

    description: str = ""
    exits: dict[str, str] = field(default_factory=dict)


@dataclass
class GameState:
    """Objects, players, rooms, inventories and equipment, keyed by object id.

    ``inventories[owner]`` lists the item ids the owner holds, in the order they
    arrived. ``equipment[character][slot][layer]`` is the id of the item worn or
    wielded there.
    """

    objects: dict[str, WorldObject] = field(default_factory=dict)
    players: dict[str, PlayerState] = field(default_factory=dict)
    rooms: dict[str, RoomState] = field(default_factory=dict)
    inventories: dict[str, list[str]] = field(default_factory=dict)
    equipment: dict[str, dict[str, dict[int, str]]] = field(default_factory=dict)

    # -------------------------------------------------------------- reading
    def get(self, object_id: str) -> WorldObject | None:
        """The live (not deleted) object with this id, or ``None``."""
        obj = self.objects.get(object_id)
        return None if obj is None or obj.deleted else obj

    def require(self, object_id: str) -> WorldObject:
        """The object with this id (deleted or not); raises if unknown."""
        return _lookup(self.objects, "object", object_id)

    def is_player(self, object_id: str) -> bool:
        return object_id in self.players

    def is_room(self, object_id: str) -> bool:
        return object_id in self.rooms

    def inventory(self, owner_id: str) -> list[WorldObject]:
        """The live objects held by ``owner_id``, in arrival order."""
        out = []
        for item_id in self.inventories.get(owner_id, ()):
            obj = self.get(item_id)
            if obj is not None:
                out.append(obj)
        return out

    def worn(self, character_id: str) -> Iterator[tuple[str, int, str]]:
        """``(slot, layer, item id)`` for everything the character wears or wields."""
        for slot, layers in self.equipment.get(character_id, {}).items():
            for layer, item_id in sorted(layers.items()):
                yield slot, layer, item_id

    def slot_of(self, character_id: str, item_id: str) -> str | None:
        """The slot the character wears ``item_id`` in, or ``None``."""
        for slot, _layer, worn_id in self.worn(character_id):
            if worn_id == item_id:
                return slot
        return None

    def room_of(self, object_id: str) -> str | None:
        """The room that (transitively) contains ``object_id``, or ``None``."""
        seen: set[str] = set()
        current = self.objects.get(object_id)
        while current is not None and current.container is not None:
            if current.container in seen:  # pragma: no cover - cycles are refused upstream
                return None
            seen.add(current.container)
            if current.container in self.rooms:
                return current.container
            current = self.objects.get(current.container)
        return None

    def contains(self, outer_id: str, inner_id: str) -> bool:
        """True if ``inner_id`` is ``outer_id`` or is somewhere inside it."""
        current: str | None = inner_id
        seen: set[str] = set()
        while current is not None and current not in seen:
            if current == outer_id:
                return True
            seen.add(current)
            obj = self.objects.get(current)
            current = obj.container if obj is not None else None
        return False

    def find_player_by_name(self, name: str) -> WorldObject | None:
        """The live player whose name matches ``name`` case-insensitively."""
        wanted = name.strip().lower()
        for player_id in self.players:
            obj = self.get(player_id)
            if obj is not None and obj.name.lower() == wanted:
                return obj
        return None

    def find_room(self, text: str) -> WorldObject | None:
        """A live room by id, or by name (case-insensitive)."""
        obj = self.get(text)
        if obj is not None and obj.id in self.rooms:
            return obj
        wanted = text.strip().lower()
        for room_id in self.rooms:
            room = self.get(room_id)
            if room is not None and room.name.lower() == wanted:
                return room
        return None

    def copy(self) -> GameState:
        """A deep copy (for comparisons and tests)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------- the one writer
    def update_from(self, aggregates: Iterable[Any]) -> None:
        """Take over the state of ``aggregates`` (see :func:`load_aggregate`)."""
        for aggregate in aggregates:
            load_aggregate(self, aggregate)


def _lookup(table: Mapping[str, _V], kind: str, object_id: str) -> _V:
    """``table[object_id]``, or :class:`WorldStateError` naming the missing ``kind``."""
    try:
        return table[object_id]
    except KeyError:
        raise WorldStateError(f"no {kind} {object_id!r} in the live world") from None


def load_aggregate(world: GameState, aggregate: Any) -> None:
    """Make ``world``'s entry for ``aggregate`` exactly what the aggregate holds.

    The one translation from the world's aggregates to live state, used both by
    :func:`~aethyr_domain.read.replay.rebuild_world_state` (every aggregate of the log, in
    creation order) and by the game after each accepted command (the aggregates the
    :class:`~aethyr_domain.decision.Decider` changed), so the live world equals a
    replay of the log by construction. The object, its player or room part, its
    inventory (in the aggregate's order) and its equipment are replaced as a whole;
    an aggregate that is not a game object (the player-name index) is ignored.

    Attribute values are shared with the aggregate, not copied: the Decider never
    changes a cached aggregate in place (it works on private copies), so nothing
    changes them under the live world.
    """
    if not isinstance(aggregate, GameObject):
        return
    object_id = aggregate.id
    world.objects[object_id] = WorldObject(
        id=object_id,
        name=aggregate.name,
        generic=aggregate.generic,
        container=aggregate.container_id,
        attributes=dict(aggregate.attributes),
        deleted=bool(aggregate.deleted),
    )
    if isinstance(aggregate, Player):
        world.players[object_id] = PlayerState(
            admin=bool(aggregate.admin), password_hash=aggregate.password_hash
        )
    if isinstance(aggregate, Room):
        world.rooms[object_id] = RoomState(
            description=aggregate.description, exits=dict(aggregate.exits)
        )
    if aggregate.inventory:
        world.inventories[object_id] = list(aggregate.inventory)
    else:
        world.inventories.pop(object_id, None)
    equipment: dict[str, dict[int, str]] = {}
    for item_id, (slot, layer) in aggregate.equipment.items():
        equipment.setdefault(slot, {})[int(layer)] = item_id
    if equipment:
        world.equipment[object_id] = equipment
    else:
        world.equipment.pop(object_id, None)


#: The name :class:`GameState` had before issue 17 (kept for code outside this repository).
LiveWorld = GameState
