"""Admin verbs for building the world: objects, rooms, exits, descriptions, attributes,
props, areas, doors, terrain, visibility, notes.

Each is one or more commands made through the :class:`~aethyr_domain.game.manager.Manager`
(the World's handlers decide them); see ``docs/actions.md`` for the syntax and the
commands of each. A refusal is a message to the admin and writes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aethyr_domain import values
from aethyr_domain.directions import OPPOSITES, normalise_direction
from aethyr_domain.game.manager import GameError
from aethyr_domain.game.player_verbs import is_door
from aethyr_domain.game.verb_context import Output, VerbContext, check_value
from aethyr_domain.object_classes import ObjectClass, class_names, lookup

#: ``terrain`` settings: name -> True if the value is a yes/no flag.
TERRAIN_SETTINGS = {"type": False, "indoors": True, "water": True, "underwater": True}

_AREA = ObjectClass("Area", "area", "an area", {"map_type": "none"})


def acprop(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``acprop <generic>``: a Prop (not movable) named after its generic noun."""
    generic = rest.strip()
    if not generic:
        return [(player_id, "Usage: acprop <generic>")]
    prop = lookup("Prop")
    assert prop is not None
    klass = dataclasses.replace(prop, generic=generic, default_name=f"a {generic}")
    obj = actions.manager.create_object(klass, actions.room(player_id), actor=player_id)
    return [(player_id, f"Created {obj.name} (Prop, id {obj.id}).")]


