"""Game actions: a player's command text in, messages to players out.

:class:`Actions` parses one line the way the original input handlers did (verbs,
aliases and argument syntax of ``../docs/actions.md``), calls the
:class:`~aethyr_domain.game.manager.Manager`, and returns what each player sees as
``(player id, text)`` pairs. A refused action (unknown thing, a rule, bad input)
is a message to the player, never an exception: :meth:`Actions.perform` turns every
:class:`~aethyr_domain.game.manager.GameError` into text.

What players see (:data:`Output`): every verb returns a list of ``(recipient player id,
text)`` pairs, in the order they are to be shown: the acting player's own lines and
the lines for *other* players (those in the room hear ``say``, a ``tell`` reaches one
player anywhere). The game decides nothing about connections: whoever runs it - a
play script (:class:`~aethyr_domain.game.session.ScriptRunner`), a server, a test - routes
each pair to the recipient's screen (:func:`by_recipient` groups them), and a pair for
a player it cannot reach is simply not shown. Verbs only address players in
``Manager.online``.

Admin verbs (``acreate``, ``acroom``, ``acexit``, ``adelete``, ``aput``, ``adesc``,
``aset``, ``deleteplayer``, and those of :mod:`~aethyr_domain.game.admin_verbs`) need the
player's admin flag. More player verbs live in :mod:`~aethyr_domain.game.player_verbs`
(doors, posture) and :mod:`~aethyr_domain.game.talk_verbs` (read-only: talking, ``who``,
the time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aethyr_domain import values
from aethyr_domain.directions import ABBREVIATIONS, DIRECTIONS, normalise_direction
from aethyr_domain.game.manager import GameError, Manager
from aethyr_domain.game_state import WorldObject
from aethyr_domain.object_classes import class_names, is_container, lookup

#: What a verb returns: ``(recipient player id, text)`` pairs, in display order.
Output = list[tuple[str, str]]
_Handler = Callable[["Actions", str, str], Output]


def by_recipient(output: Output) -> dict[str, list[str]]:
    """``output`` grouped by recipient: player id -> the lines (in order) they see."""
    grouped: dict[str, list[str]] = {}
    for recipient, text in output:
        grouped.setdefault(recipient, []).extend(text.splitlines() or [""])
    return grouped


class Actions:
    """The action layer over one :class:`Manager`.

    ``clock`` gives the current time for ``time`` and ``date`` (UTC by default).
    ``reply_to`` maps a player to who last told them something (for ``reply``):
    session state like presence, never recorded.
    """

    def __init__(self, manager: Manager, *, clock: Callable[[], datetime] | None = None) -> None:
        self.manager = manager
        self.world = manager.world
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.reply_to: dict[str, str] = {}

    # ------------------------------------------------------------ dispatch
    def perform(self, player_id: str, text: str) -> Output:
        """Run one line of player input; returns ``(recipient id, message)`` pairs."""
        line = " ".join(text.strip().split())
        if not line:
            return []
        if self.world.get(player_id) is None or not self.world.is_player(player_id):
            return [(player_id, "You are not in the game.")]
        verb, _, rest = line.partition(" ")
        verb = verb.lower()
        handler = _VERBS.get(verb)
        if verb in _MOVE_WORDS:
            handler, rest = Actions._go, verb
        if handler is None:
            return [(player_id, f"Unknown command: {verb}. Try 'help'.")]
        if verb in _ADMIN_VERBS and not self.manager.is_admin(player_id):
            return [(player_id, "Only admins may do that.")]
        try:
            return handler(self, player_id, rest)
        except GameError as exc:
            return [(player_id, str(exc))]

    # -------------------------------------------------------------- helpers
    def _name(self, object_id: str) -> str:
        obj = self.world.objects.get(object_id)
        return obj.name if obj is not None else object_id

    def _room(self, player_id: str) -> str:
        room = self.manager.room_of(player_id)
        if room is None:
            raise GameError("You are nowhere.")
        return room

    def _others_here(self, player_id: str) -> list[str]:
        room = self.manager.room_of(player_id)
        return [
            obj.id
            for obj in self.world.inventory(room or "")
            if obj.id != player_id
            and self.world.is_player(obj.id)
            and obj.id in self.manager.online
        ]

    def _tell_room(self, player_id: str, text: str) -> Output:
        return [(other, text) for other in self._others_here(player_id)]

    def _find_near(self, player_id: str, text: str) -> WorldObject:
        """Something the player holds or that is in the room."""
        obj = self.manager.find(text, [player_id, self._room(player_id)])
        if obj is None:
            raise GameError(f"There is no {text} here.")
        return obj

    def _find_any(self, player_id: str, text: str) -> WorldObject:
        """Admin lookup: here, held, worn, then any object by id."""
        if text.lower() == "here":
            return self.world.require(self._room(player_id))
        if text.lower() in ("me", "self"):
            return self.world.require(player_id)
        obj = self.manager.find(text, [player_id, self._room(player_id)]) or self.manager.find_worn(
            player_id, text
        )
        if obj is None:
            obj = self.world.get(text) or self.world.find_room(text)
        if obj is None:
            raise GameError(f"Cannot find {text}.")
        return obj

    def _held(self, player_id: str, text: str) -> WorldObject:
        obj = self.manager.find(text, [player_id])
        if obj is None:
            raise GameError(f"You are not holding {text}.")
        return obj

    # --------------------------------------------------------- read-only
    def _look(self, player_id: str, rest: str) -> Output:
        target = rest.removeprefix("at ").strip()
        if target:
            obj = self._find_near(player_id, target)
            desc = obj.attributes.get("long_desc") or obj.attributes.get("short_desc")
            lines = [
                f"{obj.name}: {desc}" if isinstance(desc, str) and desc else f"You see {obj.name}."
            ]
            if is_container(obj.attributes):
                inside = [o.name for o in self.world.inventory(obj.id)]
                lines.append("It contains: " + (", ".join(inside) if inside else "nothing") + ".")
            return [(player_id, "\n".join(lines))]
        room_id = self._room(player_id)
        room = self.world.require(room_id)
        state = self.world.rooms[room_id]
        lines = [f"[{room.name}]"]
        if state.description:
            lines.append(state.description)
        things = [
            o.name
            for o in self.world.inventory(room_id)
            if not self.world.is_player(o.id) and o.attributes.get("show_in_look") is not False
        ]
        people = [self._name(p) for p in self._others_here(player_id)]
        if things:
            lines.append("You see: " + ", ".join(things) + ".")
        if people:
            lines.append("Also here: " + ", ".join(people) + ".")
        exits = sorted(state.exits, key=DIRECTIONS.index)
        lines.append("Exits: " + (", ".join(exits) if exits else "none") + ".")
        return [(player_id, "\n".join(lines))]

    def _inventory(self, player_id: str, rest: str) -> Output:
        held = [o.name for o in self.world.inventory(player_id)]
        worn = [
            f"{self._name(item)} ({slot.replace('_', ' ')})"
            for slot, _layer, item in self.world.worn(player_id)
        ]
        lines = ["You are holding " + (", ".join(held) if held else "nothing") + "."]
        lines.append("You are wearing " + (", ".join(worn) if worn else "nothing") + ".")
        return [(player_id, "\n".join(lines))]

    def _help(self, player_id: str, rest: str) -> Output:
        verbs = sorted(v for v in _VERBS if v not in _ADMIN_VERBS)
        text = "Commands: " + ", ".join(verbs) + ", and the directions."
        if self.manager.is_admin(player_id):
            text += "\nAdmin: " + ", ".join(sorted(_ADMIN_VERBS))
        return [(player_id, text)]

    # ---------------------------------------------------------- movement
    def _go(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Go where?")]
        me = self._name(player_id)
        if self.world.require(player_id).attributes.get("posture") == "sitting":
            raise GameError("You will need to stand up first.")
        gait = self.world.require(player_id).attributes.get("gait")
        way = normalise_direction(rest) or rest
        if isinstance(gait, str) and gait:
            leaving, arriving = f"{me} {gait} {way}.", f"{me} {gait} in."
        else:
            leaving, arriving = f"{me} leaves.", f"{me} arrives."
        before = self._tell_room(player_id, leaving)
        self.manager.move_player(player_id, rest)
        after = self._tell_room(player_id, arriving)
        return before + after + self._look(player_id, "")

    # --------------------------------------------------------- inventory
    def _get(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Get what?")]
        what, sep, source = rest.partition(" from ")
        if sep:
            container = self._find_near(player_id, source)
            item = self.manager.find(what, [container.id])
            if item is None:
                raise GameError(f"There is no {what} in {container.name}.")
        else:
            item = self.manager.find(rest, [self._room(player_id)])
            if item is None:
                raise GameError(f"There is no {rest} here.")
        self.manager.take(player_id, item.id)
        me = self._name(player_id)
        suffix = f" from {self._name(container.id)}" if sep else ""
        others = self._tell_room(player_id, f"{me} takes {item.name}{suffix}.")
        return [(player_id, f"You take {item.name}{suffix}."), *others]

    def _drop(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Drop what?")]
        item = self._held(player_id, rest)
        self.manager.drop(player_id, item.id)
        others = self._tell_room(player_id, f"{self._name(player_id)} drops {item.name}.")
        return [(player_id, f"You drop {item.name}."), *others]

    def _put(self, player_id: str, rest: str) -> Output:
        what, sep, where = rest.partition(" in ")
        if not sep or not what or not where:
            return [(player_id, "Put what in what?")]
        item = self._held(player_id, what)
        container = self._find_near(player_id, where)
        self.manager.put(player_id, item.id, container.id)
        return [(player_id, f"You put {item.name} in {container.name}.")]

    def _give(self, player_id: str, rest: str) -> Output:
        what, sep, whom = rest.partition(" to ")
        if not sep or not what or not whom:
            return [(player_id, "Give what to whom?")]
        item = self._held(player_id, what)
        receiver = self.world.find_player_by_name(whom)
        if receiver is None or receiver.id not in self._others_here(player_id):
            raise GameError(f"{whom} is not here.")
        self.manager.give(player_id, item.id, receiver.id)
        me = self._name(player_id)
        return [
            (player_id, f"You give {item.name} to {receiver.name}."),
            (receiver.id, f"{me} gives you {item.name}."),
        ]

    # --------------------------------------------------------- equipment
    def _wear(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Wear what?")]
        words = rest.split()
        item = self.manager.find(rest, [player_id])
        position = None
        if item is None and len(words) > 1:
            for cut in range(len(words) - 1, 0, -1):
                item = self.manager.find(" ".join(words[:cut]), [player_id])
                if item is not None:
                    position = " ".join(words[cut:])
                    break
        if item is None:
            raise GameError(f"You are not holding {rest}.")
        slot = self.manager.wear(player_id, item.id, position)
        return [(player_id, f"You put on {item.name} ({slot.replace('_', ' ')}).")]

    def _remove(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Remove what?")]
        item = self.manager.find_worn(player_id, rest)
        if item is None:
            raise GameError(f"You are not wearing {rest}.")
        if self.world.slot_of(player_id, item.id) in ("left_wield", "right_wield", "dual_wield"):
            raise GameError(f"You will need to unwield {item.name} first.")
        self.manager.remove(player_id, item.id)
        return [(player_id, f"You remove {item.name}.")]

    def _wield(self, player_id: str, rest: str) -> Output:
        words = rest.split()
        if not words:
            return [(player_id, "Wield what?")]
        hand = None
        if len(words) > 1 and words[-1].lower() in ("left", "right"):
            hand = words[-1].lower()
            words = words[:-1]
        item = self._held(player_id, " ".join(words))
        slot = self.manager.wield(player_id, item.id, hand)
        side = slot.removesuffix("_wield")
        return [(player_id, f"You grip {item.name} firmly in your {side} hand.")]

    def _unwield(self, player_id: str, rest: str) -> Output:
        wielded = [
            (slot, item)
            for slot, _layer, item in self.world.worn(player_id)
            if slot in ("left_wield", "right_wield", "dual_wield")
        ]
        arg = rest.strip().lower()
        if arg in ("left", "right", "dual"):
            wielded = [(s, i) for s, i in wielded if s == f"{arg}_wield"]
        elif arg:
            wielded = [(s, i) for s, i in wielded if self._matches_id(i, arg)]
        if not wielded:
            raise GameError(
                "You are not wielding that." if arg else "You are not wielding anything."
            )
        _slot, item_id = wielded[0]
        self.manager.remove(player_id, item_id)
        return [(player_id, f"You are no longer wielding {self._name(item_id)}.")]

    def _matches_id(self, item_id: str, text: str) -> bool:
        obj = self.world.get(item_id)
        return obj is not None and self.manager.find_worn(obj.container or "", text) is obj

    # ----------------------------------------------------------- account
    def _set(self, player_id: str, rest: str) -> Output:
        setting, _, value = rest.partition(" ")
        if setting.lower() in ("desc", "description"):
            return player_verbs.set_desc(self, player_id, value.strip())
        if setting.lower() != "password":
            return [(player_id, "You can set: password, desc.")]
        words = value.split()
        if len(words) == 2:
            if not self.manager.check_password(player_id, words[0]):
                raise GameError("That is not your current password.")
            new = words[1]
        elif len(words) == 1:
            new = words[0]
        else:
            return [(player_id, "Usage: set password [<old password>] <new password>")]
        self.manager.set_password(player_id, new, actor=player_id)
        return [(player_id, "Your password has been changed.")]

    def _quit(self, player_id: str, rest: str) -> Output:
        out = self._tell_room(player_id, f"{self._name(player_id)} leaves the game.")
        self.manager.drop_player(player_id)
        return [(player_id, "Goodbye!"), *out]

    def _delete(self, player_id: str, rest: str) -> Output:
        words = rest.split()
        if words[:2] != ["me", "please"]:
            return [(player_id, "To delete your character, type: delete me please")]
        if len(words) > 2 and not self.manager.check_password(player_id, words[2]):
            raise GameError("That is not your password.")
        self.manager.delete_player(player_id, actor=player_id)
        return [(player_id, "Your character has been deleted. Goodbye.")]

    # ------------------------------------------------------------- admin
    def _acreate(self, player_id: str, rest: str) -> Output:
        class_name, _, name = rest.partition(" ")
        klass = lookup(class_name) if class_name else None
        if klass is None:
            if class_name.lower() == "player":
                raise GameError("Use the character creation to make players.")
            raise GameError("acreate <class> [name]; classes: " + ", ".join(class_names()))
        obj = self.manager.create_object(
            klass, self._room(player_id), name=name.strip() or None, actor=player_id
        )
        return [(player_id, f"Created {obj.name} ({klass.name}, id {obj.id}).")]

    def _acroom(self, player_id: str, rest: str) -> Output:
        direction, _, name = rest.partition(" ")
        canonical = normalise_direction(direction) if direction else None
        if canonical is None or not name.strip():
            return [(player_id, "Usage: acroom <direction> <name>")]
        here = self._room(player_id)
        if canonical in self.world.rooms[here].exits:
            raise GameError(f"There is already an exit {canonical}.")
        room = self.manager.create_room(name.strip(), actor=player_id)
        self.manager.link_rooms(here, canonical, room.id, actor=player_id)
        return [(player_id, f"Created {room.name} ({room.id}) to the {canonical}.")]

    def _acexit(self, player_id: str, rest: str) -> Output:
        direction, _, target = rest.partition(" ")
        if not direction or not target.strip():
            return [(player_id, "Usage: acexit <direction> <room>")]
        room = self.world.find_room(target.strip())
        if room is None:
            raise GameError(f"There is no room {target.strip()}.")
        canonical = self.manager.add_exit(
            self._room(player_id), direction, room.id, actor=player_id
        )
        return [(player_id, f"Created an exit {canonical} to {room.name}.")]

    def _adelete(self, player_id: str, rest: str) -> Output:
        if not rest:
            return [(player_id, "Delete what?")]
        obj = self._find_any(player_id, rest)
        if self.world.is_player(obj.id):
            raise GameError("Use deleteplayer to delete a player.")
        if obj.id == self.manager.room_of(player_id):
            raise GameError("You cannot delete the room you are standing in.")
        self.manager.delete_object(obj.id, actor=player_id)
        return [(player_id, f"{obj.name} is gone.")]

    def _aput(self, player_id: str, rest: str) -> Output:
        what, sep, where = rest.partition(" in ")
        if not sep or not what or not where:
            return [(player_id, "Usage: aput <object> in <container|here>")]
        obj = self._find_any(player_id, what)
        target = self._find_any(player_id, where)
        self.manager.move_object(obj.id, target.id, actor=player_id)
        return [(player_id, f"Moved {obj.name} into {target.name}.")]

    def _adesc(self, player_id: str, rest: str) -> Output:
        what, _, text = rest.partition(" ")
        if not what or not text.strip():
            return [(player_id, "Usage: adesc <object|here> <description>")]
        obj = self._find_any(player_id, what)
        if self.world.is_room(obj.id):
            self.manager.set_room_description(obj.id, text.strip(), actor=player_id)
        else:
            _check_value("That description", text.strip())
            self.manager.update_attribute(obj.id, "short_desc", text.strip(), actor=player_id)
        return [(player_id, f"Description of {obj.name} set.")]

    def _aset(self, player_id: str, rest: str) -> Output:
        words = rest.split(" ", 2)
        if len(words) < 3:
            return [(player_id, "Usage: aset <object> <attribute> <value>")]
        obj = self._find_any(player_id, words[0])
        key = _ASET_ALIASES.get(words[1].lower(), words[1].lstrip("@"))
        subject = f"Cannot set {key}: the value"
        value = _coerce(words[2], subject)
        _check_value(subject, value)
        self.manager.update_attribute(obj.id, key, value, actor=player_id)
        return [(player_id, f"Set {key} of {obj.name}.")]

    def _deleteplayer(self, player_id: str, rest: str) -> Output:
        target = self.world.find_player_by_name(rest) if rest else None
        if target is None:
            raise GameError(f"There is no player named {rest}.")
        if target.id == player_id:
            raise GameError("Use 'delete me please' to delete yourself.")
        if target.id in self.manager.online:
            raise GameError(f"{target.name} is playing; they must quit first.")
        self.manager.delete_player(target.id, actor=player_id)
        return [(player_id, f"{target.name} has been deleted.")]


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
            _check_value(subject, values.MAX_INT + 1)
        return int(value)
    if _DECIMAL.fullmatch(value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _check_value(subject: str, value: Any) -> None:
    """Refuse, with a message for the player, a value no attribute may hold
    (:mod:`aethyr_domain.values`); nothing is written."""
    problem = values.problem(value)
    if problem is not None:
        raise GameError(f"{subject} {problem}.")


from aethyr_domain.game import building_verbs, player_verbs, talk_verbs  # noqa: E402

_MOVE_WORDS = frozenset(DIRECTIONS) | frozenset(ABBREVIATIONS)

_VERBS: dict[str, _Handler] = {
    "look": Actions._look,
    "l": Actions._look,
    "inventory": Actions._inventory,
    "inv": Actions._inventory,
    "i": Actions._inventory,
    "help": Actions._help,
    "go": Actions._go,
    "move": Actions._go,
    "get": Actions._get,
    "take": Actions._get,
    "grab": Actions._get,
    "drop": Actions._drop,
    "put": Actions._put,
    "give": Actions._give,
    "wear": Actions._wear,
    "remove": Actions._remove,
    "wield": Actions._wield,
    "unwield": Actions._unwield,
    "set": Actions._set,
    "quit": Actions._quit,
    "delete": Actions._delete,
    "acreate": Actions._acreate,
    "acroom": Actions._acroom,
    "acexit": Actions._acexit,
    "adelete": Actions._adelete,
    "aput": Actions._aput,
    "adesc": Actions._adesc,
    "aset": Actions._aset,
    "deleteplayer": Actions._deleteplayer,
    # doors and posture (player_verbs)
    "open": player_verbs.open_,
    "close": player_verbs.close,
    "shut": player_verbs.close,
    "lock": player_verbs.lock,
    "unlock": player_verbs.unlock,
    "sit": player_verbs.sit,
    "stand": player_verbs.stand,
    "pose": player_verbs.pose,
    "gait": player_verbs.gait,
    # read-only (talk_verbs)
    "who": talk_verbs.who,
    "say": talk_verbs.say,
    "sayto": talk_verbs.sayto,
    "whisper": talk_verbs.whisper,
    "tell": talk_verbs.tell,
    "reply": talk_verbs.reply,
    "emote": talk_verbs.emote,
    "time": talk_verbs.time,
    "date": talk_verbs.date,
    # building (building_verbs)
    "acprop": building_verbs.acprop,
    "acarea": building_verbs.acarea,
    "acdoor": building_verbs.acdoor,
    "terrain": building_verbs.terrain,
    "ahide": building_verbs.ahide,
    "ashow": building_verbs.ashow,
    "acomment": building_verbs.acomment,
    "acomm": building_verbs.acomment,
    "ainfo": building_verbs.ainfo,
}

_ADMIN_VERBS = frozenset(
    {
        "acreate",
        "acroom",
        "acexit",
        "adelete",
        "aput",
        "adesc",
        "aset",
        "deleteplayer",
        "acprop",
        "acarea",
        "acdoor",
        "terrain",
        "ahide",
        "ashow",
        "acomment",
        "acomm",
        "ainfo",
    }
)
