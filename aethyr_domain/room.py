"""The ``Room`` aggregate: a game object with a description and exits.

A room stream starts with ``GameObjectCreated`` (generic ``"room"``) and
``RoomCreated``, as in the original. Extra state:

* ``description``: what ``look`` shows.
* ``exits``: ``{direction: target_room_id}``; directions are canonical
  (:mod:`aethyr_domain.directions`), targets are existing, non-deleted rooms.
* ``entrances``: ``{source_room_id: [direction, ...]}``, the exits of other
  rooms (or this one) that lead here, kept so deleting a room can remove them.

A room is never inside an inventory; it holds objects in its own inventory.
"""

from __future__ import annotations

from aethyr_domain.events import (
    GameObjectCreated,
    RoomCreated,
    RoomDescriptionUpdated,
    RoomEntranceAdded,
    RoomEntranceRemoved,
    RoomExitAdded,
    RoomExitRemoved,
)
from aethyr_domain.game_object import GameObject

#: The ``generic`` of every room (hard-coded in the original too).
ROOM_GENERIC = "room"


class Room(GameObject):
    """A room of the world."""

    def __init__(self) -> None:
        super().__init__()
        self.description: str = ""
        self.exits: dict[str, str] = {}
        self.entrances: dict[str, list[str]] = {}

    @classmethod
    def build(cls, *, id: str, name: str, description: str, actor: str) -> Room:
        """Start a room's stream: ``GameObjectCreated`` then ``RoomCreated``."""
        room: Room = cls._create(
            GameObjectCreated,
            id=id,
            name=name,
            generic=ROOM_GENERIC,
            container_id=None,
            attributes={},
            actor=actor,
        )
        room.trigger_event(RoomCreated, description=description, exits={}, actor=actor)
        return room

    @property
    def kind(self) -> str:
        return "room"

    @property
    def is_character(self) -> bool:
        return False

    def set_description(self, description: str, actor: str) -> None:
        """Replace the description."""
        self.trigger_event(RoomDescriptionUpdated, description=description, actor=actor)

    def add_exit(self, direction: str, target_room_id: str, actor: str) -> None:
        """Record a new exit."""
        self.trigger_event(
            RoomExitAdded, direction=direction, target_room_id=target_room_id, actor=actor
        )

    def remove_exit(self, direction: str, actor: str) -> None:
        """Record the removal of an exit."""
        self.trigger_event(RoomExitRemoved, direction=direction, actor=actor)

    def add_entrance(self, source_room_id: str, direction: str, actor: str) -> None:
        """Record that another room's exit now leads here."""
        self.trigger_event(
            RoomEntranceAdded, source_room_id=source_room_id, direction=direction, actor=actor
        )

    def remove_entrance(self, source_room_id: str, direction: str, actor: str) -> None:
        """Record that another room's exit no longer leads here."""
        self.trigger_event(
            RoomEntranceRemoved, source_room_id=source_room_id, direction=direction, actor=actor
        )