def acarea(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``acarea <name>``: an Area (held by nothing)."""
    name = rest.strip()
    if not name:
        return [(player_id, "Usage: acarea <name>")]
    obj = actions.manager.create_object(_AREA, None, name=name, actor=player_id)
    return [(player_id, f"Created area {obj.name} (id {obj.id}).")]


def acdoor(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``acdoor <dir> [room]``: a pair of connected doors on the exit ``dir``.

    Without ``room`` the exit must exist; with it, the exits both ways are made (or
    replaced) first. Refused if a door already closes that exit.
    """
    direction, _, target_text = rest.partition(" ")
    canonical = normalise_direction(direction) if direction else None
    if canonical is None:
        return [(player_id, "Usage: acdoor <direction> [room]")]
    here = actions.room(player_id)
    for obj in actions.world.inventory(here):
        if is_door(obj) and obj.attributes.get("direction") == canonical:
            raise GameError(f"There is already a door {canonical}.")
    manager = actions.manager
    if target_text.strip():
        room = actions.world.find_room(target_text.strip())
        if room is None:
            raise GameError(f"There is no room {target_text.strip()}.")
        if room.id == here:
            raise GameError("A door must lead to another room.")
        manager.link_rooms(here, canonical, room.id, actor=player_id)
        there = room.id
    else:
        target = actions.world.rooms[here].exits.get(canonical)
        if target is None:
            raise GameError(f"There is no exit {canonical}; use acdoor {canonical} <room>.")
        there = target
    back = OPPOSITES[canonical]
    this_id, that_id = manager.new_id(), manager.new_id()
    door = ObjectClass("Door", "door", "a door", {})
    for object_id, room_id, way, other in (
        (this_id, here, canonical, that_id),
        (that_id, there, back, this_id),
    ):
        attributes: dict[str, Any] = {
            "door": True,
            "direction": way,
            "open": False,
            "locked": False,
            "lockable": True,
            "keys": [],
            "connected_to": other,
            "movable": False,
        }
        manager.create_object(door, room_id, vars=attributes, actor=player_id, object_id=object_id)
    return [(player_id, f"Created a door {canonical} (and its other side, {back}).")]


def terrain(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``terrain <type|indoors|water|underwater> <value>``: this room's ``terrain``."""
    setting, _, value = rest.partition(" ")
    setting, value = setting.lower(), value.strip()
    if setting not in TERRAIN_SETTINGS or not value:
        return [(player_id, "Usage: terrain <type|indoors|water|underwater> <value>")]
    typed: Any = value
    if TERRAIN_SETTINGS[setting]:
        flag = value.lower()
        if flag not in ("yes", "no", "true", "false"):
            raise GameError(f"{setting} is yes or no.")
        typed = flag in ("yes", "true")
    here = actions.room(player_id)
    room = actions.world.require(here)
    current = room.attributes.get("terrain")
    terrain_now = dict(current) if isinstance(current, dict) else {}
    terrain_now[setting] = typed
    check_value("That terrain", terrain_now)
    actions.manager.update_attribute(here, "terrain", terrain_now, actor=player_id)
    return [(player_id, f"Set terrain {setting} of {room.name} to {value}.")]


def ahide(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``ahide <thing>``: ``look`` no longer lists it."""
    return _show(actions, player_id, rest, False)


def ashow(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``ashow <thing>``: ``look`` lists it again."""
    return _show(actions, player_id, rest, True)


def _show(actions: VerbContext, player_id: str, rest: str, shown: bool) -> Output:
    if not rest:
        return [(player_id, f"Usage: {'ashow' if shown else 'ahide'} <thing>")]
    obj = actions.find_any(player_id, rest)
    if actions.world.is_room(obj.id) or actions.world.is_player(obj.id):
        raise GameError(f"You cannot {'show' if shown else 'hide'} {obj.name}.")
    if (obj.attributes.get("show_in_look") is not False) == shown:
        raise GameError(f"{obj.name} is already {'shown' if shown else 'hidden'}.")
    actions.manager.update_attribute(obj.id, "show_in_look", shown, actor=player_id)
    return [(player_id, f"{obj.name} is now {'shown' if shown else 'hidden'}.")]


def acomment(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``acomment``/``acomm <thing> <text>``: an admin's note on an object."""
    what, _, text = rest.partition(" ")
    if not what or not text.strip():
        return [(player_id, "Usage: acomment <thing> <text>")]
    obj = actions.find_any(player_id, what)
    check_value("That comment", text.strip())
    actions.manager.update_attribute(obj.id, "comment", text.strip(), actor=player_id)
    return [(player_id, f"Added a comment to {obj.name}.")]


def ainfo(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``ainfo set <thing> <path> <value>``, ``ainfo delete <thing> <path>``,
    ``ainfo show <thing> [path]``, ``ainfo clear <thing>``: the object's ``info``
    attribute, a nested dict addressed by dotted paths (``stats.health``)."""
    words = rest.split(" ", 3)
    action = words[0].lower() if words else ""
    usage = "Usage: ainfo set|delete|show|clear <thing> [path] [value]"
    if action not in ("set", "delete", "show", "clear") or len(words) < 2:
        return [(player_id, usage)]
    obj = actions.find_any(player_id, words[1])
    current = obj.attributes.get("info")
    info: dict[str, Any] = _copy(current) if isinstance(current, dict) else {}
    path = words[2].split(".") if len(words) > 2 else []
    if any(not part for part in path):
        raise GameError(f"{words[2]!r} is not a path.")
    if action == "show":
        shown: Any = info
        for part in path:
            if not isinstance(shown, dict) or part not in shown:
                raise GameError(f"{obj.name} has no info {'.'.join(path)}.")
            shown = shown[part]
        return [(player_id, f"{obj.name} info{' ' + '.'.join(path) if path else ''}: {shown!r}")]
    if action == "clear":
        if not info:
            raise GameError(f"{obj.name} has no info.")
        actions.manager.update_attribute(obj.id, "info", {}, actor=player_id)
        return [(player_id, f"Cleared the info of {obj.name}.")]
    if not path:
        return [(player_id, usage)]
    parent: Any = info
    for part in path[:-1]:
        if action == "set":
            child = parent.get(part)
            if not isinstance(child, dict):
                child = parent[part] = {}
            parent = child
        else:
            parent = parent.get(part) if isinstance(parent, dict) else None
    if action == "delete":
        if not isinstance(parent, dict) or path[-1] not in parent:
            raise GameError(f"{obj.name} has no info {'.'.join(path)}.")
        del parent[path[-1]]
        message = f"Deleted info {'.'.join(path)} of {obj.name}."
    else:
        if len(words) < 4 or not words[3].strip():
            return [(player_id, usage)]
        subject = f"Cannot set info {'.'.join(path)}: the value"
        value = _coerce(words[3], subject)
        check_value(subject, value)
        parent[path[-1]] = value
        message = f"Set info {'.'.join(path)} of {obj.name}."
    check_value("That info", info)
    actions.manager.update_attribute(obj.id, "info", info, actor=player_id)
    return [(player_id, message)]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def acreate(actions: VerbContext, player_id: str, rest: str) -> Output:
    class_name, _, name = rest.partition(" ")
    klass = lookup(class_name) if class_name else None
    if klass is None:
        if class_name.lower() == "player":
            raise GameError("Use the character creation to make players.")
        raise GameError("acreate <class> [name]; classes: " + ", ".join(class_names()))
    obj = actions.manager.create_object(
        klass, actions.room(player_id), name=name.strip() or None, actor=player_id
    )
    return [(player_id, f"Created {obj.name} ({klass.name}, id {obj.id}).")]


def acroom(actions: VerbContext, player_id: str, rest: str) -> Output:
    direction, _, name = rest.partition(" ")
    canonical = normalise_direction(direction) if direction else None
    if canonical is None or not name.strip():
        return [(player_id, "Usage: acroom <direction> <name>")]
    here = actions.room(player_id)
    if canonical in actions.world.rooms[here].exits:
        raise GameError(f"There is already an exit {canonical}.")
    room = actions.manager.create_room(name.strip(), actor=player_id)
    actions.manager.link_rooms(here, canonical, room.id, actor=player_id)
    return [(player_id, f"Created {room.name} ({room.id}) to the {canonical}.")]


def acexit(actions: VerbContext, player_id: str, rest: str) -> Output:
    direction, _, target = rest.partition(" ")
    if not direction or not target.strip():
        return [(player_id, "Usage: acexit <direction> <room>")]
    room = actions.world.find_room(target.strip())
    if room is None:
        raise GameError(f"There is no room {target.strip()}.")
    canonical = actions.manager.add_exit(
        actions.room(player_id), direction, room.id, actor=player_id
    )
    return [(player_id, f"Created an exit {canonical} to {room.name}.")]


def adelete(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Delete what?")]
    obj = actions.find_any(player_id, rest)
    if actions.world.is_player(obj.id):
        raise GameError("Use deleteplayer to delete a player.")
    if obj.id == actions.manager.room_of(player_id):
        raise GameError("You cannot delete the room you are standing in.")
    actions.manager.delete_object(obj.id, actor=player_id)
    return [(player_id, f"{obj.name} is gone.")]


def aput(actions: VerbContext, player_id: str, rest: str) -> Output:
    what, sep, where = rest.partition(" in ")
    if not sep or not what or not where:
        return [(player_id, "Usage: aput <object> in <container|here>")]
    obj = actions.find_any(player_id, what)
    target = actions.find_any(player_id, where)
    actions.manager.move_object(obj.id, target.id, actor=player_id)
    return [(player_id, f"Moved {obj.name} into {target.name}.")]


def adesc(actions: VerbContext, player_id: str, rest: str) -> Output:
    what, _, text = rest.partition(" ")
    if not what or not text.strip():
        return [(player_id, "Usage: adesc <object|here> <description>")]
    obj = actions.find_any(player_id, what)
    if actions.world.is_room(obj.id):
        actions.manager.set_room_description(obj.id, text.strip(), actor=player_id)
    else:
        check_value("That description", text.strip())
        actions.manager.update_attribute(obj.id, "short_desc", text.strip(), actor=player_id)
    return [(player_id, f"Description of {obj.name} set.")]


def aset(actions: VerbContext, player_id: str, rest: str) -> Output:
    words = rest.split(" ", 2)
    if len(words) < 3:
        return [(player_id, "Usage: aset <object> <attribute> <value>")]
    obj = actions.find_any(player_id, words[0])
    key = _ASET_ALIASES.get(words[1].lower(), words[1].lstrip("@"))
    subject = f"Cannot set {key}: the value"
    value = _coerce(words[2], subject)
    check_value(subject, value)
    actions.manager.update_attribute(obj.id, key, value, actor=player_id)
    return [(player_id, f"Set {key} of {obj.name}.")]


_ASET_ALIASES = {
    "smell": "smell",
    "feel": "texture",
    "texture": "texture",
    "taste": "taste",
    "sound": "sound",
}


_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))([eE][-+]?[0-9]+)?")


def _coerce(text: str, subject: str) -> Any:
    """Typed values for ``aset``: integers (``12``), decimals (``1.5``, ``2e3``), true/false,
    or else the text itself (so ``nan`` or ``inf`` are words, not numbers)."""
    value = text.strip()
    if _INTEGER.fullmatch(value):
        if len(value.lstrip("-").lstrip("0")) > len(str(values.MAX_INT)):
            # far outside 64 bits (and Python refuses to parse over 4300 digits)
            check_value(subject, values.MAX_INT + 1)
        return int(value)
    if _DECIMAL.fullmatch(value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
