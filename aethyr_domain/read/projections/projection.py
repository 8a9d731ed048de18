"""The world projection: how each domain event changes the read-model rows.

:func:`apply_event` is the whole event logic, written against the
:class:`~.view.Rows` interface, so the same code fills every view backend,
the blue/green rebuild (:mod:`.rebuild`) and the in-memory replays behind
time travel and ``rebuild_world_state`` (:mod:`aethyr_domain.read.replay`).

:class:`WorldProjection` is the eventsourcing :class:`~eventsourcing.projection.Projection`
a ``ProjectionRunner`` drives: for each event it calls the view's command
method :meth:`~.view.WorldView.apply`, which writes the rows and the tracking
record in one transaction.

Events are recognised by class name (the domain's 16 original events);
events the read model does not need (the player-name index, room entrances)
only advance the tracking position. Password hashes are never copied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.view import Rows, WorldView

Handler = Callable[[Rows, Any], None]


def _object_created(rows: Rows, e: Any) -> None:
    rows.put(
        "game_objects",
        {
            "id": e.originator_id,
            "name": e.name,
            "generic": e.generic,
            "container_id": e.container_id,
            "attributes": dict(e.attributes or {}),
            "deleted": False,
        },
    )


def _attribute_updated(rows: Rows, e: Any) -> None:
    row = rows.get("game_objects", (e.originator_id,))
    if row is not None:
        attributes = dict(row["attributes"] or {})
        attributes[e.key] = e.value
        rows.update("game_objects", (e.originator_id,), attributes=attributes)


def _attributes_updated(rows: Rows, e: Any) -> None:
    row = rows.get("game_objects", (e.originator_id,))
    if row is not None:
        attributes = dict(row["attributes"] or {})
        attributes.update(e.attributes)
        rows.update("game_objects", (e.originator_id,), attributes=attributes)


def _container_updated(rows: Rows, e: Any) -> None:
    rows.update("game_objects", (e.originator_id,), container_id=e.container_id)


def _object_deleted(rows: Rows, e: Any) -> None:
    oid = e.originator_id
    rows.update("game_objects", (oid,), deleted=True, container_id=None)
    # A deleted object is held by no one and exits no longer lead to a deleted room
    # (the domain records these changes as events of the same save too; applying
    # them here as well keeps the read model right whatever their order).
    for row in rows.select("inventories", item_id=oid):
        rows.delete("inventories", Rows.key_of("inventories", row))
    for row in rows.select("equipment", item_id=oid):
        rows.delete("equipment", Rows.key_of("equipment", row))
    for row in rows.select("room_exits", target_room_id=oid):
        rows.delete("room_exits", Rows.key_of("room_exits", row))


def _player_created(rows: Rows, e: Any) -> None:
    obj = rows.get("game_objects", (e.originator_id,))
    rows.put(
        "players",
        {"id": e.originator_id, "name": obj["name"] if obj else None, "admin": bool(e.admin)},
    )


def _admin_updated(rows: Rows, e: Any) -> None:
    rows.update("players", (e.originator_id,), admin=bool(e.admin))


def _room_created(rows: Rows, e: Any) -> None:
    rows.put("rooms", {"id": e.originator_id, "description": e.description})
    for direction, target in sorted((e.exits or {}).items()):
        rows.put(
            "room_exits",
            {"room_id": e.originator_id, "direction": direction, "target_room_id": target},
        )


def _description_updated(rows: Rows, e: Any) -> None:
    rows.update("rooms", (e.originator_id,), description=e.description)


def _exit_added(rows: Rows, e: Any) -> None:
    rows.put(
        "room_exits",
        {"room_id": e.originator_id, "direction": e.direction, "target_room_id": e.target_room_id},
    )


def _exit_removed(rows: Rows, e: Any) -> None:
    rows.delete("room_exits", (e.originator_id, e.direction))


def _position(value: Any) -> list[int] | None:
    return None if value is None else list(value)


def _item_added(rows: Rows, e: Any) -> None:
    holder = e.originator_id
    existing = rows.get("inventories", (holder, e.item_id))
    if existing is not None:  # already held: only the grid position changes
        rows.update("inventories", (holder, e.item_id), position=_position(e.position))
        return
    arrival = 1 + max(
        (r["arrival"] for r in rows.select("inventories", holder_id=holder)), default=0
    )
    rows.put(
        "inventories",
        {
            "holder_id": holder,
            "item_id": e.item_id,
            "position": _position(e.position),
            "arrival": arrival,
        },
    )


def _item_removed(rows: Rows, e: Any) -> None:
    rows.delete("inventories", (e.originator_id, e.item_id))


def _item_equipped(rows: Rows, e: Any) -> None:
    rows.put(
        "equipment",
        {
            "character_id": e.originator_id,
            "item_id": e.item_id,
            "slot": e.slot,
            "layer": int(getattr(e, "layer", 0) or 0),
        },
    )


def _item_unequipped(rows: Rows, e: Any) -> None:
    rows.delete("equipment", (e.originator_id, e.item_id))


HANDLERS: dict[str, Handler] = {
    "GameObjectCreated": _object_created,
    "GameObjectAttributeUpdated": _attribute_updated,
    "GameObjectAttributesUpdated": _attributes_updated,
    "GameObjectContainerUpdated": _container_updated,
    "GameObjectDeleted": _object_deleted,
    "PlayerCreated": _player_created,
    "PlayerPasswordUpdated": lambda rows, e: None,  # hashes never reach the read model
    "PlayerAdminStatusUpdated": _admin_updated,
    "RoomCreated": _room_created,
    "RoomDescriptionUpdated": _description_updated,
    "RoomExitAdded": _exit_added,
    "RoomExitRemoved": _exit_removed,
    "ItemAddedToInventory": _item_added,
    "ItemRemovedFromInventory": _item_removed,
    "ItemEquipped": _item_equipped,
    "ItemUnequipped": _item_unequipped,
}
"""Event class name -> how it changes the rows."""


PREFETCH: dict[str, tuple[str, str]] = {
    "GameObjectAttributeUpdated": ("game_objects", "id"),
    "GameObjectAttributesUpdated": ("game_objects", "id"),
    "GameObjectContainerUpdated": ("game_objects", "id"),
    "PlayerCreated": ("game_objects", "id"),
    "ItemAddedToInventory": ("inventories", "holder_id"),
}
"""Event class name -> the (table, column) whose rows its handler reads, keyed by the
event's ``originator_id``: what :func:`prefetch` reads for a batch in one query."""


