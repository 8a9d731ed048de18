"""The rules of the player's verbs that no command carries, then the command.

``get`` needs a movable object, ``put`` a container, ``give`` a player in the same
room, ``wear``/``wield`` an item with a ``position`` (:mod:`aethyr_domain.object_classes`),
walking an exit whose door is open. These only refuse a verb or choose the slot a
command names; whether the command is then allowed is the World's handlers' decision.
"""

from __future__ import annotations

from aethyr_domain import commands
from aethyr_domain.directions import normalise_direction
from aethyr_domain.equipment_slots import normalise_slot
from aethyr_domain.game.accounts import Accounts
from aethyr_domain.game.manager_base import GameError
from aethyr_domain.game_state import WorldObject
from aethyr_domain.object_classes import PAIRED_POSITIONS, is_container, is_movable, wear_position


class VerbRules(Accounts):
    """Moving, carrying and equipment (``take`` lets admins take anything)."""

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
        target = self.state.rooms[room_id].exits.get(canonical)
        if target is None or self.state.get(target) is None:
            raise GameError("You cannot go that way.")
        for obj in self.state.inventory(room_id):
            attributes = obj.attributes
            door_here = attributes.get("door") is True and attributes.get("direction") == canonical
            if door_here and attributes.get("open") is not True:
                raise GameError(f"{obj.name} is closed.")
        self.move_object(player_id, target, actor=player_id)
        return self.state.require(target)

    def take(self, player_id: str, item_id: str) -> None:
        """``get``: move a movable item into the player's inventory."""
        item = self._object(item_id)
        if self.state.is_player(item.id) or self.state.is_room(item.id):
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
        if not self.state.is_player(receiver_id) or receiver_id == player_id:
            raise GameError("You can only give things to other players.")
        if self.room_of(receiver_id) != self.room_of(player_id):
            raise GameError("They are not here.")
        self.move_object(item_id, receiver_id, actor=player_id)

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
        slot = self.state.slot_of(player_id, item.id)
        if slot is None:
            raise GameError(f"You are not wearing {item.name}.")
        self._change(commands.UnequipItem, player_id, id=player_id, item_id=item.id, slot=slot)
        return slot


def _slot_name(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _nice(position: str) -> str:
    return position.replace("_", " ")
