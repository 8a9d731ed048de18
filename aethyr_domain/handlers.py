"""Command handlers: the rules of the world, one function per command.

Each handler receives a :class:`~aethyr_domain.unit_of_work.UnitOfWork`, the
command, and (for password commands) the already computed hash. It checks
every rule first, raising a typed :mod:`~aethyr_domain.errors` error if one
fails, and only then triggers events on the aggregates involved. Nothing is
saved here: :class:`~aethyr_domain.application.World` saves everything the
unit of work touched in one atomic ``save()``, and retries the whole handler
(reloading everything) if another writer got there first.

Invariants enforced here (see ``docs/domain.md``):

* an object is in one place: one inventory, one equipment slot, or nowhere;
  the object's ``container_id``/``slot`` and its holder's ``inventory``/
  ``equipment`` always agree (every move changes both in the same save);
* no containment cycles; rooms are never held; players are only in rooms;
* exits lead to existing, non-deleted rooms; each direction once per room;
* ids are created once; deleted objects accept nothing and cannot be used;
* deleting a holder re-homes its contents to the containing room;
* player names are unique regardless of case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aethyr_domain import commands as c
from aethyr_domain.equipment_slots import LAYER_ATTRIBUTE, MAX_LAYER, WIELD_SLOTS, conflicting_slots
from aethyr_domain.errors import (
    AlreadyExistsError,
    InvariantViolationError,
    SlotOccupiedError,
    WrongKindError,
)
from aethyr_domain.game_object import GameObject
from aethyr_domain.passwords import legacy_md5_hash
from aethyr_domain.player import Player
from aethyr_domain.player_name_index import PlayerNameIndex, name_index_id
from aethyr_domain.room import Room
from aethyr_domain.unit_of_work import MAX_NESTING, UnitOfWork
from aethyr_domain.values import thaw

Handler = Callable[[UnitOfWork, Any, str | None], None]


# ---------------------------------------------------------------- shared rules


def _require_new(uow: UnitOfWork, object_id: str) -> None:
    if uow.exists(object_id):
        raise AlreadyExistsError(f"An object with id {object_id!r} already exists.")


def _check_can_hold(uow: UnitOfWork, item: GameObject, holder: GameObject) -> None:
    """Rules for putting ``item`` into ``holder``'s inventory."""
    if isinstance(item, Room):
        raise InvariantViolationError(f"Room {item.id!r} cannot be put inside anything.")
    if isinstance(item, Player) and not isinstance(holder, Room):
        raise InvariantViolationError(f"Player {item.id!r} can only be in a room.")
    # No cycles: walk up from the holder; meeting the item means it would
    # end up inside itself.
    current: GameObject | None = holder
    for _ in range(MAX_NESTING):
        if current is None:
            return
        if current.id == item.id:
            raise InvariantViolationError(
                f"{item.name!r} cannot go into {holder.name!r}: it would end up inside itself."
            )
        current = uow.find(current.container_id) if current.container_id else None
    raise InvariantViolationError("Containers are nested too deeply.")


def _detach(uow: UnitOfWork, item: GameObject, actor: str) -> None:
    """Take ``item`` out of its current holder's inventory or equipment."""
    if item.container_id is None:
        return
    holder = uow.find(item.container_id)
    if item.slot is not None:
        holder.unequip(item.id, actor)
    else:
        holder.lose(item.id, actor)


def _move(
    uow: UnitOfWork,
    item: GameObject,
    holder: GameObject | None,
    position: list[int] | None,
    actor: str,
) -> None:
    """Move ``item`` into ``holder``'s inventory (or nowhere), keeping both sides in step."""
    if item.slot is not None:
        raise InvariantViolationError(
            f"{item.name!r} is worn or wielded; it must be unequipped first."
        )
    new_holder_id = None if holder is None else holder.id
    if item.container_id == new_holder_id and item.position == position:
        return  # already there: nothing to record
    if holder is not None:
        _check_can_hold(uow, item, holder)
    if item.container_id != new_holder_id:
        _detach(uow, item, actor)
    item.place(new_holder_id, actor, position=position)
    if holder is not None:
        holder.gain(item.id, position, actor)