def prefetch(rows: Rows, events: list[Any]) -> None:
    """Tell ``rows`` which rows the handlers of ``events`` will read (one query per
    table for a batch; see :class:`~.batch_rows.BatchRows`). Only worth it for two
    or more keys: a single key is read by its primary key."""
    wanted: dict[tuple[str, str], set[Any]] = {}
    for event in events:
        target = PREFETCH.get(type(event).__name__)
        if target is not None:
            wanted.setdefault(target, set()).add(event.originator_id)
    for (table, column), values in sorted(wanted.items()):
        if len(values) > 1:
            rows.prefetch(table, column, values)


def apply_event(rows: Rows, event: Any) -> bool:
    """Apply one domain event to the rows; ``False`` if the read model ignores it."""
    handler = HANDLERS.get(type(event).__name__)
    if handler is None:
        return False
    handler(rows, event)
    return True


class WorldProjection(Projection[WorldView]):
    """Projects the world's events into a :class:`~.view.WorldView`."""

    name = "world_projection"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Apply the event and record ``tracking`` in one view transaction."""

        def change(rows: Rows) -> None:
            apply_event(rows, domain_event)

        self.view.apply(tracking, change)
        metrics.EVENTS_PROCESSED.labels(self.name).inc()

    def process_events(
        self, domain_events: list[Any], tracking: Tracking, first: int | None = None
    ) -> None:
        """Apply several events (in order) and record the last one's ``tracking``, in one
        view transaction (the follower's batches, rebuilds). ``first``, the first
        event's notification id, makes the view refuse a batch that overlaps its
        position (:meth:`~.view.WorldView.apply`)."""

        def change(rows: Rows) -> None:
            prefetch(rows, domain_events)
            for event in domain_events:
                apply_event(rows, event)

        self.view.apply(tracking, change, first=first)
        metrics.EVENTS_PROCESSED.labels(self.name).inc(len(domain_events))
