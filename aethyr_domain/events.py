"""The domain events of the Aethyr world, and their string-id base classes.

Style: explicit event classes (frozen dataclasses) with an ``apply()`` method
that evolves the aggregate. The aggregates trigger them with
``trigger_event()``. Explicit classes give stable names and topics
(``aethyr_domain.events:RoomExitAdded``), allow ``class_version`` and
upcasters, and keep the domain rules (in the handlers and aggregates) apart
from the state changes (here).

Ids are strings (Aethyr GOIDs such as UUID hex or ``start-room``), so the
bases are built on ``CanMutateAggregate[str]``/``CanInitAggregate[str]`` rather
than the library's UUID-only ``Aggregate.Event``.

Every event carries ``actor``: the id of the player or admin who caused it, or
``"system"``.

The original's 16 event classes keep their names and fields. The extras, and
why the domain needs them, are:

* ``RoomEntranceAdded`` / ``RoomEntranceRemoved``: a room records which exits
  lead into it, so deleting a room can remove those exits in the same save
  (an exit never points to a deleted room).
* ``PlayerNameClaimed`` / ``PlayerNameReleased`` / ``PlayerNameReclaimed``:
  events of the name-index aggregate that makes player names unique
  atomically (case-insensitive); a deleted player's name is released.

Fields added to original events: ``position`` and ``slot`` on
``GameObjectContainerUpdated`` (v2; the upcaster fills them for v1 data) and
``layer`` on ``ItemEquipped``/``ItemUnequipped`` (the layered equipment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import (
    CanCreateTimestamp,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    MetaDomainEvent,
)

# ---------------------------------------------------------------- bases


@dataclass(frozen=True)
class DomainEventStr(CanCreateTimestamp, metaclass=MetaDomainEvent):
    """A domain event whose originator id is a string (not a UUID)."""

    originator_id: str
    originator_version: int
    timestamp: datetime


class WorldEvent(DomainEventStr, CanMutateAggregate[str]):
    """Base class of every event of the world's aggregates."""

    actor: str


class WorldCreated(WorldEvent, CanInitAggregate[str]):
    """Base class of the events that start an aggregate's stream."""

    originator_topic: str


class WorldSnapshot(DomainEventStr, CanSnapshotAggregate[str]):
    """A snapshot of a world aggregate (state as a dict of its attributes)."""

    topic: str
    state: dict[str, Any]


# ---------------------------------------------------------------- game objects


class GameObjectCreated(WorldCreated):
    """A game object came into being (first event of every object stream).

    Players and rooms start with it too (``generic`` ``"player"``/``"room"``),
    followed by ``PlayerCreated``/``RoomCreated``, as in the original.
    """

    name: str
    generic: str
    container_id: str | None
    attributes: dict[str, Any]

    def apply(self, aggregate: Any) -> None:
        aggregate.name = self.name
        aggregate.generic = self.generic
        aggregate.container_id = self.container_id
        aggregate.position = None
        aggregate.slot = None
        aggregate.attributes = dict(self.attributes)
        aggregate.inventory = {}
        aggregate.equipment = {}
        aggregate.deleted = False


class GameObjectAttributeUpdated(WorldEvent):
    """One attribute was set (``attributes[key] = value``)."""

    key: str
    value: Any

    def apply(self, aggregate: Any) -> None:
        aggregate.attributes[self.key] = self.value


class GameObjectAttributesUpdated(WorldEvent):
    """Several attributes were set at once (merged; other keys stay)."""

    attributes: dict[str, Any]

    def apply(self, aggregate: Any) -> None:
        aggregate.attributes.update(self.attributes)


class GameObjectContainerUpdated(WorldEvent):
    """The object's place changed: holder ``container_id`` (or nowhere).

    ``slot`` is ``None`` when the object is in the holder's inventory (at grid
    ``position``, or unpositioned), and names the equipment slot when the
    holder wears or wields it.

    Version history: v1 (the original) had only ``container_id``; v2 added
    ``position`` and ``slot``. :meth:`upcast_v1_v2` reads v1 data as v2.
    """

    class_version = 2

    container_id: str | None
    position: list[int] | None
    slot: str | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 events put the object in an inventory, unpositioned."""
        state["position"] = None
        state["slot"] = None

    def apply(self, aggregate: Any) -> None:
        aggregate.container_id = self.container_id
        aggregate.position = None if self.position is None else list(self.position)
        aggregate.slot = self.slot


class GameObjectDeleted(WorldEvent):
    """The object was deleted (soft delete: it accepts nothing more)."""

    def apply(self, aggregate: Any) -> None:
        aggregate.deleted = True
        aggregate.container_id = None
        aggregate.position = None
        aggregate.slot = None


# ---------------------------------------------------------------- players


class PlayerCreated(WorldEvent):
    """Second event of a player stream: credentials and admin flag.

    ``password_hash`` is an encoded salted scrypt hash (``scrypt$...``), or a
    legacy ``md5$...`` digest for a player imported from the original game.
    """

    password_hash: str
    admin: bool

    def apply(self, aggregate: Any) -> None:
        aggregate.password_hash = self.password_hash
        aggregate.admin = self.admin


class PlayerPasswordUpdated(WorldEvent):
    """The player's password hash was replaced."""

    password_hash: str

    def apply(self, aggregate: Any) -> None:
        aggregate.password_hash = self.password_hash


