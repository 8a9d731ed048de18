"""What an attribute may hold: the one definition, checked where a value enters the world.

An object's free-form attributes (``long_desc``, ``layer``, ``movable``...) end up in
every store the world has: the events (JSON in SQLite, immudb, memory), the outbox,
the read models (memory, SQLite, immudb SQL) and the ``world --json`` dumps. So a
value must be something all of them keep exactly and read back unchanged:

=================  ==============================================================
kind               rule
=================  ==============================================================
null, bool         as is (``true`` is a bool, not the integer 1)
int                signed 64-bit: :data:`MIN_INT` to :data:`MAX_INT`
float              finite (no NaN, no infinity)
str                at most :data:`MAX_STRING` characters, valid Unicode (no lone
                   surrogates, which no UTF-8 store can hold)
list               of values
dict               string keys (each a valid string as above) to values
nesting            at most :data:`MAX_DEPTH` levels (a scalar is level 1)
size               at most :data:`MAX_JSON_BYTES` bytes as compact UTF-8 JSON
=================  ==============================================================

Anything else (tuples are lists; other types, ``bytes``, sets, objects) is refused.

Two places check it, with this module only: the action layer, before anything is
built (``aset``, ``adesc``: a message for the player, :func:`problem`), and every
command that carries a value (:func:`check`, called by
:mod:`aethyr_domain.validation`), so ``World.handle``, the game's
:class:`~aethyr_domain.decision.Decider` and ``migrate`` all refuse such a value with
:class:`~aethyr_domain.errors.InvalidCommandError` and write nothing. Events already
stored are never checked again when they are read: a log written before these rules
still opens and replays.

Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aethyr_domain.errors import InvalidCommandError

#: Smallest and largest integer a value may hold (signed 64-bit, what SQLite,
#: immudb and orjson all store exactly).
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
#: Longest string (in characters), for strings anywhere in a value, dict keys included.
MAX_STRING = 4096
#: Deepest nesting: ``1`` is a scalar, ``[1]`` is 2 levels, ``{"a": [1]}`` is 3.
MAX_DEPTH = 8
#: Largest value, measured as compact JSON encoded in UTF-8 (so one longest string of
#: four-byte characters always fits).
MAX_JSON_BYTES = 64 * 1024

_SURROGATE = re.compile("[\ud800-\udfff]")


class _RefusedError(Exception):
    """Internal: why a value is refused (the text completes "the value ...")."""


def problem(value: object) -> str | None:
    """Why ``value`` may not be an attribute value, or ``None`` if it may.

    The text reads after "the value", e.g. ``"is an integer outside the signed
    64-bit range (-9223372036854775808 to 9223372036854775807)"``.
    """
    try:
        _check_size(_freeze(value, 1))
    except _RefusedError as refused:
        return str(refused)
    return None


def check(value: object, field: str = "value") -> Any:
    """Check ``value`` and return a read-only copy (lists become tuples, dicts
    read-only mappings; :func:`thaw` turns it back).

    Raises :class:`~aethyr_domain.errors.InvalidCommandError` naming ``field``.
    """
    try:
        frozen = _freeze(value, 1)
        _check_size(frozen)
    except _RefusedError as refused:
        raise InvalidCommandError(field, str(refused)) from None
    return frozen


def thaw(value: Any) -> Any:
    """Turn a value returned by :func:`check` back into plain JSON data (lists, dicts)."""
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    return value


def _string(text: str, what: str | None) -> str:
    """Check one string; ``what`` names it inside a list or dict (``None``: the value)."""
    if len(text) > MAX_STRING:
        problem = f"longer than {MAX_STRING} characters"
    elif _SURROGATE.search(text):
        problem = "not valid Unicode (it holds undecodable bytes)"
    else:
        return text
    raise _RefusedError(f"is {problem}" if what is None else f"has {what} that is {problem}")


def _freeze(value: object, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _RefusedError(f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise _RefusedError(
                f"is an integer outside the signed 64-bit range ({MIN_INT} to {MAX_INT})"
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _RefusedError("is not a finite number (NaN and infinity are not allowed)")
        return float(value)
    if isinstance(value, str):
        return _string(value, None if depth == 1 else "a string")
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        frozen: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _RefusedError("has a dictionary key that is not a string")
            frozen[_string(key, "a dictionary key")] = _freeze(item, depth + 1)
        return MappingProxyType(frozen)
    raise _RefusedError(f"cannot be of type {type(value).__name__}")


def _check_size(frozen: Any) -> None:
    """The size rule, on a value :func:`_freeze` accepted (so it encodes as JSON)."""
    size = len(json.dumps(thaw(frozen), ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_JSON_BYTES:
        raise _RefusedError(f"is larger than {MAX_JSON_BYTES} bytes as JSON")
