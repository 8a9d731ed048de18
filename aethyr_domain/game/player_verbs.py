"""The players' verbs about themselves and where they are: looking, moving, doors,
posture, self-description.

* ``look [at] [thing]``, ``inventory``/``inv``/``i``: read only;
* ``go``/``move <direction>`` and the bare directions: ``move_player`` (an
  ``UpdateGameObjectContainer`` of the player);

Every change is one command of :mod:`aethyr_domain.commands` made through the
:class:`~aethyr_domain.game.manager.Manager` (so the World's handlers decide it):

* ``open``/``close``/``shut``/``lock``/``unlock`` a door or an openable thing:
  ``UpdateDoorAttributes`` (``open``, ``locked``), whose handler updates the door and
  the door on the other side of the exit (its ``connected_to``) in one atomic change;
* ``sit [thing]``/``stand``: ``UpdateGameObjectAttributes`` on the player
  (``posture``, ``sitting_on``);
* ``pose [text|none]``: ``UpdateGameObjectAttribute`` (``pose``);
* ``gait [phrase|none]``: ``UpdateGameObjectAttribute`` (``gait``: how others see the
  player leave and arrive);
* ``set desc <text>``: ``UpdateGameObjectAttribute`` (``long_desc``, what ``look at``
  shows).

Door attributes (``acdoor`` sets them): ``door: true``, ``direction`` (the exit it
closes), ``open``, ``locked``, ``lockable``, ``connected_to`` (the other side) and
``keys`` (ids of the items that lock it). A player may lock or unlock a door while
holding one of its ``keys``, or an item whose ``key_for`` attribute is the door's id or
its other side's id; admins need no key. Other objects can be opened when their
``openable`` attribute is ``true``.
"""

from __future__ import annotations

from typing import Any

from aethyr_domain.directions import DIRECTIONS, normalise_direction
from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext, check_value
from aethyr_domain.game_state import WorldObject
from aethyr_domain.object_classes import is_container


def is_door(obj: WorldObject) -> bool:
    """A door made by ``acdoor``."""
    return obj.attributes.get("door") is True


def _openable(actions: VerbContext, player_id: str, rest: str, verb: str) -> WorldObject:
    if not rest:
        raise GameError(f"{verb.capitalize()} what?")
    direction = normalise_direction(rest)
    if direction is not None:
        room = actions.room(player_id)
        for obj in actions.world.inventory(room):
            if is_door(obj) and obj.attributes.get("direction") == direction:
                return obj
        raise GameError(f"There is no door {direction}.")
    obj = actions.find_near(player_id, rest)
    if not is_door(obj) and obj.attributes.get("openable") is not True:
        raise GameError(f"You cannot {verb} {obj.name}.")
    return obj