class PlayerAdminStatusUpdated(WorldEvent):
    """The player's admin rights were granted or revoked."""

    admin: bool

    def apply(self, aggregate: Any) -> None:
        aggregate.admin = self.admin


# ---------------------------------------------------------------- rooms


class RoomCreated(WorldEvent):
    """Second event of a room stream: its description and (empty) exits."""

    description: str
    exits: dict[str, str]

    def apply(self, aggregate: Any) -> None:
        aggregate.description = self.description
        aggregate.exits = dict(self.exits)
        aggregate.entrances = {}


class RoomDescriptionUpdated(WorldEvent):
    """The room's description was replaced."""

    description: str

    def apply(self, aggregate: Any) -> None:
        aggregate.description = self.description


class RoomExitAdded(WorldEvent):
    """An exit ``direction`` -> ``target_room_id`` was added."""

    direction: str
    target_room_id: str

    def apply(self, aggregate: Any) -> None:
        aggregate.exits[self.direction] = self.target_room_id


class RoomExitRemoved(WorldEvent):
    """The exit in ``direction`` was removed."""

    direction: str

    def apply(self, aggregate: Any) -> None:
        del aggregate.exits[self.direction]


class RoomEntranceAdded(WorldEvent):
    """Extra event: room ``source_room_id``'s exit ``direction`` now leads here."""

    source_room_id: str
    direction: str

    def apply(self, aggregate: Any) -> None:
        directions = aggregate.entrances.setdefault(self.source_room_id, [])
        directions.append(self.direction)
        directions.sort()


class RoomEntranceRemoved(WorldEvent):
    """Extra event: room ``source_room_id``'s exit ``direction`` no longer leads here."""

    source_room_id: str
    direction: str

    def apply(self, aggregate: Any) -> None:
        directions = aggregate.entrances[self.source_room_id]
        directions.remove(self.direction)
        if not directions:
            del aggregate.entrances[self.source_room_id]


# ---------------------------------------------------------------- inventory & equipment


class ItemAddedToInventory(WorldEvent):
    """The holder's inventory gained ``item_id`` (at grid ``position`` or none).

    Applied to an item already in the inventory, it moves it to ``position``.
    """

    item_id: str
    position: list[int] | None

    def apply(self, aggregate: Any) -> None:
        aggregate.inventory[self.item_id] = None if self.position is None else list(self.position)


class ItemRemovedFromInventory(WorldEvent):
    """The holder's inventory lost ``item_id``."""

    item_id: str

    def apply(self, aggregate: Any) -> None:
        del aggregate.inventory[self.item_id]


class ItemEquipped(WorldEvent):
    """The character now wears or wields ``item_id`` in ``slot`` at ``layer``."""

    item_id: str
    slot: str
    layer: int

    def apply(self, aggregate: Any) -> None:
        aggregate.equipment[self.item_id] = [self.slot, self.layer]


class ItemUnequipped(WorldEvent):
    """The character took ``item_id`` off ``slot`` (layer ``layer``)."""

    item_id: str
    slot: str
    layer: int

    def apply(self, aggregate: Any) -> None:
        del aggregate.equipment[self.item_id]


# ---------------------------------------------------------------- player-name index


class PlayerNameClaimed(WorldCreated):
    """Extra event: first use of a (lower-cased) player name, by ``player_id``."""

    name: str
    player_id: str

    def apply(self, aggregate: Any) -> None:
        aggregate.name = self.name
        aggregate.player_id = self.player_id


class PlayerNameReleased(WorldEvent):
    """Extra event: the player holding the name was deleted; the name is free."""

    player_id: str

    def apply(self, aggregate: Any) -> None:
        aggregate.player_id = None


class PlayerNameReclaimed(WorldEvent):
    """Extra event: a released name was taken by another player."""

    player_id: str

    def apply(self, aggregate: Any) -> None:
        aggregate.player_id = self.player_id


#: The original's 16 event classes, in its order.
ORIGINAL_EVENTS: tuple[type[WorldEvent], ...] = (
    GameObjectCreated,
    GameObjectAttributeUpdated,
    GameObjectAttributesUpdated,
    GameObjectContainerUpdated,
    GameObjectDeleted,
    PlayerCreated,
    PlayerPasswordUpdated,
    PlayerAdminStatusUpdated,
    RoomCreated,
    RoomDescriptionUpdated,
    RoomExitAdded,
    RoomExitRemoved,
    ItemAddedToInventory,
    ItemRemovedFromInventory,
    ItemEquipped,
    ItemUnequipped,
)

#: Events this port adds (see the module docstring for why).
EXTRA_EVENTS: tuple[type[WorldEvent], ...] = (
    RoomEntranceAdded,
    RoomEntranceRemoved,
    PlayerNameClaimed,
    PlayerNameReleased,
    PlayerNameReclaimed,
)
