"""Game actions: a player's command text in, messages to players out.

:class:`Actions` parses one line the way the original input handlers did (verbs,
aliases and argument syntax of ``../docs/actions.md``), picks the verb, which calls the
:class:`~aethyr_domain.game.manager.Manager`, and returns what each player sees as
``(player id, text)`` pairs (:data:`~aethyr_domain.game.verb_context.Output`). A
refused action (unknown thing, a rule, bad input) is a message to the player, never an
exception: :meth:`Actions.perform` turns every
:class:`~aethyr_domain.game.manager.GameError` into text.

The game decides nothing about connections: whoever runs it - a play script
(:class:`~aethyr_domain.game.session.ScriptRunner`), a server, a test - routes each
pair to the recipient's screen (:func:`by_recipient` groups them), and a pair for a
player it cannot reach is simply not shown. Verbs only address players in
``Manager.online``.

The verbs live in modules by concern (Evennia-style command sets), each a table
below: :mod:`.player_verbs` (looking, moving, doors, posture), :mod:`.item_verbs`
(carrying and equipment), :mod:`.account_verbs` (password, description, quitting),
:mod:`.talk_verbs` (read-only: talking, ``who``, the time), and the admin's:
:mod:`.building_verbs` (``acreate``, ``acroom``, ``acexit``, ``adelete``, ``aput``,
``adesc``, ``aset``, props, areas, doors, terrain, visibility, notes) and
:mod:`.admin_verbs` (``deleteplayer``). Admin verbs need the player's admin flag.
"""

from __future__ import annotations

from collections.abc import Callable

from aethyr_domain.directions import ABBREVIATIONS, DIRECTIONS
from aethyr_domain.game import (
    account_verbs,
    admin_verbs,
    building_verbs,
    item_verbs,
    player_verbs,
    talk_verbs,
)
from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext, by_recipient

__all__ = ["Actions", "Output", "by_recipient"]

_Handler = Callable[[VerbContext, str, str], Output]


class Actions(VerbContext):
    """The action layer over one :class:`~aethyr_domain.game.manager.Manager`: a
    :class:`~aethyr_domain.game.verb_context.VerbContext` that dispatches lines."""

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
            handler, rest = player_verbs.go, verb
        if handler is None:
            return [(player_id, f"Unknown command: {verb}. Try 'help'.")]
        if verb in _ADMIN_VERBS and not self.manager.is_admin(player_id):
            return [(player_id, "Only admins may do that.")]
        try:
            return handler(self, player_id, rest)
        except GameError as exc:
            return [(player_id, str(exc))]


def help_(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``help``: the verbs this player may use."""
    verbs = sorted(v for v in _VERBS if v not in _ADMIN_VERBS)
    text = "Commands: " + ", ".join(verbs) + ", and the directions."
    if actions.manager.is_admin(player_id):
        text += "\nAdmin: " + ", ".join(sorted(_ADMIN_VERBS))
    return [(player_id, text)]


_MOVE_WORDS = frozenset(DIRECTIONS) | frozenset(ABBREVIATIONS)

#: Looking, moving, doors and posture.
PLAYER_VERBS: dict[str, _Handler] = {
    "look": player_verbs.look,
    "l": player_verbs.look,
    "inventory": player_verbs.inventory,
    "inv": player_verbs.inventory,
    "i": player_verbs.inventory,
    "help": help_,
    "go": player_verbs.go,
    "move": player_verbs.go,
    "open": player_verbs.open_,
    "close": player_verbs.close,
    "shut": player_verbs.close,
    "lock": player_verbs.lock,
    "unlock": player_verbs.unlock,
    "sit": player_verbs.sit,
    "stand": player_verbs.stand,
    "pose": player_verbs.pose,
    "gait": player_verbs.gait,
}

#: Carrying and equipment.
ITEM_VERBS: dict[str, _Handler] = {
    "get": item_verbs.get,
    "take": item_verbs.get,
    "grab": item_verbs.get,
    "drop": item_verbs.drop,
    "put": item_verbs.put,
    "give": item_verbs.give,
    "wear": item_verbs.wear,
    "remove": item_verbs.remove,
    "wield": item_verbs.wield,
    "unwield": item_verbs.unwield,
}

#: One's own character.
ACCOUNT_VERBS: dict[str, _Handler] = {
    "set": account_verbs.set_,
    "quit": account_verbs.quit_,
    "delete": account_verbs.delete,
}

#: Read-only: talking, who, the time.
TALK_VERBS: dict[str, _Handler] = {
    "who": talk_verbs.who,
    "say": talk_verbs.say,
    "sayto": talk_verbs.sayto,
    "whisper": talk_verbs.whisper,
    "tell": talk_verbs.tell,
    "reply": talk_verbs.reply,
    "emote": talk_verbs.emote,
    "time": talk_verbs.time,
    "date": talk_verbs.date,
}

#: Building the world (admins only).
BUILDING_VERBS: dict[str, _Handler] = {
    "acreate": building_verbs.acreate,
    "acroom": building_verbs.acroom,
    "acexit": building_verbs.acexit,
    "adelete": building_verbs.adelete,
    "aput": building_verbs.aput,
    "adesc": building_verbs.adesc,
    "aset": building_verbs.aset,
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

#: About players (admins only).
ADMIN_VERBS: dict[str, _Handler] = {
    "deleteplayer": admin_verbs.deleteplayer,
}

_VERBS: dict[str, _Handler] = {
    **PLAYER_VERBS,
    **ITEM_VERBS,
    **ACCOUNT_VERBS,
    **TALK_VERBS,
    **BUILDING_VERBS,
    **ADMIN_VERBS,
}

_ADMIN_VERBS = frozenset(BUILDING_VERBS) | frozenset(ADMIN_VERBS)