def open_(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``open <door|direction|thing>``."""
    obj = _openable(actions, player_id, rest, "open")
    if obj.attributes.get("open") is True:
        raise GameError(f"{obj.name} is already open.")
    if obj.attributes.get("locked") is True:
        raise GameError(f"{obj.name} is locked.")
    actions.manager.update_door(obj.id, {"open": True}, actor=player_id)
    me = actions.name(player_id)
    return _with_others(actions, player_id, f"You open {obj.name}.", f"{me} opens {obj.name}.")


def close(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``close``/``shut <door|direction|thing>``."""
    obj = _openable(actions, player_id, rest, "close")
    if obj.attributes.get("open") is not True:
        raise GameError(f"{obj.name} is already closed.")
    actions.manager.update_door(obj.id, {"open": False}, actor=player_id)
    me = actions.name(player_id)
    return _with_others(actions, player_id, f"You close {obj.name}.", f"{me} closes {obj.name}.")


def lock(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``lock <door|direction|thing>``: needs a key (or admin); the door must be closed."""
    obj = _openable(actions, player_id, rest, "lock")
    if obj.attributes.get("lockable") is False:
        raise GameError(f"{obj.name} cannot be locked.")
    if obj.attributes.get("locked") is True:
        raise GameError(f"{obj.name} is already locked.")
    if obj.attributes.get("open") is True:
        raise GameError(f"You must close {obj.name} first.")
    _need_key(actions, player_id, obj)
    actions.manager.update_door(obj.id, {"locked": True}, actor=player_id)
    me = actions.name(player_id)
    return _with_others(actions, player_id, f"You lock {obj.name}.", f"{me} locks {obj.name}.")


def unlock(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``unlock <door|direction|thing>``: needs a key (or admin)."""
    obj = _openable(actions, player_id, rest, "unlock")
    if obj.attributes.get("locked") is not True:
        raise GameError(f"{obj.name} is not locked.")
    _need_key(actions, player_id, obj)
    actions.manager.update_door(obj.id, {"locked": False}, actor=player_id)
    me = actions.name(player_id)
    return _with_others(actions, player_id, f"You unlock {obj.name}.", f"{me} unlocks {obj.name}.")


def _need_key(actions: VerbContext, player_id: str, obj: WorldObject) -> None:
    if actions.manager.is_admin(player_id):
        return
    keys = obj.attributes.get("keys")
    key_ids = set(keys) if isinstance(keys, list) else set()
    sides = {obj.id, obj.attributes.get("connected_to")}
    for item in actions.world.inventory(player_id):
        if item.id in key_ids or item.attributes.get("key_for") in sides:
            return
    raise GameError(f"You do not have the key to {obj.name}.")


def _with_others(actions: VerbContext, player_id: str, mine: str, theirs: str) -> Output:
    return [(player_id, mine), *actions.tell_room(player_id, theirs)]


# ------------------------------------------------------------------ posture
def sit(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``sit`` (on the floor) or ``sit [on] <thing>`` (its ``sittable`` must be true)."""
    me = actions.world.require(player_id)
    if me.attributes.get("posture") == "sitting":
        raise GameError("You are already sitting down.")
    target = rest.removeprefix("on ").strip()
    if target:
        seat = actions.find_near(player_id, target)
        if seat.attributes.get("sittable") is not True:
            raise GameError(f"You cannot sit on {seat.name}.")
        change: dict[str, Any] = {"posture": "sitting", "sitting_on": seat.id}
        mine, theirs = f"You sit down on {seat.name}.", f"{me.name} sits down on {seat.name}."
    else:
        change = {"posture": "sitting", "sitting_on": None}
        mine, theirs = "You sit down.", f"{me.name} sits down."
    actions.manager.update_attributes(player_id, change, actor=player_id)
    return _with_others(actions, player_id, mine, theirs)


def stand(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``stand``: up from sitting."""
    me = actions.world.require(player_id)
    if me.attributes.get("posture") != "sitting":
        raise GameError("You are already standing.")
    actions.manager.update_attributes(
        player_id, {"posture": "standing", "sitting_on": None}, actor=player_id
    )
    return _with_others(actions, player_id, "You stand up.", f"{me.name} stands up.")


def pose(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``pose``: show it; ``pose <text>``: set it; ``pose none``: clear it."""
    current = actions.world.require(player_id).attributes.get("pose")
    if not rest:
        if isinstance(current, str) and current:
            return [(player_id, f"Your pose: {current}")]
        return [(player_id, "You are not posing.")]
    if rest.lower() == "none":
        if not current:
            raise GameError("You are not posing.")
        actions.manager.update_attribute(player_id, "pose", None, actor=player_id)
        return [(player_id, "Pose cleared.")]
    actions.manager.update_attribute(player_id, "pose", rest, actor=player_id)
    return [(player_id, f"Pose set to: {rest}")]


def gait(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``gait``: show it; ``gait <phrase>``: how you walk (``strides``); ``gait none``."""
    current = actions.world.require(player_id).attributes.get("gait")
    if not rest:
        if isinstance(current, str) and current:
            return [(player_id, f"You {current} when you walk.")]
        return [(player_id, "You walk normally.")]
    if rest.lower() == "none":
        if not current:
            raise GameError("You already walk normally.")
        actions.manager.update_attribute(player_id, "gait", None, actor=player_id)
        return [(player_id, "You will now walk normally.")]
    actions.manager.update_attribute(player_id, "gait", rest, actor=player_id)
    return [(player_id, f"Others will see you {rest} when you walk.")]


def set_desc(actions: VerbContext, player_id: str, text: str) -> Output:
    """``set desc <text>``: what others see when they look at you."""
    if not text:
        return [(player_id, "Usage: set desc <description>")]
    check_value("That description", text)
    actions.manager.update_attribute(player_id, "long_desc", text, actor=player_id)
    return [(player_id, "You set your description.")]


def look(actions: VerbContext, player_id: str, rest: str) -> Output:
    target = rest.removeprefix("at ").strip()
    if target:
        obj = actions.find_near(player_id, target)
        desc = obj.attributes.get("long_desc") or obj.attributes.get("short_desc")
        lines = [
            f"{obj.name}: {desc}" if isinstance(desc, str) and desc else f"You see {obj.name}."
        ]
        if is_container(obj.attributes):
            inside = [o.name for o in actions.world.inventory(obj.id)]
            lines.append("It contains: " + (", ".join(inside) if inside else "nothing") + ".")
        return [(player_id, "\n".join(lines))]
    room_id = actions.room(player_id)
    room = actions.world.require(room_id)
    state = actions.world.rooms[room_id]
    lines = [f"[{room.name}]"]
    if state.description:
        lines.append(state.description)
    things = [
        o.name
        for o in actions.world.inventory(room_id)
        if not actions.world.is_player(o.id) and o.attributes.get("show_in_look") is not False
    ]
    people = [actions.name(p) for p in actions.others_here(player_id)]
    if things:
        lines.append("You see: " + ", ".join(things) + ".")
    if people:
        lines.append("Also here: " + ", ".join(people) + ".")
    exits = sorted(state.exits, key=DIRECTIONS.index)
    lines.append("Exits: " + (", ".join(exits) if exits else "none") + ".")
    return [(player_id, "\n".join(lines))]


def inventory(actions: VerbContext, player_id: str, rest: str) -> Output:
    held = [o.name for o in actions.world.inventory(player_id)]
    worn = [
        f"{actions.name(item)} ({slot.replace('_', ' ')})"
        for slot, _layer, item in actions.world.worn(player_id)
    ]
    lines = ["You are holding " + (", ".join(held) if held else "nothing") + "."]
    lines.append("You are wearing " + (", ".join(worn) if worn else "nothing") + ".")
    return [(player_id, "\n".join(lines))]


def go(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Go where?")]
    me = actions.name(player_id)
    if actions.world.require(player_id).attributes.get("posture") == "sitting":
        raise GameError("You will need to stand up first.")
    gait = actions.world.require(player_id).attributes.get("gait")
    way = normalise_direction(rest) or rest
    if isinstance(gait, str) and gait:
        leaving, arriving = f"{me} {gait} {way}.", f"{me} {gait} in."
    else:
        leaving, arriving = f"{me} leaves.", f"{me} arrives."
    before = actions.tell_room(player_id, leaving)
    actions.manager.move_player(player_id, rest)
    after = actions.tell_room(player_id, arriving)
    return before + after + look(actions, player_id, "")
