"""The ``Player`` aggregate: a game object with credentials and an admin flag.

A player stream starts with ``GameObjectCreated`` (generic ``"player"``) and
``PlayerCreated``, as in the original. Extra state:

* ``password_hash``: encoded salted scrypt hash, or a legacy ``md5$`` digest
  for an imported player until its next successful password check
  (see :mod:`aethyr_domain.passwords`). Never the password.
* ``admin``: admin rights.

A player is a character (it can wear and wield) and may only ever be in a
room, or nowhere.
"""

from __future__ import annotations

from typing import Any

from aethyr_domain.events import (
    GameObjectCreated,
    PlayerAdminStatusUpdated,
    PlayerCreated,
    PlayerPasswordUpdated,
)
from aethyr_domain.game_object import GameObject

#: The ``generic`` of every player (hard-coded in the original too).
PLAYER_GENERIC = "player"


class Player(GameObject):
    """A player character."""

    def __init__(self) -> None:
        super().__init__()
        self.password_hash: str = ""
        self.admin: bool = False

    @classmethod
    def register(cls, *, id: str, name: str, password_hash: str, admin: bool, actor: str) -> Player:
        """Start a player's stream: ``GameObjectCreated`` then ``PlayerCreated``."""
        player: Player = cls._create(
            GameObjectCreated,
            id=id,
            name=name,
            generic=PLAYER_GENERIC,
            container_id=None,
            attributes={},
            actor=actor,
        )
        player.trigger_event(PlayerCreated, password_hash=password_hash, admin=admin, actor=actor)
        return player

    @property
    def is_character(self) -> bool:
        return True

    @property
    def kind(self) -> str:
        return "player"

    def set_password_hash(self, password_hash: str, actor: str) -> None:
        """Replace the stored password hash."""
        self.trigger_event(PlayerPasswordUpdated, password_hash=password_hash, actor=actor)

    def set_admin(self, admin: bool, actor: str) -> None:
        """Grant or revoke admin rights."""
        self.trigger_event(PlayerAdminStatusUpdated, admin=admin, actor=actor)

    def __repr__(self) -> str:
        # Keep the hash out of reprs (and so out of logs and error messages).
        attrs: dict[str, Any] = {k.lstrip("_"): v for k, v in vars(self).items()}
        attrs.pop("pending_events", None)
        attrs["password_hash"] = "<hidden>"  # noqa: S105 (a placeholder)
        return f"Player({', '.join(f'{k}={v!r}' for k, v in attrs.items())})"
