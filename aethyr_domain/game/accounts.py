"""Accounts: passwords (hashing, checking, upgrading legacy hashes) and the admin flag.

A password is hashed before its command enters the outbox, so no plaintext password
is ever on disk; the hashes are the domain's scrypt encoding
(:mod:`aethyr_domain.passwords`).
"""

from __future__ import annotations

from aethyr_domain import commands, passwords, validation
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.game.manager_base import SYSTEM, GameError, ManagerBase


class Accounts(ManagerBase):
    """Passwords and admin rights of players."""

    def set_password(self, player_id: str, password: str, *, actor: str) -> None:
        """Change a player's password (emits ``UpdatePlayerPassword``)."""
        self._player(player_id)
        hashed = hash_checked(password)  # no plaintext password in the outbox
        self._change(commands.UpdatePlayerPassword, actor, id=player_id, password_hash=hashed)

    def check_password(self, player_id: str, password: str) -> bool:
        """True if ``password`` is the player's password (checked against the live hash)."""
        state = self.state.players.get(player_id)
        return state is not None and verify_password(password, state.password_hash)

    def password_hash(self, player_id: str) -> str:
        """The player's stored hash ('' if none): for checking a password off the game
        thread (:func:`verify_password`), then :meth:`upgrade_password`."""
        state = self.state.players.get(player_id)
        return state.password_hash if state is not None else ""

    def upgrade_password(self, player_id: str, password: str, checked_hash: str) -> bool:
        """After a successful login with ``password`` against ``checked_hash``: re-hash
        a legacy MD5 (or weaker scrypt) hash with the current policy (one
        ``UpdatePlayerPassword``, decided and recorded like any command). Returns True
        if it upgraded. Nothing happens if the hash changed meanwhile."""
        if self.password_hash(player_id) != checked_hash:
            return False
        if not passwords.needs_upgrade(checked_hash):
            return False
        hashed = hash_password(password)
        self._change(commands.UpdatePlayerPassword, player_id, id=player_id, password_hash=hashed)
        return True

    def set_admin(self, player_id: str, admin: bool, *, actor: str = SYSTEM) -> None:
        """Grant or revoke admin rights (emits ``UpdatePlayerAdminStatus``)."""
        self._player(player_id)
        self._change(commands.UpdatePlayerAdminStatus, actor, id=player_id, admin=admin)

    def is_admin(self, player_id: str) -> bool:
        state = self.state.players.get(player_id)
        return state is not None and state.admin


def hash_checked(password: str) -> str:
    """Check a plaintext password against the command rules, then hash it."""
    try:
        validation.password(password)
    except InvalidCommandError as exc:
        raise GameError(str(exc)) from None
    return hash_password(password)


def hash_password(password: str) -> str:
    """The live world's salted hash of ``password`` (the domain's scrypt encoding)."""
    return passwords.hash_password(password)


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches a hash made by :func:`hash_password`."""
    return bool(encoded) and passwords.verify_password(password, encoded)
