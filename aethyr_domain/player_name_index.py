"""The player-name index: one tiny aggregate per (lower-cased) player name.

Player names are unique regardless of case. The check is atomic because
creating a player also creates (or reclaims) the index aggregate for its name,
in the same ``save()``: its id is derived from the name, so two concurrent
creations of "Bob" and "bob" both try to write version 1 of the same
aggregate, and the recorder lets only one succeed (the loser's handler retries,
sees the name taken, and refuses).

The id is ``name-index:<uuid5>`` where the uuid5 is of ``/aethyr/players/<name
lower-cased>`` in the URL namespace; object ids may not use the ``name-index:``
prefix, so no game object can collide with it.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import BaseAggregate

from aethyr_domain.events import (
    PlayerNameClaimed,
    PlayerNameReclaimed,
    PlayerNameReleased,
    WorldEvent,
    WorldSnapshot,
)

INDEX_ID_PREFIX = "name-index:"


def name_index_id(name: str) -> str:
    """The id of the index aggregate for ``name`` (case-insensitive)."""
    return INDEX_ID_PREFIX + str(uuid5(NAMESPACE_URL, f"/aethyr/players/{name.lower()}"))


class PlayerNameIndex(BaseAggregate[str]):
    """Which player (if any) holds one name."""

    Event = WorldEvent
    Created = PlayerNameClaimed
    Snapshot = WorldSnapshot

    def __init__(self) -> None:
        self.name: str = ""
        self.player_id: str | None = None

    @classmethod
    def claim(cls, *, name: str, player_id: str, actor: str) -> PlayerNameIndex:
        """Start the index for a never-used name."""
        return cls._create(
            PlayerNameClaimed,
            id=name_index_id(name),
            name=name.lower(),
            player_id=player_id,
            actor=actor,
        )

    def reclaim(self, player_id: str, actor: str) -> None:
        """Give a released name to another player."""
        self.trigger_event(PlayerNameReclaimed, player_id=player_id, actor=actor)

    def release(self, actor: str) -> None:
        """Free the name (its player was deleted)."""
        assert self.player_id is not None
        self.trigger_event(PlayerNameReleased, player_id=self.player_id, actor=actor)
