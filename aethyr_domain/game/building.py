"""Building: room descriptions, exits, attributes and doors (the admin verbs' changes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aethyr_domain import commands
from aethyr_domain.directions import OPPOSITES, normalise_direction
from aethyr_domain.game.manager_base import GameError, ManagerBase


class Building(ManagerBase):
    """Rooms and attributes."""

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
        if canonical in self.state.rooms[room_id].exits:
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
        if canonical is None or canonical not in self.state.rooms[room_id].exits:
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
