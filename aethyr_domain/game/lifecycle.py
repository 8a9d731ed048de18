"""Creating and deleting: rooms, objects, players; re-homing what a deleted thing held."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aethyr_domain import commands
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.game.accounts import hash_checked
from aethyr_domain.game.manager_base import GARBAGE_DUMP_ID, SYSTEM, GameError, ManagerBase
from aethyr_domain.game_state import WorldObject
from aethyr_domain.object_classes import ObjectClass


class Lifecycle(ManagerBase):
    """Objects, rooms and players come and go."""

    def ensure_room(
        self, room_id: str, name: str, description: str = "", *, actor: str = SYSTEM
    ) -> WorldObject:
        """The room ``room_id``, created if it does not exist yet."""
        existing = self.state.get(room_id)
        if existing is not None and self.state.is_room(room_id):
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
        return self.state.require(rid)

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
        if room is not None and self.state.get(room) is None:
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
        return self.state.require(oid)

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
        hashed = hash_checked(password)
        self._change(commands.CreatePlayer, actor, id=pid, name=name, password_hash=hashed)
        self._change(commands.UpdateGameObjectContainer, actor, id=pid, container_id=target)
        self.online.add(pid)
        return self.state.require(pid)

    def delete_object(self, object_id: str, *, actor: str) -> None:
        """Delete an object; what it holds or wears moves to its room.

        The ``DeleteGameObject`` handler re-homes the contents to the room that
        contains the deleted object. When there is none (a room, or an object in no
        room), the contents go to the "Garbage Dump" room first, as in the original
        (the dump is created on first use). Players are refused (use
        ``delete_player``), and so are the start room and the dump.
        """
        obj = self._object(object_id)
        if self.state.is_player(obj.id):
            raise GameError("Use deleteplayer to delete a player.")
        if obj.id in (self.config.start_room, GARBAGE_DUMP_ID):
            raise GameError(f"{obj.name} cannot be deleted.")
        contents: list[tuple[str | None, str]] = [
            (slot, item_id) for slot, _l, item_id in self.state.worn(obj.id)
        ]
        contents += [(None, item.id) for item in self.state.inventory(obj.id)]
        if contents and (self.state.is_room(obj.id) or self.room_of(obj.id) is None):
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
        for _s, _l, inner in list(self.state.worn(object_id)):
            self._delete_tree(inner, actor)
        for inner_obj in list(self.state.inventory(object_id)):
            self._delete_tree(inner_obj.id, actor)
        self._change(commands.DeleteGameObject, actor, id=object_id)

    def delete_player(self, player_id: str, *, actor: str) -> None:
        """Delete a player and everything they carry or wear (``deleteplayer``, ``delete me``)."""
        self._player(player_id)
        self._delete_tree(player_id, actor)
        self.online.discard(player_id)
