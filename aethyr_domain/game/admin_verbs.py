"""The admin's verbs about players (not building): ``deleteplayer``.

Building verbs (``acreate``, ``aset``, ...) are in :mod:`.building_verbs`; both need
the player's admin flag (``Actions`` checks it).
"""

from __future__ import annotations

from aethyr_domain.game.manager import GameError
from aethyr_domain.game.verb_context import Output, VerbContext


def deleteplayer(actions: VerbContext, player_id: str, rest: str) -> Output:
    target = actions.world.find_player_by_name(rest) if rest else None
    if target is None:
        raise GameError(f"There is no player named {rest}.")
    if target.id == player_id:
        raise GameError("Use 'delete me please' to delete yourself.")
    if target.id in actions.manager.online:
        raise GameError(f"{target.name} is playing; they must quit first.")
    actions.manager.delete_player(target.id, actor=player_id)
    return [(player_id, f"{target.name} has been deleted.")]
