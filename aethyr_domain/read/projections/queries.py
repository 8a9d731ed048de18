"""Questions asked of the read model, and the whole world in dump form.

Each function takes :class:`~.view.Rows` (``with view.read() as rows: ...``)
so the answers come from one consistent snapshot of one generation.

* :func:`where_is` - which holder has an item, and whether it is worn;
* :func:`carried_by` - what a holder (room, container, character) holds;
* :func:`equipped_on` - what a character wears or wields, slot by slot;
* :func:`in_room` - the objects in a room and its exits;
* :func:`world_dict` - the full world in the ``aethyr-world/1`` layout of
  :mod:`aethyr_domain.read.world_dump`, so ``world --json --source projection``
  prints byte for byte what the live world prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aethyr_domain.read.projections.view import Row, Rows

WORLD_FORMAT = "aethyr-world/1"


@dataclass(frozen=True)
class Location:
    """Where an item is: its holder, and the slot/layer if the holder wears it."""

    item_id: str
    holder_id: str | None
    slot: str | None = None
    layer: int | None = None
    position: list[int] | None = None


def where_is(rows: Rows, item_id: str) -> Location | None:
    """Where ``item_id`` is, or ``None`` if the read model has no such object."""
    obj = rows.get("game_objects", (item_id,))
    if obj is None:
        return None
    worn = rows.select("equipment", item_id=item_id)
    if worn:
        w = worn[0]
        return Location(item_id, w["character_id"], slot=w["slot"], layer=w["layer"])
    held = rows.select("inventories", item_id=item_id)
    if held:
        return Location(item_id, held[0]["holder_id"], position=held[0]["position"])
    return Location(item_id, obj["container_id"])


def carried_by(rows: Rows, holder_id: str) -> list[Row]:
    """The game-object rows a holder has in its inventory, in arrival order."""
    held = sorted(rows.select("inventories", holder_id=holder_id), key=lambda r: r["arrival"])
    out: list[Row] = []
    for entry in held:
        obj = rows.get("game_objects", (entry["item_id"],))
        if obj is not None and not obj["deleted"]:
            out.append(obj)
    return out


def equipped_on(rows: Rows, character_id: str) -> dict[str, dict[int, str]]:
    """``{slot: {layer: item id}}`` for everything the character wears or wields."""
    out: dict[str, dict[int, str]] = {}
    for row in rows.select("equipment", character_id=character_id):
        out.setdefault(row["slot"], {})[int(row["layer"])] = row["item_id"]
    return out


def in_room(rows: Rows, room_id: str) -> dict[str, Any]:
    """The room's description, exits and the objects it holds (in arrival order)."""
    room = rows.get("rooms", (room_id,))
    return {
        "description": room["description"] if room else None,
        "exits": {
            r["direction"]: r["target_room_id"] for r in rows.select("room_exits", room_id=room_id)
        },
        "contents": [r["id"] for r in carried_by(rows, room_id)],
    }


def world_dict(rows: Rows) -> dict[str, Any]:
    """The whole world in the ``aethyr-world/1`` dump layout."""
    objects = [
        {
            "id": r["id"],
            "name": r["name"],
            "generic": r["generic"],
            "container": r["container_id"],
            "attributes": dict(r["attributes"] or {}),
            "deleted": bool(r["deleted"]),
        }
        for r in rows.select("game_objects")
    ]
    exits: dict[str, dict[str, str]] = {}
    for r in rows.select("room_exits"):
        exits.setdefault(r["room_id"], {})[r["direction"]] = r["target_room_id"]
    inventories: dict[str, list[tuple[int, str]]] = {}
    for r in rows.select("inventories"):
        inventories.setdefault(r["holder_id"], []).append((int(r["arrival"]), r["item_id"]))
    equipment: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows.select("equipment"):
        slots = equipment.setdefault(r["character_id"], {})
        slots.setdefault(r["slot"], {})[str(int(r["layer"]))] = r["item_id"]
    return {
        "format": WORLD_FORMAT,
        "objects": objects,
        "players": {r["id"]: {"admin": bool(r["admin"])} for r in rows.select("players")},
        "rooms": {
            r["id"]: {"description": r["description"], "exits": exits.get(r["id"], {})}
            for r in rows.select("rooms")
        },
        "inventories": {
            holder: [item for _, item in sorted(items)]
            for holder, items in inventories.items()
            if items
        },
        "equipment": equipment,
    }
