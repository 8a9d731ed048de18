"""The canonical JSON form of a world (``aethyr-es world --json``, ``--dump-world``).

One format, used three ways: printing the live world, printing a world rebuilt from
the events (replay) or read from the projections, and as the input of
:mod:`aethyr_domain.game.migrate`. The same state always gives the same bytes: keys
are sorted, objects are sorted by id, indentation is fixed, and the text ends with
one newline. The layout (format ``aethyr-world/1``)::

    {
      "equipment":   {character id: {slot: {layer (string): item id}}},
      "format":      "aethyr-world/1",
      "inventories": {owner id: [item id, ... in arrival order]},
      "objects":     [{"attributes": {...}, "container": id or null,
                       "deleted": bool, "generic": str, "id": str, "name": str}, ...],
      "players":     {player id: {"admin": bool}},
      "rooms":       {room id: {"description": str, "exits": {direction: room id}}}
    }

Empty inventories and empty equipment are left out. Password hashes never appear
(they are salted, so two correct copies of a world differ there by design).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aethyr_domain.game_state import GameState, PlayerState, RoomState, WorldObject

FORMAT = "aethyr-world/1"


class WorldDumpError(ValueError):
    """A world dump that is not in the ``aethyr-world/1`` format; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid world dump: " + "; ".join(problems))


def world_to_dict(world: GameState) -> dict[str, Any]:
    """The dump as plain data (see the module docstring for the layout)."""
    objects = [
        {
            "id": obj.id,
            "name": obj.name,
            "generic": obj.generic,
            "container": obj.container,
            "attributes": obj.attributes,
            "deleted": obj.deleted,
        }
        for obj in sorted(world.objects.values(), key=lambda o: o.id)
    ]
    equipment: dict[str, dict[str, dict[str, str]]] = {}
    for character, slots in world.equipment.items():
        out = {
            slot: {str(layer): item for layer, item in layers.items()}
            for slot, layers in slots.items()
            if layers
        }
        if out:
            equipment[character] = out
    return {
        "format": FORMAT,
        "objects": objects,
        "players": {pid: {"admin": p.admin} for pid, p in world.players.items()},
        "rooms": {
            rid: {"description": r.description, "exits": dict(r.exits)}
            for rid, r in world.rooms.items()
        },
        "inventories": {owner: list(items) for owner, items in world.inventories.items() if items},
        "equipment": equipment,
    }


def dumps(world: GameState) -> str:
    """The canonical JSON text of ``world``."""
    return canonical_json(world_to_dict(world))


def canonical_json(data: Mapping[str, Any]) -> str:
    """Sorted keys, two-space indent, UTF-8 characters kept, one trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def loads(text: str | bytes) -> GameState:
    """Parse a dump back into a :class:`GameState`; raises :class:`WorldDumpError`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WorldDumpError([f"not JSON: {exc}"]) from None
    return world_from_dict(data)


def world_from_dict(data: object) -> GameState:
    """Build a :class:`GameState` from dump data, checking the whole shape first."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise WorldDumpError(["the top level must be a JSON object"])
    if data.get("format") != FORMAT:
        problems.append(f"format must be {FORMAT!r}")
    world = GameState()
    objects = data.get("objects")
    if not isinstance(objects, list):
        problems.append("objects must be a list")
        objects = []
    for index, raw in enumerate(objects):
        obj = _object(raw, index, problems)
        if obj is not None:
            if obj.id in world.objects:
                problems.append(f"objects[{index}]: duplicate id {obj.id!r}")
            world.objects[obj.id] = obj
    players = _mapping(data, "players", problems)
    for pid, raw in players.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("admin"), bool):
            problems.append(f"players[{pid!r}] must be {{'admin': bool}}")
            continue
        world.players[pid] = PlayerState(admin=raw["admin"])
    rooms = _mapping(data, "rooms", problems)
    for rid, raw in rooms.items():
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("description"), str)
            or not isinstance(raw.get("exits"), dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw["exits"].items())
        ):
            problems.append(f"rooms[{rid!r}] must be {{'description': str, 'exits': {{str: str}}}}")
            continue
        world.rooms[rid] = RoomState(description=raw["description"], exits=dict(raw["exits"]))
    for owner, items in _mapping(data, "inventories", problems).items():
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            problems.append(f"inventories[{owner!r}] must be a list of ids")
            continue
        world.inventories[owner] = list(items)
    for character, slots in _mapping(data, "equipment", problems).items():
        parsed = _equipment(character, slots, problems)
        if parsed:
            world.equipment[character] = parsed
    for kind, ids in (("players", world.players), ("rooms", world.rooms)):
        for oid in ids:
            if oid not in world.objects:
                problems.append(f"{kind}[{oid!r}] has no entry in objects")
    if problems:
        raise WorldDumpError(problems)
    return world


def _mapping(data: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{key} must be an object")
        return {}
    return value


def _object(raw: object, index: int, problems: list[str]) -> WorldObject | None:
    where = f"objects[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be an object")
        return None
    bad = [
        key
        for key, kind in (("id", str), ("name", str), ("generic", str), ("deleted", bool))
        if not isinstance(raw.get(key), kind)
    ]
    if not isinstance(raw.get("attributes", {}), dict):
        bad.append("attributes")
    container = raw.get("container")
    if container is not None and not isinstance(container, str):
        bad.append("container")
    if bad:
        problems.append(f"{where}: bad or missing {', '.join(bad)}")
        return None
    return WorldObject(
        id=raw["id"],
        name=raw["name"],
        generic=raw["generic"],
        container=container,
        attributes=dict(raw.get("attributes", {})),
        deleted=raw["deleted"],
    )


def _equipment(character: str, slots: object, problems: list[str]) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    if not isinstance(slots, dict):
        problems.append(f"equipment[{character!r}] must be an object")
        return out
    for slot, layers in slots.items():
        if not isinstance(layers, dict):
            problems.append(f"equipment[{character!r}][{slot!r}] must map layers to ids")
            continue
        for layer, item in layers.items():
            if not (isinstance(layer, str) and layer.isdigit() and isinstance(item, str)):
                problems.append(f"equipment[{character!r}][{slot!r}] has a bad layer {layer!r}")
                continue
            out.setdefault(slot, {})[int(layer)] = item
    return out