def _containing_room(uow: UnitOfWork, obj: GameObject) -> Room | None:
    """The room ``obj`` is (ultimately) in, or ``None``; a room has none."""
    current_id = obj.container_id
    for _ in range(MAX_NESTING):
        if current_id is None:
            return None
        current = uow.find(current_id)
        if isinstance(current, Room):
            return current
        current_id = current.container_id
    return None


def _rehome(uow: UnitOfWork, item: GameObject, room: Room | None, actor: str) -> None:
    """Put an item taken out of a deleted holder into ``room`` (or nowhere)."""
    if room is None or isinstance(item, Room):
        item.place(None, actor)
    else:
        item.place(room.id, actor)
        room.gain(item.id, None, actor)


def _position(position: tuple[int, int] | None) -> list[int] | None:
    return None if position is None else list(position)


# ---------------------------------------------------------------- game objects


def create_game_object(uow: UnitOfWork, cmd: c.CreateGameObject, _: str | None) -> None:
    _require_new(uow, cmd.id)
    holder = None if cmd.container_id is None else uow.live(cmd.container_id)
    obj = GameObject.create(
        id=cmd.id, name=cmd.name, generic=cmd.generic, container_id=None, actor=cmd.actor
    )
    uow.add(obj)
    if holder is not None:
        _move(uow, obj, holder, None, cmd.actor)


def update_game_object_attribute(
    uow: UnitOfWork, cmd: c.UpdateGameObjectAttribute, _: str | None
) -> None:
    uow.live(cmd.id).set_attribute(cmd.key, thaw(cmd.value), cmd.actor)


def update_game_object_attributes(
    uow: UnitOfWork, cmd: c.UpdateGameObjectAttributes, _: str | None
) -> None:
    uow.live(cmd.id).set_attributes(thaw(cmd.attributes), cmd.actor)


def update_door_attributes(uow: UnitOfWork, cmd: c.UpdateDoorAttributes, _: str | None) -> None:
    door = uow.live(cmd.id)
    attributes = thaw(cmd.attributes)
    door.set_attributes(attributes, cmd.actor)
    other_id = door.attributes.get("connected_to")
    if isinstance(other_id, str) and other_id != door.id and uow.exists(other_id):
        other = uow.find(other_id)
        if not other.deleted:
            other.set_attributes(thaw(cmd.attributes), cmd.actor)


def update_game_object_container(
    uow: UnitOfWork, cmd: c.UpdateGameObjectContainer, _: str | None
) -> None:
    item = uow.live(cmd.id)
    holder = None if cmd.container_id is None else uow.live(cmd.container_id)
    _move(uow, item, holder, None, cmd.actor)


def delete_game_object(uow: UnitOfWork, cmd: c.DeleteGameObject, _: str | None) -> None:
    obj = uow.live(cmd.id)
    actor = cmd.actor
    # Contents go to the room the object is in (as the original Manager did);
    # a room's own contents, or those of an object in no room, go nowhere.
    room = None if isinstance(obj, Room) else _containing_room(uow, obj)
    for item_id in list(obj.equipment):
        obj.unequip(item_id, actor)
        _rehome(uow, uow.find(item_id), room, actor)
    for item_id in list(obj.inventory):
        obj.lose(item_id, actor)
        _rehome(uow, uow.find(item_id), room, actor)
    if isinstance(obj, Room):
        for direction, target_id in list(obj.exits.items()):
            obj.remove_exit(direction, actor)
            target = uow.find(target_id)
            assert isinstance(target, Room)
            target.remove_entrance(obj.id, direction, actor)
        for source_id, directions in list(obj.entrances.items()):
            source = uow.find(source_id)
            assert isinstance(source, Room)
            for direction in list(directions):
                source.remove_exit(direction, actor)
                obj.remove_entrance(source_id, direction, actor)
    _detach(uow, obj, actor)
    if isinstance(obj, Player):
        index = uow.name_index(name_index_id(obj.name))
        if index is not None and index.player_id == obj.id:
            index.release(actor)
    obj.delete(actor)


