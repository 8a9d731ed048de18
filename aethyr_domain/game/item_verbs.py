"""The verbs of carrying and equipment: ``get``/``take``/``grab``, ``drop``, ``put``,
``give``, ``wear``, ``remove``, ``wield`` and ``unwield``.

Each is one command through the :class:`~aethyr_domain.game.manager.Manager`, which
adds the rules no command carries (a ``movable`` object, an ``is_container`` target,
an item with a ``position``) and lets the World's handlers decide the rest.
"""

from __future__ import annotations

from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext


def get(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Get what?")]
    what, sep, source = rest.partition(" from ")
    if sep:
        container = actions.find_near(player_id, source)
        item = actions.manager.find(what, [container.id])
        if item is None:
            raise GameError(f"There is no {what} in {container.name}.")
    else:
        item = actions.manager.find(rest, [actions.room(player_id)])
        if item is None:
            raise GameError(f"There is no {rest} here.")
    actions.manager.take(player_id, item.id)
    me = actions.name(player_id)
    suffix = f" from {actions.name(container.id)}" if sep else ""
    others = actions.tell_room(player_id, f"{me} takes {item.name}{suffix}.")
    return [(player_id, f"You take {item.name}{suffix}."), *others]


def drop(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Drop what?")]
    item = actions.held(player_id, rest)
    actions.manager.drop(player_id, item.id)
    others = actions.tell_room(player_id, f"{actions.name(player_id)} drops {item.name}.")
    return [(player_id, f"You drop {item.name}."), *others]


def put(actions: VerbContext, player_id: str, rest: str) -> Output:
    what, sep, where = rest.partition(" in ")
    if not sep or not what or not where:
        return [(player_id, "Put what in what?")]
    item = actions.held(player_id, what)
    container = actions.find_near(player_id, where)
    actions.manager.put(player_id, item.id, container.id)
    return [(player_id, f"You put {item.name} in {container.name}.")]


def give(actions: VerbContext, player_id: str, rest: str) -> Output:
    what, sep, whom = rest.partition(" to ")
    if not sep or not what or not whom:
        return [(player_id, "Give what to whom?")]
    item = actions.held(player_id, what)
    receiver = actions.world.find_player_by_name(whom)
    if receiver is None or receiver.id not in actions.others_here(player_id):
        raise GameError(f"{whom} is not here.")
    actions.manager.give(player_id, item.id, receiver.id)
    me = actions.name(player_id)
    return [
        (player_id, f"You give {item.name} to {receiver.name}."),
        (receiver.id, f"{me} gives you {item.name}."),
    ]


def wear(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Wear what?")]
    words = rest.split()
    item = actions.manager.find(rest, [player_id])
    position = None
    if item is None and len(words) > 1:
        for cut in range(len(words) - 1, 0, -1):
            item = actions.manager.find(" ".join(words[:cut]), [player_id])
            if item is not None:
                position = " ".join(words[cut:])
                break
    if item is None:
        raise GameError(f"You are not holding {rest}.")
    slot = actions.manager.wear(player_id, item.id, position)
    return [(player_id, f"You put on {item.name} ({slot.replace('_', ' ')}).")]


def remove(actions: VerbContext, player_id: str, rest: str) -> Output:
    if not rest:
        return [(player_id, "Remove what?")]
    item = actions.manager.find_worn(player_id, rest)
    if item is None:
        raise GameError(f"You are not wearing {rest}.")
    if actions.world.slot_of(player_id, item.id) in ("left_wield", "right_wield", "dual_wield"):
        raise GameError(f"You will need to unwield {item.name} first.")
    actions.manager.remove(player_id, item.id)
    return [(player_id, f"You remove {item.name}.")]


def wield(actions: VerbContext, player_id: str, rest: str) -> Output:
    words = rest.split()
    if not words:
        return [(player_id, "Wield what?")]
    hand = None
    if len(words) > 1 and words[-1].lower() in ("left", "right"):
        hand = words[-1].lower()
        words = words[:-1]
    item = actions.held(player_id, " ".join(words))
    slot = actions.manager.wield(player_id, item.id, hand)
    side = slot.removesuffix("_wield")
    return [(player_id, f"You grip {item.name} firmly in your {side} hand.")]


def unwield(actions: VerbContext, player_id: str, rest: str) -> Output:
    wielded = [
        (slot, item)
        for slot, _layer, item in actions.world.worn(player_id)
        if slot in ("left_wield", "right_wield", "dual_wield")
    ]
    arg = rest.strip().lower()
    if arg in ("left", "right", "dual"):
        wielded = [(s, i) for s, i in wielded if s == f"{arg}_wield"]
    elif arg:
        wielded = [(s, i) for s, i in wielded if _matches_id(actions, i, arg)]
    if not wielded:
        raise GameError("You are not wielding that." if arg else "You are not wielding anything.")
    _slot, item_id = wielded[0]
    actions.manager.remove(player_id, item_id)
    return [(player_id, f"You are no longer wielding {actions.name(item_id)}.")]


def _matches_id(actions: VerbContext, item_id: str, text: str) -> bool:
    obj = actions.world.get(item_id)
    return obj is not None and actions.manager.find_worn(obj.container or "", text) is obj
