"""The live world: the game's own in-memory state, read on every tick.

The game never asks the event store anything while it runs; it reads this model.
Each mutating method here corresponds one-to-one to a command of
:mod:`aethyr_domain.commands` (and so to the event it records), which is what keeps
the live world, a replay of the event log and the projections comparable byte for
byte (:mod:`aethyr_domain.world_dump`). The methods do the state change only; the
game rules (who may take what, where an item can be worn) live in
:class:`aethyr_domain.manager.Manager`, and the method :meth:`LiveWorld.apply`
dispatches a ``(command name, fields)`` pair to the matching method.

Standard library only: the flag-off game imports nothing from eventsourcing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

_V = TypeVar("_V")

JSONValue = Any  # str | int | float | bool | None | list | dict (checked by the domain)


class WorldStateError(LookupError):
    """A live-world mutation named an object that does not exist (a bug in the caller)."""


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
class LiveWorld:
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

    def copy(self) -> LiveWorld:
        """A deep copy (for comparisons and tests)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------- the mutations
    # One method per command of aethyr_domain.commands, same field names.
    def create_game_object(
        self,
        id: str,
        name: str,
        generic: str,
        container_id: str | None = None,
    ) -> WorldObject:
        obj = WorldObject(id=id, name=name, generic=generic)
        self.objects[id] = obj
        if container_id is not None:
            self._place(obj, container_id)
        return obj

    def update_game_object_attribute(self, id: str, key: str, value: JSONValue) -> None:
        self.require(id).attributes[key] = copy.deepcopy(value)

    def update_game_object_attributes(self, id: str, attributes: Mapping[str, JSONValue]) -> None:
        obj = self.require(id)
        for key, value in attributes.items():
            obj.attributes[key] = copy.deepcopy(value)

    def update_game_object_container(self, id: str, container_id: str | None) -> None:
        """Move the object into ``container_id``'s inventory (or nowhere)."""
        obj = self.require(id)
        self._detach(obj)
        if container_id is not None:
            self._place(obj, container_id)

    def delete_game_object(self, id: str) -> None:
        """Soft-delete: the object leaves its holder; exits leading to a room go."""
        obj = self.require(id)
        self._detach(obj)
        obj.deleted = True
        if id in self.rooms:
            self.rooms[id].exits.clear()
            for room in self.rooms.values():
                for direction, target in list(room.exits.items()):
                    if target == id:
                        del room.exits[direction]

    def create_player(self, id: str, name: str, password_hash: str = "") -> WorldObject:
        obj = self.create_game_object(id, name, "player")
        self.players[id] = PlayerState(password_hash=password_hash)
        return obj

    def update_player_password(self, id: str, password_hash: str = "") -> None:
        self._player(id).password_hash = password_hash

    def update_player_admin_status(self, id: str, admin: bool) -> None:
        self._player(id).admin = bool(admin)

    def create_room(self, id: str, name: str, description: str = "") -> WorldObject:
        obj = self.create_game_object(id, name, "room")
        self.rooms[id] = RoomState(description=description)
        return obj

    def update_room_description(self, id: str, description: str) -> None:
        self._room(id).description = description

    def add_room_exit(self, id: str, direction: str, target_room_id: str) -> None:
        self._room(id).exits[direction] = target_room_id

    def remove_room_exit(self, id: str, direction: str) -> None:
        self._room(id).exits.pop(direction, None)

    def add_item_to_inventory(
        self, id: str, item_id: str, position: tuple[int, int] | None = None
    ) -> None:
        """Move ``item_id`` into holder ``id``'s inventory (kept in place if already there)."""
        item = self.require(item_id)
        if item.container == id and item_id in self.inventories.get(id, ()):
            return
        self._detach(item)
        self._place(item, id)

    def remove_item_from_inventory(self, id: str, item_id: str) -> None:
        """Take ``item_id`` out of ``id``'s inventory; it is then nowhere."""
        self._detach(self.require(item_id))

    def equip_item(self, id: str, item_id: str, slot: str) -> None:
        """Character ``id`` wears ``item_id`` (from its inventory) in ``slot``."""
        item = self.require(item_id)
        self._detach(item)
        item.container = id
        layer = 0 if slot.endswith("_wield") else self.layer_of(item_id)
        self.equipment.setdefault(id, {}).setdefault(slot, {})[layer] = item_id

    def unequip_item(self, id: str, item_id: str, slot: str) -> None:
        """Character ``id`` takes ``item_id`` off; it goes back to the inventory."""
        item = self.require(item_id)
        self._detach(item)
        self._place(item, id)

    def _place(self, obj: WorldObject, holder_id: str) -> None:
        obj.container = holder_id
        self.inventories.setdefault(holder_id, []).append(obj.id)

    def _detach(self, obj: WorldObject) -> None:
        """Take ``obj`` out of its holder's inventory or equipment; container becomes None."""
        holder = obj.container
        obj.container = None
        if holder is None:
            return
        items = self.inventories.get(holder)
        if items is not None and obj.id in items:
            items.remove(obj.id)
            if not items:
                del self.inventories[holder]
        slots = self.equipment.get(holder)
        if slots:
            for slot, layers in list(slots.items()):
                for layer, worn_id in list(layers.items()):
                    if worn_id == obj.id:
                        del layers[layer]
                if not layers:
                    del slots[slot]
            if not slots:
                del self.equipment[holder]

    def layer_of(self, item_id: str) -> int:
        """The item's ``layer`` attribute (0 when absent or not an int)."""
        obj = self.objects.get(item_id)
        value = obj.attributes.get("layer", 0) if obj is not None else 0
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def apply(self, command: str, fields: Mapping[str, Any]) -> None:
        """Apply the change a command ``command`` with ``fields`` describes.

        ``fields`` are the command's fields (``actor`` is ignored; a plaintext
        ``password`` is ignored too: the Manager sends ``password_hash``, which is kept).
        """
        method = getattr(self, _METHODS[command])
        kwargs = {k: v for k, v in fields.items() if k not in ("actor", "password")}
        method(**kwargs)

    def _player(self, object_id: str) -> PlayerState:
        return _lookup(self.players, "player", object_id)

    def _room(self, object_id: str) -> RoomState:
        return _lookup(self.rooms, "room", object_id)


def _lookup(table: Mapping[str, _V], kind: str, object_id: str) -> _V:
    """``table[object_id]``, or :class:`WorldStateError` naming the missing ``kind``."""
    try:
        return table[object_id]
    except KeyError:
        raise WorldStateError(f"no {kind} {object_id!r} in the live world") from None


#: Command class name -> LiveWorld method name.
_METHODS: dict[str, str] = {
    "CreateGameObject": "create_game_object",
    "UpdateGameObjectAttribute": "update_game_object_attribute",
    "UpdateGameObjectAttributes": "update_game_object_attributes",
    "UpdateGameObjectContainer": "update_game_object_container",
    "DeleteGameObject": "delete_game_object",
    "CreatePlayer": "create_player",
    "UpdatePlayerPassword": "update_player_password",
    "UpdatePlayerAdminStatus": "update_player_admin_status",
    "CreateRoom": "create_room",
    "UpdateRoomDescription": "update_room_description",
    "AddRoomExit": "add_room_exit",
    "RemoveRoomExit": "remove_room_exit",
    "AddItemToInventory": "add_item_to_inventory",
    "RemoveItemFromInventory": "remove_item_from_inventory",
    "EquipItem": "equip_item",
    "UnequipItem": "unequip_item",
}

#: The 16 command names the live world understands.
COMMAND_NAMES: tuple[str, ...] = tuple(_METHODS)