# ---------------------------------------------------------------- players


def _claim_name(uow: UnitOfWork, name: str, player_id: str, actor: str) -> None:
    index = uow.name_index(name_index_id(name))
    if index is None:
        uow.add(PlayerNameIndex.claim(name=name, player_id=player_id, actor=actor))
    elif index.player_id is None:
        index.reclaim(player_id, actor)
    else:
        raise AlreadyExistsError(f"The name {name!r} is already taken.")


def create_player(uow: UnitOfWork, cmd: c.CreatePlayer, password_hash: str | None) -> None:
    assert password_hash is not None
    _require_new(uow, cmd.id)
    _claim_name(uow, cmd.name, cmd.id, cmd.actor)
    uow.add(
        Player.register(
            id=cmd.id, name=cmd.name, password_hash=password_hash, admin=False, actor=cmd.actor
        )
    )


def import_legacy_player(uow: UnitOfWork, cmd: c.ImportLegacyPlayer, _: str | None) -> None:
    _require_new(uow, cmd.id)
    _claim_name(uow, cmd.name, cmd.id, cmd.actor)
    uow.add(
        Player.register(
            id=cmd.id,
            name=cmd.name,
            password_hash=legacy_md5_hash(cmd.password_md5),
            admin=cmd.admin,
            actor=cmd.actor,
        )
    )


def update_player_password(
    uow: UnitOfWork, cmd: c.UpdatePlayerPassword, password_hash: str | None
) -> None:
    assert password_hash is not None
    uow.live_as(cmd.id, Player, "player").set_password_hash(password_hash, cmd.actor)


def update_player_admin_status(
    uow: UnitOfWork, cmd: c.UpdatePlayerAdminStatus, _: str | None
) -> None:
    uow.live_as(cmd.id, Player, "player").set_admin(cmd.admin, cmd.actor)


# ---------------------------------------------------------------- rooms


def create_room(uow: UnitOfWork, cmd: c.CreateRoom, _: str | None) -> None:
    _require_new(uow, cmd.id)
    uow.add(Room.build(id=cmd.id, name=cmd.name, description=cmd.description, actor=cmd.actor))


def update_room_description(uow: UnitOfWork, cmd: c.UpdateRoomDescription, _: str | None) -> None:
    uow.live_as(cmd.id, Room, "room").set_description(cmd.description, cmd.actor)


def add_room_exit(uow: UnitOfWork, cmd: c.AddRoomExit, _: str | None) -> None:
    room = uow.live_as(cmd.id, Room, "room")
    target = uow.live_as(cmd.target_room_id, Room, "room")
    if cmd.direction in room.exits:
        raise AlreadyExistsError(
            f"Room {room.id!r} already has an exit {cmd.direction}; remove it first."
        )
    room.add_exit(cmd.direction, target.id, cmd.actor)
    target.add_entrance(room.id, cmd.direction, cmd.actor)


def remove_room_exit(uow: UnitOfWork, cmd: c.RemoveRoomExit, _: str | None) -> None:
    room = uow.live_as(cmd.id, Room, "room")
    target_id = room.exits.get(cmd.direction)
    if target_id is None:
        raise InvariantViolationError(f"Room {room.id!r} has no exit {cmd.direction}.")
    room.remove_exit(cmd.direction, cmd.actor)
    target = uow.find(target_id)
    assert isinstance(target, Room)
    target.remove_entrance(room.id, cmd.direction, cmd.actor)


