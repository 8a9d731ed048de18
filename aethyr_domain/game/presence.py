"""Presence: who is in the game now (session state, never recorded)."""

from __future__ import annotations

from aethyr_domain import commands
from aethyr_domain.game.lifecycle import Lifecycle


class Presence(Lifecycle):
    """Players entering and leaving the game (``Manager.online``)."""

    def connect_player(self, player_id: str) -> None:
        """A player (back) in the game; one with no room is put in the start room."""
        player = self._player(player_id)
        if player.container is None:
            start = self.ensure_start_room().id
            self._change(
                commands.UpdateGameObjectContainer, player_id, id=player_id, container_id=start
            )
        self.online.add(player_id)

    def drop_player(self, player_id: str) -> None:
        """The player leaves the game (``quit``). Presence is session state: no event."""
        self.online.discard(player_id)
