"""The commands the world accepts: immutable, validated requests for change.

Each class keeps the name and fields of the original Aethyr command
(``es/commands.rb``), with ids as strings. Build one and pass it to
:meth:`aethyr_domain.application.World.handle`::

    world.handle(CreateRoom("start-room", "The Square", "A quiet square."))

Construction validates every field (see :mod:`aethyr_domain.validation` for the
limits) and raises :class:`~aethyr_domain.errors.InvalidCommandError` on bad input,
so a command object that exists is well formed. Values are normalised on the
way in: directions become canonical (``"n"`` -> ``"north"``), slot names
become canonical (``"Left Wield"`` -> ``"left_wield"``), positions become
tuples and attribute values become read-only.

Every command also takes a keyword-only ``actor``: the id of the player or
admin who caused it, or ``"system"`` (the default). It is recorded in every
event the command produces.

Passwords appear in commands only, in plaintext, and are hidden from
``repr()``; the handlers turn them into salted scrypt hashes before any event
is built. ``CreatePlayer`` and ``UpdatePlayerPassword`` also accept an already
made hash (keyword-only ``password_hash=``) instead, which the game uses so that
the plaintext never reaches its on-disk outbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aethyr_domain import validation as v
from aethyr_domain.directions import DIRECTIONS, normalise_direction
from aethyr_domain.equipment_slots import normalise_slot
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.passwords import is_scrypt_hash


def _set(command: object, name: str, value: object) -> None:
    object.__setattr__(command, name, value)


@dataclass(frozen=True)
class Command:
    """Base class of every command: holds the ``actor`` (keyword-only)."""

    actor: str = field(default=v.SYSTEM_ACTOR, kw_only=True)

    def __post_init__(self) -> None:
        _set(self, "actor", v.actor(self.actor))


@dataclass(frozen=True)
class CreateGameObject(Command):
    """Create a plain game object (an item, a container, a mobile...).

    ``container_id`` optionally puts it straight into a holder's inventory.
    """

    id: str
    name: str
    generic: str
    container_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "name", v.name(self.name))
        _set(self, "generic", v.generic(self.generic))
        _set(self, "container_id", v.optional_object_id("container_id", self.container_id))


@dataclass(frozen=True)
class UpdateGameObjectAttribute(Command):
    """Set one free-form attribute of an object (e.g. ``long_desc``)."""

    id: str
    key: str
    value: Any

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "key", v.attribute_key(self.key))
        _set(self, "value", v.attribute_value(self.value))


@dataclass(frozen=True)
class UpdateGameObjectAttributes(Command):
    """Set several attributes at once (merged; existing other keys stay)."""

    id: str
    attributes: Mapping[str, Any]

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "attributes", v.attributes(self.attributes))


@dataclass(frozen=True)
class UpdateDoorAttributes(Command):
    """Set attributes of a door *and* of its other side, in one atomic change.

    A door's ``connected_to`` attribute names the door on the other side of the exit
    (``acdoor`` makes both). The handler merges ``attributes`` into both, so opening,
    closing, locking or unlocking one side never leaves the other behind; an object
    with no (live) counterpart is updated alone (an openable chest).
    """

    id: str
    attributes: Mapping[str, Any]

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "attributes", v.attributes(self.attributes))


@dataclass(frozen=True)
class UpdateGameObjectContainer(Command):
    """Move an object into ``container_id``'s inventory, or nowhere (``None``)."""

    id: str
    container_id: str | None

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "container_id", v.optional_object_id("container_id", self.container_id))


@dataclass(frozen=True)
class DeleteGameObject(Command):
    """Delete an object (any kind); its contents move to the containing room."""

    id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))


@dataclass(frozen=True)
class CreatePlayer(Command):
    """Create a player character with a unique (case-insensitive) name."""

    id: str
    name: str
    password: str = field(default="", repr=False)
    #: An already made salted scrypt hash, instead of ``password`` (keyword-only).
    password_hash: str | None = field(default=None, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "name", v.player_name(self.name))
        _password_or_hash(self.password, self.password_hash)


@dataclass(frozen=True)
class UpdatePlayerPassword(Command):
    """Change a player's password (stored as a new salted hash)."""

    id: str
    password: str = field(default="", repr=False)
    #: An already made salted scrypt hash, instead of ``password`` (keyword-only).
    password_hash: str | None = field(default=None, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _password_or_hash(self.password, self.password_hash)


def _password_or_hash(password: object, password_hash: object) -> None:
    """Exactly one of a plaintext ``password`` or a salted ``password_hash``.

    The hash form lets the game hash a password *before* the command is written to
    its outbox, so no plaintext password ever reaches the disk. Only salted scrypt
    hashes in the :mod:`~aethyr_domain.passwords` encoding are accepted.
    """
    if password_hash is None:
        v.password(password)
        return
    if password != "":
        raise InvalidCommandError("password", "give either a password or a password_hash")
    if not isinstance(password_hash, str) or not is_scrypt_hash(password_hash):
        raise InvalidCommandError("password_hash", "must be a salted scrypt hash (scrypt$...)")


@dataclass(frozen=True)
class UpdatePlayerAdminStatus(Command):
    """Grant (``True``) or revoke (``False``) a player's admin rights."""

    id: str
    admin: bool

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "admin", v.boolean("admin", self.admin))


