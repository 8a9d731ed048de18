"""The read-only verbs: talking, emoting, who is playing, the time.

None of these changes the world or records anything: they only produce text, for the
speaker and for the other players who hear it, as the ``(recipient id, text)`` pairs
every verb returns (:data:`~aethyr_domain.game.verb_context.Output`). Who hears what:

* ``say`` and ``emote``: everyone online in the speaker's room;
* ``sayto``: everyone in the room (the addressee sees "to you");
* ``whisper``: the addressee, who must be in the room; the others only see that
  something was whispered;
* ``tell`` and ``reply``: one online player anywhere. ``reply`` answers whoever last
  told you something (session state kept by :class:`~aethyr_domain.game.verb_context.VerbContext`,
  like presence: it is not world state and is not recorded);
* ``who``, ``time``, ``date``: the player alone.
"""

from __future__ import annotations

from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext


def _online_player(actions: VerbContext, name: str) -> str:
    target = actions.world.find_player_by_name(name)
    if target is None:
        raise GameError(f"There is no player named {name}.")
    if target.id not in actions.manager.online:
        raise GameError(f"{target.name} is not playing.")
    return target.id


def _split_target(rest: str, usage: str) -> tuple[str, str]:
    name, _, text = rest.partition(" ")
    if not name or not text.strip():
        raise GameError(usage)
    return name, text.strip()


def say(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``say <text>``: everyone online in the room hears it."""
    if not rest:
        return [(player_id, "Say what?")]
    me = actions.name(player_id)
    others = actions.tell_room(player_id, f"{me} says, '{rest}'")
    return [(player_id, f"You say, '{rest}'"), *others]


def sayto(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``sayto <player> <text>``: said aloud to one player in the room."""
    return _to_one_here(
        actions,
        player_id,
        rest,
        usage="Usage: sayto <player> <text>",
        to_self="Talking to yourself again?",
        lines=(
            "You say to {them}, '{text}'",
            "{me} says to you, '{text}'",
            "{me} says to {them}, '{text}'",
        ),
    )


def whisper(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``whisper <player> <text>``: only the addressee (in the room) hears the words."""
    return _to_one_here(
        actions,
        player_id,
        rest,
        usage="Usage: whisper <player> <text>",
        to_self="You whisper to yourself.",
        lines=(
            "You whisper to {them}, '{text}'",
            "{me} whispers to you, '{text}'",
            "{me} whispers something to {them}.",
        ),
    )


def _to_one_here(
    actions: VerbContext,
    player_id: str,
    rest: str,
    *,
    usage: str,
    to_self: str,
    lines: tuple[str, str, str],
) -> Output:
    """Words addressed to one player in the same room: what the speaker, the addressee
    and everyone else there see (``lines``, formatted with ``me``, ``them``, ``text``)."""
    name, text = _split_target(rest, usage)
    target = _online_player(actions, name)
    if target == player_id:
        raise GameError(to_self)
    if target not in actions.others_here(player_id):
        raise GameError(f"{actions.name(target)} is not here.")
    words = {"me": actions.name(player_id), "them": actions.name(target), "text": text}
    speaker, addressee, bystanders = (line.format(**words) for line in lines)
    out: Output = [(player_id, speaker), (target, addressee)]
    out += [(other, bystanders) for other in actions.others_here(player_id) if other != target]
    return out


def tell(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``tell <player> <text>``: one online player, wherever they are."""
    name, text = _split_target(rest, "Usage: tell <player> <text>")
    return _tell(actions, player_id, _online_player(actions, name), text)


def reply(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``reply <text>``: tell the player who last told you something."""
    if not rest:
        return [(player_id, "Reply what?")]
    target = actions.reply_to.get(player_id)
    if target is None:
        raise GameError("There is no one to reply to.")
    if target not in actions.manager.online or actions.world.get(target) is None:
        raise GameError(f"{actions.name(target)} is not playing.")
    return _tell(actions, player_id, target, rest)


def _tell(actions: VerbContext, player_id: str, target: str, text: str) -> Output:
    if target == player_id:
        raise GameError("Talking to yourself again?")
    actions.reply_to[target] = player_id
    me, them = actions.name(player_id), actions.name(target)
    return [(player_id, f"You tell {them}, '{text}'"), (target, f"{me} tells you, '{text}'")]


def emote(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``emote <text>``: "<name> <text>" to everyone in the room, the player included."""
    if not rest:
        return [(player_id, "Emote what?")]
    line = f"{actions.name(player_id)} {rest}"
    return [(player_id, line), *actions.tell_room(player_id, line)]


def who(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``who``: the players online, by name."""
    names = sorted(
        actions.name(pid) for pid in actions.manager.online if actions.world.get(pid) is not None
    )
    count = f"{len(names)} player{'s' if len(names) != 1 else ''} online"
    return [(player_id, f"{count}: " + ", ".join(names) + ".")]


def time(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``time``: the server's time (UTC)."""
    return [(player_id, actions.clock().strftime("It is %H:%M UTC."))]


def date(actions: VerbContext, player_id: str, rest: str) -> Output:
    """``date``: the server's date (UTC)."""
    now = actions.clock()
    return [(player_id, f"It is {now:%A}, {now.day} {now:%B %Y}.")]
