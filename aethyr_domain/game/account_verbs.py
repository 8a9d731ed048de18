"""The verbs about one's own character: ``set password``, ``set desc``, ``quit`` and
``delete me please``."""

from __future__ import annotations

from aethyr_domain.game import player_verbs
from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext


def set_(actions: VerbContext, player_id: str, rest: str) -> Output:
    setting, _, value = rest.partition(" ")
    if setting.lower() in ("desc", "description"):
        return player_verbs.set_desc(actions, player_id, value.strip())
    if setting.lower() != "password":
        return [(player_id, "You can set: password, desc.")]
    words = value.split()
    if len(words) == 2:
        if not actions.manager.check_password(player_id, words[0]):
            raise GameError("That is not your current password.")
        new = words[1]
    elif len(words) == 1:
        new = words[0]
    else:
        return [(player_id, "Usage: set password [<old password>] <new password>")]
    actions.manager.set_password(player_id, new, actor=player_id)
    return [(player_id, "Your password has been changed.")]


def quit_(actions: VerbContext, player_id: str, rest: str) -> Output:
    out = actions.tell_room(player_id, f"{actions.name(player_id)} leaves the game.")
    actions.manager.drop_player(player_id)
    return [(player_id, "Goodbye!"), *out]


def delete(actions: VerbContext, player_id: str, rest: str) -> Output:
    words = rest.split()
    if words[:2] != ["me", "please"]:
        return [(player_id, "To delete your character, type: delete me please")]
    if len(words) > 2 and not actions.manager.check_password(player_id, words[2]):
        raise GameError("That is not your password.")
    actions.manager.delete_player(player_id, actor=player_id)
    return [(player_id, "Your character has been deleted. Goodbye.")]