@dataclass(frozen=True)
class CreateRoom(Command):
    """Create a room (with no exits yet)."""

    id: str
    name: str
    description: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "name", v.name(self.name))
        _set(self, "description", v.description(self.description))


@dataclass(frozen=True)
class UpdateRoomDescription(Command):
    """Replace a room's description."""

    id: str
    description: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "description", v.description(self.description))


def _direction(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidCommandError("direction", "must be a string")
    canonical = normalise_direction(value)
    if canonical is None:
        raise InvalidCommandError(
            "direction", f"unknown direction; use one of {', '.join(DIRECTIONS)}"
        )
    return canonical


@dataclass(frozen=True)
class AddRoomExit(Command):
    """Add an exit ``direction`` from room ``id`` to room ``target_room_id``."""

    id: str
    direction: str
    target_room_id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "direction", _direction(self.direction))
        _set(self, "target_room_id", v.object_id("target_room_id", self.target_room_id))


@dataclass(frozen=True)
class RemoveRoomExit(Command):
    """Remove room ``id``'s exit in ``direction`` (it must exist)."""

    id: str
    direction: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "direction", _direction(self.direction))


@dataclass(frozen=True)
class AddItemToInventory(Command):
    """Move ``item_id`` into holder ``id``'s inventory, at an optional grid position."""

    id: str
    item_id: str
    position: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "item_id", v.object_id("item_id", self.item_id))
        _set(self, "position", v.position(self.position))


@dataclass(frozen=True)
class RemoveItemFromInventory(Command):
    """Take ``item_id`` out of holder ``id``'s inventory; it is then nowhere."""

    id: str
    item_id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "item_id", v.object_id("item_id", self.item_id))


def _slot(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidCommandError("slot", "must be a string")
    canonical = normalise_slot(value)
    if canonical is None:
        raise InvalidCommandError("slot", "unknown equipment slot")
    return canonical


@dataclass(frozen=True)
class EquipItem(Command):
    """Character ``id`` wears or wields ``item_id`` (from its inventory) in ``slot``."""

    id: str
    item_id: str
    slot: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "item_id", v.object_id("item_id", self.item_id))
        _set(self, "slot", _slot(self.slot))


@dataclass(frozen=True)
class UnequipItem(Command):
    """Character ``id`` takes ``item_id`` off ``slot``; it goes back to the inventory."""

    id: str
    item_id: str
    slot: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "item_id", v.object_id("item_id", self.item_id))
        _set(self, "slot", _slot(self.slot))


@dataclass(frozen=True)
class ImportLegacyPlayer(Command):
    """Import a player from the original game with its legacy MD5 password hash.

    Not one of the original 16 commands: the migration needs it because the
    original stored only an unsalted MD5 hex digest, so the plaintext is not
    known. The hash is kept (marked ``md5$``) until the player's next
    successful :meth:`~aethyr_domain.application.World.check_password`, which
    replaces it with a salted scrypt hash.
    """

    id: str
    name: str
    password_md5: str = field(repr=False)
    admin: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "id", v.object_id("id", self.id))
        _set(self, "name", v.player_name(self.name))
        md5 = self.password_md5
        if not isinstance(md5, str) or len(md5) != 32 or not _is_hex(md5):
            raise InvalidCommandError("password_md5", "must be a 32-character hex MD5 digest")
        _set(self, "password_md5", md5.lower())
        _set(self, "admin", v.boolean("admin", self.admin))


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in text)


#: Every command class the world handles, in the original's order (plus the import).
COMMAND_TYPES: tuple[type[Command], ...] = (
    CreateGameObject,
    UpdateGameObjectAttribute,
    UpdateGameObjectAttributes,
    UpdateGameObjectContainer,
    DeleteGameObject,
    CreatePlayer,
    UpdatePlayerPassword,
    UpdatePlayerAdminStatus,
    CreateRoom,
    UpdateRoomDescription,
    AddRoomExit,
    RemoveRoomExit,
    AddItemToInventory,
    RemoveItemFromInventory,
    EquipItem,
    UnequipItem,
    ImportLegacyPlayer,
    UpdateDoorAttributes,
)

__all__ = [cls.__name__ for cls in COMMAND_TYPES] + ["Command", "fields_of"]


def fields_of(command: Command) -> dict[str, Any]:
    """Return a command's fields as a dict, with secret fields left out."""
    return {f.name: getattr(command, f.name) for f in dataclasses.fields(command) if f.repr}
