"""Rebuild the live world from the event log (``world --source replay``).

The original ``rebuild_world_state`` only logged counts. This one really rebuilds:
it reads every event of the World's log in order and applies each to a fresh
:class:`~aethyr_domain.live_world.LiveWorld`, so the result can be compared byte for
byte with the live world through :mod:`aethyr_domain.world_dump`.

Each event changes exactly the part of the world its aggregate owns: an item's
``GameObjectContainerUpdated`` sets its container, and the holder's own
``ItemAddedToInventory``/``ItemRemovedFromInventory`` keep the inventory, so the
applier never infers one from the other. Events that carry nothing the world dump
shows (password hashes, room entrances, the player-name index) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aethyr_domain.live_world import LiveWorld, PlayerState, RoomState, WorldObject


def rebuild_world_state(world: Any) -> LiveWorld:
    """A live world rebuilt from every event of ``world`` (a ``World`` application)."""
    from aethyr_domain.event_store import iter_events

    return apply_events(iter_events(world))


def apply_events(events: Iterable[Any]) -> LiveWorld:
    """Apply decoded domain events, in order, to a new live world."""
    live = LiveWorld()
    for event in events:
        applier = _APPLIERS.get(type(event).__name__)
        if applier is not None:
            applier(live, str(event.originator_id), event)
    return live


def _created(live: LiveWorld, oid: str, e: Any) -> None:
    live.objects[oid] = WorldObject(
        id=oid,
        name=e.name,
        generic=e.generic,
        container=e.container_id,
        attributes=dict(e.attributes),
    )


def _attribute(live: LiveWorld, oid: str, e: Any) -> None:
    live.objects[oid].attributes[e.key] = e.value


def _attributes(live: LiveWorld, oid: str, e: Any) -> None:
    live.objects[oid].attributes.update(e.attributes)


def _container(live: LiveWorld, oid: str, e: Any) -> None:
    live.objects[oid].container = e.container_id


def _deleted(live: LiveWorld, oid: str, e: Any) -> None:
    obj = live.objects[oid]
    obj.deleted = True
    obj.container = None


def _player(live: LiveWorld, oid: str, e: Any) -> None:
    live.players[oid] = PlayerState(admin=bool(e.admin))


def _admin(live: LiveWorld, oid: str, e: Any) -> None:
    live.players[oid].admin = bool(e.admin)


def _room(live: LiveWorld, oid: str, e: Any) -> None:
    live.rooms[oid] = RoomState(description=e.description, exits=dict(e.exits))


def _description(live: LiveWorld, oid: str, e: Any) -> None:
    live.rooms[oid].description = e.description


def _exit_added(live: LiveWorld, oid: str, e: Any) -> None:
    live.rooms[oid].exits[e.direction] = e.target_room_id


def _exit_removed(live: LiveWorld, oid: str, e: Any) -> None:
    live.rooms[oid].exits.pop(e.direction, None)


def _gained(live: LiveWorld, oid: str, e: Any) -> None:
    items = live.inventories.setdefault(oid, [])
    if e.item_id not in items:
        items.append(e.item_id)


def _lost(live: LiveWorld, oid: str, e: Any) -> None:
    items = live.inventories.get(oid, [])
    if e.item_id in items:
        items.remove(e.item_id)
    if not items:
        live.inventories.pop(oid, None)


def _equipped(live: LiveWorld, oid: str, e: Any) -> None:
    live.equipment.setdefault(oid, {}).setdefault(e.slot, {})[int(e.layer)] = e.item_id


def _unequipped(live: LiveWorld, oid: str, e: Any) -> None:
    slots = live.equipment.get(oid, {})
    layers = slots.get(e.slot, {})
    if layers.get(int(e.layer)) == e.item_id:
        del layers[int(e.layer)]
    if not layers:
        slots.pop(e.slot, None)
    if not slots:
        live.equipment.pop(oid, None)


_APPLIERS: dict[str, Callable[[LiveWorld, str, Any], None]] = {
    "GameObjectCreated": _created,
    "GameObjectAttributeUpdated": _attribute,
    "GameObjectAttributesUpdated": _attributes,
    "GameObjectContainerUpdated": _container,
    "GameObjectDeleted": _deleted,
    "PlayerCreated": _player,
    "PlayerAdminStatusUpdated": _admin,
    "RoomCreated": _room,
    "RoomDescriptionUpdated": _description,
    "RoomExitAdded": _exit_added,
    "RoomExitRemoved": _exit_removed,
    "ItemAddedToInventory": _gained,
    "ItemRemovedFromInventory": _lost,
    "ItemEquipped": _equipped,
    "ItemUnequipped": _unequipped,
}
