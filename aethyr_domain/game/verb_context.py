"""What every verb gets: the game, the lookups verbs share, and what a verb returns.

A verb is a function ``(context, player id, rest of the line) -> Output``; the verbs
live in modules by concern (Evennia-style command sets): :mod:`.player_verbs`
(looking, moving, doors, posture), :mod:`.item_verbs` (carrying and equipment),
:mod:`.account_verbs` (password, description, quitting), :mod:`.talk_verbs`,
:mod:`.building_verbs` (the builder's ``a*`` verbs) and :mod:`.admin_verbs`.
:class:`~aethyr_domain.game.actions.Actions` is the :class:`VerbContext` that parses
a line and picks the verb.

What players see (:data:`Output`): every verb returns a list of ``(recipient player id,
text)`` pairs, in the order they are to be shown: the acting player's own lines and
the lines for *other* players. A refusal is a :class:`~aethyr_domain.game.manager.GameError`
(its text is the player's message); nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aethyr_domain import values
from aethyr_domain.game.manager import GameError, Manager
from aethyr_domain.game_state import WorldObject

#: What a verb returns: ``(recipient player id, text)`` pairs, in display order.
Output = list[tuple[str, str]]


def by_recipient(output: Output) -> dict[str, list[str]]:
    """``output`` grouped by recipient: player id -> the lines (in order) they see."""
    grouped: dict[str, list[str]] = {}
    for recipient, text in output:
        grouped.setdefault(recipient, []).extend(text.splitlines() or [""])
    return grouped


def check_value(subject: str, value: Any) -> None:
    """Refuse, with a message for the player, a value no attribute may hold
    (:mod:`aethyr_domain.values`); nothing is written."""
    problem = values.problem(value)
    if problem is not None:
        raise GameError(f"{subject} {problem}.")


class VerbContext:
    """What every verb works with: the :class:`Manager`, its game state, the clock
    and ``reply_to``, and the lookups verbs share (names, the room, who is here,
    finding things). :class:`~aethyr_domain.game.actions.Actions` is one.

    ``clock`` gives the current time for ``time`` and ``date`` (UTC by default).
    ``reply_to`` maps a player to who last told them something (for ``reply``):
    session state like presence, never recorded.
    """

    def __init__(self, manager: Manager, *, clock: Callable[[], datetime] | None = None) -> None:
        self.manager = manager
        self.world = manager.state
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.reply_to: dict[str, str] = {}

    def name(self, object_id: str) -> str:
        obj = self.world.objects.get(object_id)
        return obj.name if obj is not None else object_id

    def room(self, player_id: str) -> str:
        room = self.manager.room_of(player_id)
        if room is None:
            raise GameError("You are nowhere.")
        return room

    def others_here(self, player_id: str) -> list[str]:
        room = self.manager.room_of(player_id)
        return [
            obj.id
            for obj in self.world.inventory(room or "")
            if obj.id != player_id
            and self.world.is_player(obj.id)
            and obj.id in self.manager.online
        ]

    def tell_room(self, player_id: str, text: str) -> Output:
        return [(other, text) for other in self.others_here(player_id)]

    def find_near(self, player_id: str, text: str) -> WorldObject:
        """Something the player holds or that is in the room."""
        obj = self.manager.find(text, [player_id, self.room(player_id)])
        if obj is None:
            raise GameError(f"There is no {text} here.")
        return obj

    def find_any(self, player_id: str, text: str) -> WorldObject:
        """Admin lookup: here, held, worn, then any object by id."""
        if text.lower() == "here":
            return self.world.require(self.room(player_id))
        if text.lower() in ("me", "self"):
            return self.world.require(player_id)
        obj = self.manager.find(text, [player_id, self.room(player_id)]) or self.manager.find_worn(
            player_id, text
        )
        if obj is None:
            obj = self.world.get(text) or self.world.find_room(text)
        if obj is None:
            raise GameError(f"Cannot find {text}.")
        return obj

    def held(self, player_id: str, text: str) -> WorldObject:
        obj = self.manager.find(text, [player_id])
        if obj is None:
            raise GameError(f"You are not holding {text}.")
        return obj