# ---------------------------------------------------------------- inventory & equipment


def add_item_to_inventory(uow: UnitOfWork, cmd: c.AddItemToInventory, _: str | None) -> None:
    holder = uow.live(cmd.id)
    item = uow.live(cmd.item_id)
    _move(uow, item, holder, _position(cmd.position), cmd.actor)


def remove_item_from_inventory(
    uow: UnitOfWork, cmd: c.RemoveItemFromInventory, _: str | None
) -> None:
    holder = uow.live(cmd.id)
    item = uow.live(cmd.item_id)
    # Both sides must agree: the holder and the item are loaded one after the other,
    # and a concurrent move between the two loads must not pass as a silent no-op.
    if cmd.item_id not in holder.inventory or item.container_id != holder.id or item.slot:
        raise InvariantViolationError(f"{item.name!r} is not in the inventory of {holder.name!r}.")
    _move(uow, item, None, None, cmd.actor)


def _layer_of(item: GameObject, slot: str) -> int:
    if slot in WIELD_SLOTS:
        return 0
    layer = item.attributes.get(LAYER_ATTRIBUTE, 0)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= MAX_LAYER:
        raise InvariantViolationError(
            f"{item.name!r} has an invalid layer; it must be an integer from 0 to {MAX_LAYER}."
        )
    return layer


def equip_item(uow: UnitOfWork, cmd: c.EquipItem, _: str | None) -> None:
    character = uow.live(cmd.id)
    if not character.is_character:
        raise WrongKindError(character.id, "character")
    item = uow.live(cmd.item_id)
    if item.container_id != character.id or item.slot is not None:
        raise InvariantViolationError(
            f"{character.name!r} must be holding {item.name!r} (in the inventory) to equip it."
        )
    layer = _layer_of(item, cmd.slot)
    for slot in conflicting_slots(cmd.slot) or (cmd.slot,):
        occupant = character.occupant(slot, layer)
        if occupant is not None:
            raise SlotOccupiedError(
                f"{character.name!r} already has something in {slot.replace('_', ' ')}."
            )
    character.lose(item.id, cmd.actor)
    character.equip(item.id, cmd.slot, layer, cmd.actor)
    item.place(character.id, cmd.actor, slot=cmd.slot)


def unequip_item(uow: UnitOfWork, cmd: c.UnequipItem, _: str | None) -> None:
    character = uow.live(cmd.id)
    item = uow.live(cmd.item_id)
    worn = character.equipment.get(item.id)
    if worn is None or worn[0] != cmd.slot:
        raise InvariantViolationError(
            f"{character.name!r} is not wearing {item.name!r} in {cmd.slot.replace('_', ' ')}."
        )
    character.unequip(item.id, cmd.actor)
    character.gain(item.id, None, cmd.actor)
    item.place(character.id, cmd.actor)


#: Command class -> handler.
HANDLERS: dict[type[c.Command], Handler] = {
    c.CreateGameObject: create_game_object,
    c.UpdateGameObjectAttribute: update_game_object_attribute,
    c.UpdateGameObjectAttributes: update_game_object_attributes,
    c.UpdateGameObjectContainer: update_game_object_container,
    c.DeleteGameObject: delete_game_object,
    c.CreatePlayer: create_player,
    c.UpdatePlayerPassword: update_player_password,
    c.UpdatePlayerAdminStatus: update_player_admin_status,
    c.CreateRoom: create_room,
    c.UpdateRoomDescription: update_room_description,
    c.AddRoomExit: add_room_exit,
    c.RemoveRoomExit: remove_room_exit,
    c.AddItemToInventory: add_item_to_inventory,
    c.RemoveItemFromInventory: remove_item_from_inventory,
    c.EquipItem: equip_item,
    c.UnequipItem: unequip_item,
    c.ImportLegacyPlayer: import_legacy_player,
    c.UpdateDoorAttributes: update_door_attributes,
}
