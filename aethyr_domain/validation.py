"""Field validation for commands: types, emptiness and the documented limits.

Every command validates each of its fields in ``__post_init__`` with the
checkers below, so an invalid command cannot even be constructed. A failed
check raises :class:`~aethyr_domain.errors.InvalidCommandError` naming the field.
Messages never repeat the value of a secret field (passwords).

The limits (also listed in ``docs/domain.md``):

=====================  ========================================================
field                  rule
=====================  ========================================================
object ids             1-64 chars of ``A-Z a-z 0-9 _ . : -``, starting with a
                       letter or digit (GOIDs, UUID hex, ``start-room``);
                       the prefix ``name-index:`` is reserved
actor                  ``"system"`` or an object id
name                   1-80 chars, no control characters, not only blanks
generic                1-40 chars, no control characters, not only blanks
player name            2-32 chars: a letter, then letters, digits, ``_`` or ``-``
password               6-128 chars, no control characters
description            0-8000 chars; control characters other than newline and
                       tab are refused
attribute key          1-64 chars: ``[A-Za-z_][A-Za-z0-9_.]*``
attribute value        what :mod:`aethyr_domain.values` allows: JSON data with
                       signed 64-bit integers, finite floats, strings of at most
                       4096 characters, nested at most 8 deep, at most 64 KiB as
                       UTF-8 JSON
attributes (batch)     1-64 keys, each a valid key/value
position               None or two ints ``(x, y)``, each 0-10000
admin                  a real ``bool``
=====================  ========================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aethyr_domain import values
from aethyr_domain.errors import InvalidCommandError

SYSTEM_ACTOR = "system"
#: Ids of the player-name index aggregates; no object may use this prefix.
RESERVED_ID_PREFIX = "name-index:"

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
PLAYER_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{1,31}")
ATTRIBUTE_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

MAX_NAME = 80
MAX_GENERIC = 40
MIN_PASSWORD = 6
MAX_PASSWORD = 128
MAX_DESCRIPTION = 8000
MAX_ATTRIBUTES = 64
MAX_POSITION = 10_000


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidCommandError(field, f"must be a string, not {type(value).__name__}")
    _require_unicode(field, value)
    return value


def _require_unicode(field: str, text: str) -> None:
    """Refuse lone surrogates (what undecodable bytes become with ``surrogateescape``):
    they cannot be encoded as UTF-8, so no store could keep them."""
    if _SURROGATE.search(text):
        raise InvalidCommandError(field, "must be valid Unicode text (undecodable bytes found)")


_SURROGATE = re.compile("[\ud800-\udfff]")


def object_id(field: str, value: object) -> str:
    """Check an object id (``id``, ``item_id``, ``container_id``...)."""
    text = _require_str(field, value)
    if not text:
        raise InvalidCommandError(field, "must not be empty")
    if ID_PATTERN.fullmatch(text) is None:
        raise InvalidCommandError(
            field,
            "must be 1-64 characters of letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit",
        )
    if text.startswith(RESERVED_ID_PREFIX):
        raise InvalidCommandError(field, f"ids starting with {RESERVED_ID_PREFIX!r} are reserved")
    return text


def optional_object_id(field: str, value: object) -> str | None:
    """Like :func:`object_id`, but ``None`` is allowed (meaning "nowhere")."""
    return None if value is None else object_id(field, value)


def actor(value: object) -> str:
    """Check the ``actor`` of a command: ``"system"`` or an object id."""
    return object_id("actor", value)


def _line(field: str, value: object, maximum: int) -> str:
    text = _require_str(field, value)
    if not text.strip():
        raise InvalidCommandError(field, "must not be empty")
    if len(text) > maximum:
        raise InvalidCommandError(field, f"must be at most {maximum} characters")
    if _CONTROL.search(text):
        raise InvalidCommandError(field, "must not contain control characters")
    return text


def name(value: object) -> str:
    """Check an object's display name."""
    return _line("name", value, MAX_NAME)


def generic(value: object) -> str:
    """Check an object's generic noun (``"sword"``, ``"player"``...)."""
    return _line("generic", value, MAX_GENERIC)


def player_name(value: object) -> str:
    """Check a player's name (unique, case-insensitive, across the world)."""
    text = _require_str("name", value)
    if PLAYER_NAME_PATTERN.fullmatch(text) is None:
        raise InvalidCommandError(
            "name",
            "a player name must be 2-32 characters: a letter, then letters, digits, '_' or '-'",
        )
    return text


def password(value: object) -> str:
    """Check a plaintext password. The message never contains the password."""
    if not isinstance(value, str):
        raise InvalidCommandError("password", "must be a string")
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise InvalidCommandError(
            "password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters long"
        )
    if _CONTROL.search(value):
        raise InvalidCommandError("password", "must not contain control characters")
    return value


def description(value: object) -> str:
    """Check a room description (may be empty; newlines and tabs allowed)."""
    text = _require_str("description", value)
    if len(text) > MAX_DESCRIPTION:
        raise InvalidCommandError("description", f"must be at most {MAX_DESCRIPTION} characters")
    if _CONTROL_EXCEPT_NL_TAB.search(text):
        raise InvalidCommandError("description", "must not contain control characters")
    return text


def boolean(field: str, value: object) -> bool:
    """Check a strict ``bool`` (``1`` or ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise InvalidCommandError(field, f"must be True or False, not {type(value).__name__}")
    return value


def attribute_key(value: object, field: str = "key") -> str:
    """Check an attribute key."""
    text = _require_str(field, value)
    if ATTRIBUTE_KEY_PATTERN.fullmatch(text) is None:
        raise InvalidCommandError(
            field,
            "must be 1-64 characters: a letter or '_', then letters, digits, '_' or '.'",
        )
    return text


def attribute_value(value: object, field: str = "value") -> Any:
    """Check an attribute value (the rules of :mod:`aethyr_domain.values`) and return a
    read-only copy of it.

    Lists become tuples and dicts become read-only mappings, so the command
    that holds the value stays immutable; :func:`aethyr_domain.values.thaw` turns it back.
    """
    return values.check(value, field)


def attributes(value: object) -> Mapping[str, Any]:
    """Check a batch of attributes and return a read-only copy."""
    if not isinstance(value, Mapping):
        raise InvalidCommandError("attributes", "must be a dictionary")
    if not value:
        raise InvalidCommandError("attributes", "must not be empty")
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidCommandError("attributes", f"must have at most {MAX_ATTRIBUTES} keys")
    frozen = {
        attribute_key(key, "attributes"): attribute_value(item, f"attributes[{key}]")
        for key, item in value.items()
    }
    return MappingProxyType(frozen)


def position(value: object) -> tuple[int, int] | None:
    """Check an optional grid position ``(x, y)``."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidCommandError("position", "must be None or a pair (x, y)")
    x, y = value
    for coordinate in (x, y):
        if isinstance(coordinate, bool) or not isinstance(coordinate, int):
            raise InvalidCommandError("position", "coordinates must be integers")
        if not 0 <= coordinate <= MAX_POSITION:
            raise InvalidCommandError("position", f"coordinates must be 0-{MAX_POSITION}")
    return (x, y)
