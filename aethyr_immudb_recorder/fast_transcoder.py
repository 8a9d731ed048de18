"""A faster orjson transcoder that writes a typed header instead of tagging values.

Select it in any eventsourcing application with::

    TRANSCODER_TOPIC=aethyr_immudb_recorder.fast_transcoder:FastOrjsonTranscoder

Why a second transcoder?  :class:`~aethyr_immudb_recorder.transcoder.OrjsonTranscoder`
writes exactly ``JSONTranscoder``'s bytes, where every UUID and datetime is a
``{"_type_": ..., "_data_": ...}`` dict.  Finding those values on the way out and
reviving those dicts on the way back needs a walk over every event in Python,
and that walk, not JSON, is what limits it to about 2x ``JSONTranscoder``
(``docs/performance.md``).  Event state is nearly always a flat dict whose
typed values sit at the top level (every event's ``timestamp``, an id or two),
so this transcoder says *where* they are instead::

    b"\\x1e" + b"d0,u3" + b'{"timestamp":"2025-01-01T00:00:00+00:00","name":"x",...}'

- byte ``0x1e`` (ASCII record separator) marks the format.  No JSON document can
  start with it, so ``JSONTranscoder`` (and anything else expecting JSON) refuses
  these bytes loudly instead of reading UUIDs back as strings;
- then a comma-separated list of codes for the top-level values (by position in
  the object, which orjson keeps in insertion order both ways): ``d<i>`` a
  datetime written as ISO text, ``u<i>`` a UUID written as its canonical string,
  ``w<i>`` a value written in ``OrjsonTranscoder``'s tagged form (a container
  holding typed values, a ``Decimal``, anything with its own transcoding);
- then the object itself, written by ``orjson.dumps`` in C: datetimes and UUIDs
  natively, everything else as plain JSON.

Encoding looks at the exact types of the top-level values only
(``tuple(map(type, state.values()))``, computed in C) and keeps a plan per such
shape; containers are checked for typed values with the same C-level type sets
and walked only when they hold any.  Decoding parses the object in C and
converts just the listed positions, so a user dict in an unlisted value that
happens to look like a tag is left alone.  A dict with no value to list (no
datetime, UUID or tagged value) is written as plain JSON, exactly as
``JSONTranscoder`` writes it, and read the JSON way.

Everything else is ``OrjsonTranscoder``'s: anything that is not a ``dict`` with
``str`` keys, and any value orjson cannot write exactly (integers beyond 64
bits, non-finite floats), is written in the JSON-compatible format, and bytes in
that format (or written by ``JSONTranscoder``) are read as before.  So a store
can switch *to* this transcoder at any time; switching back needs this
transcoder to read the events written meanwhile.  Datetimes and UUIDs use the
fast path only while the registered transcodings for them are the library's own
(``DatetimeAsISO``, ``UUIDAsHex``); a datetime whose UTC offset has seconds is
tagged (orjson would round the offset).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, Transcoding, UUIDAsHex

from aethyr_immudb_recorder.transcoder import OrjsonTranscoder, _UseStdlib, _uuid_from_int

__all__ = ["MARKER", "FastOrjsonTranscoder"]

MARKER = b"\x1e"
"""First byte of every payload in this transcoder's own format."""

_OPEN_BRACE = ord("{")

_NATIVE: frozenset[type] = frozenset({str, int, bool, type(None)})
"""Exact types orjson writes and reads back as themselves (64-bit ints; orjson refuses more)."""

_NATIVE_OR_CONTAINER = _NATIVE | {dict, list}

_CACHE_LIMIT = 4096
"""Plans and header readers kept at most; events have a few dozen shapes, odd data more."""

_dumps = orjson.dumps
_fromisoformat = datetime.fromisoformat
_LEADING_DATETIME_ONLY = MARKER + b"d0{"
_loads = orjson.loads


def _is_plain(value: dict[Any, Any] | list[Any]) -> bool:
    """True if a container holds only exact ``str``/``int``/``bool``/``None``/dict/list.

    Such a value is written by orjson exactly as ``json`` would write it and reads
    back equal, so it needs no code in the header.  The type sets are built in C;
    Python only recurses into nested containers.
    """
    values = value.values() if type(value) is dict else value
    types = set(map(type, values))
    if types <= _NATIVE:
        return True
    if not types <= _NATIVE_OR_CONTAINER:
        return False
    for item in values:
        kind = type(item)
        if (kind is dict or kind is list) and not _is_plain(item):
            return False
    return True


def _offset_is_whole_minutes(value: datetime) -> bool:
    """orjson writes a UTC offset as ``+HH:MM``, rounding away seconds ``isoformat`` keeps."""
    tz = value.tzinfo
    if tz is None or tz is UTC:
        return True
    offset = value.utcoffset()
    return offset is None or (offset.microseconds == 0 and offset.seconds % 60 == 0)


def _uuid_from_canonical(data: Any) -> UUID:
    """``UUID(data)`` for orjson's canonical 36-character form, minus its parsing layers."""
    if type(data) is str and len(data) == 36:
        digits = data.replace("-", "")
        if len(digits) == 32:  # the four hyphens were there: 128 bits at most
            return _uuid_from_int(int(digits, 16))
    return UUID(data)  # anything else: UUID's own checks (and its ValueError)


def _header(codes: list[str]) -> bytes:
    """The marker and codes; nothing at all when no value needs one (plain JSON then)."""
    return MARKER + ",".join(codes).encode("ascii") if codes else b""


class _LeadingDatetimeHeader(bytes):
    """The plan of the commonest shape by far: a timestamp first, then natives (and UUIDs)."""

    __slots__ = ()


_JSON_FORMAT = object()
"""The plan of every shape while a transcoding for dict or list is registered."""


class _Plan:
    """How to write one shape (the exact types of a dict's values, in order)."""

    __slots__ = ("codes", "datetimes", "header", "others")

    def __init__(self, codes: list[str], datetimes: tuple[int, ...], others: tuple[int, ...]):
        self.codes = codes
        self.datetimes = datetimes
        self.others = others
        self.header = _header(codes)


class FastOrjsonTranscoder(OrjsonTranscoder):
    """An :class:`OrjsonTranscoder` writing its own typed-header format (see the module).

    Reads its own format, ``OrjsonTranscoder``'s and ``JSONTranscoder``'s.
    Constructed with no arguments, so ``TRANSCODER_TOPIC`` can select it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._plans: dict[tuple[type, ...], _Plan | bytes | object] = {}
        self._fixers: dict[bytes, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self._coded: dict[type, str] = {}
        self._containers_are_plain = True

    def register(self, transcoding: Transcoding) -> None:
        """Register ``transcoding``; the library's own UUID and datetime ones enable the codes."""
        super().register(transcoding)
        if transcoding.type is UUID:
            self._set_code(UUID, "u", type(transcoding) is UUIDAsHex)
        elif transcoding.type is datetime:
            self._set_code(datetime, "d", type(transcoding) is DatetimeAsISO)
        # A transcoding for dict or list itself tags every such container: leave
        # those payloads to OrjsonTranscoder, which honours it.
        self._containers_are_plain = dict not in self.types and list not in self.types
        self._plans.clear()  # a registered type changes how its values are written

    def _set_code(self, kind: type, code: str, enabled: bool) -> None:
        if enabled:
            self._coded[kind] = code
        else:
            self._coded.pop(kind, None)

    # -- encoding ---------------------------------------------------------------

    def encode(self, obj: Any) -> bytes:
        """Encode ``obj``: a dict in the typed-header format, anything else as JSON."""
        if type(obj) is dict:
            shape = tuple(map(type, obj.values()))
            try:
                plan = self._plans[shape]
            except KeyError:
                if len(self._plans) >= _CACHE_LIMIT:  # odd dicts of many shapes: start again
                    self._plans.clear()
                plan = self._plans[shape] = self._plan(shape)
            try:
                kind = type(plan)
                if kind is _LeadingDatetimeHeader:  # the commonest shape: check one offset
                    for first in obj.values():
                        tz = first.tzinfo
                        if tz is None or tz is UTC or _offset_is_whole_minutes(first):
                            return plan + _dumps(obj)  # type: ignore[operator]
                        break
                    # An offset with seconds (rare): tag it, through the general plan.
                    return self._encode_planned(obj, self._plan(shape, expand=True))  # type: ignore[arg-type]
                if kind is bytes:
                    return plan + _dumps(obj)  # type: ignore[operator]
                if plan is not _JSON_FORMAT:
                    return self._encode_planned(obj, plan)  # type: ignore[arg-type]
            except (_UseStdlib, orjson.JSONEncodeError, RecursionError):
                pass  # non-str keys, huge ints, non-finite floats: the JSON-compatible format
        return super().encode(obj)

    def _plan(self, shape: tuple[type, ...], *, expand: bool = False) -> _Plan | bytes | object:
        """How to write dicts of this shape: a header alone when no value needs a check."""
        if not self._containers_are_plain:
            return _JSON_FORMAT
        codes: list[str] = []
        datetimes: list[int] = []
        others: list[int] = []
        for position, kind in enumerate(shape):
            if kind in _NATIVE:
                continue
            code = self._coded.get(kind)
            if code is None:
                others.append(position)
                continue
            codes.append(f"{code}{position}")
            if kind is datetime:
                datetimes.append(position)
        plan = _Plan(codes, tuple(datetimes), tuple(others))
        if expand or others or plan.datetimes not in ((), (0,)):
            return plan
        if datetimes:  # a leading datetime, natives and UUIDs: only its offset to check
            return _LeadingDatetimeHeader(plan.header)
        return plan.header  # natives and UUIDs: nothing to check per value

    def _encode_planned(self, obj: dict[Any, Any], plan: _Plan) -> bytes:
        values = list(obj.values())
        walked: list[int] = []
        for position in plan.datetimes:
            value = values[position]
            tz = value.tzinfo
            if tz is not None and tz is not UTC and not _offset_is_whole_minutes(value):
                values[position] = self._plain(value)
                walked.append(position)
        for position in plan.others:
            value = values[position]
            kind = type(value)
            if kind is dict:  # the first level inline: most dicts in events hold natives only
                if set(map(type, value.values())) <= _NATIVE or _is_plain(value):
                    continue
            elif kind is list and _is_plain(value):
                continue
            plain = self._plain(value)
            if plain is not value:
                values[position] = plain
                walked.append(position)
        if not walked:
            return plan.header + _dumps(obj)
        out = dict(zip(obj, values, strict=True))
        codes = [c for c in plan.codes if int(c[1:]) not in walked]
        codes += [f"w{position}" for position in walked]
        codes.sort(key=lambda c: int(c[1:]))
        return _header(codes) + _dumps(out)

    # -- decoding ---------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        """Decode bytes in this transcoder's format, or JSON (``OrjsonTranscoder``'s way)."""
        if data[:4] == _LEADING_DATETIME_ONLY:  # the commonest header, without a lookup
            obj = _loads(data[3:])  # starts with "{": a dict, or a decode error
            for key in obj:
                obj[key] = _fromisoformat(obj[key])
                return obj
        if data[:1] != MARKER:
            return super().decode(data)
        end = data.find(_OPEN_BRACE, 1)
        if end < 0:
            raise ValueError("not a FastOrjsonTranscoder payload: no JSON object after the header")
        header = data[1:end]
        fixer = self._fixers.get(header)
        if fixer is None:
            if len(self._fixers) >= _CACHE_LIMIT:
                self._fixers.clear()
            fixer = self._fixers[header] = self._fixer(header)
        return fixer(_loads(data[end:]))  # starts with "{": a dict, or a decode error

    def _fixer(self, header: bytes) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A function converting the positions ``header`` lists, built once per header."""
        converters: dict[str, Callable[[Any], Any]] = {
            "d": datetime.fromisoformat,
            "u": _uuid_from_canonical,
            "w": self._revive_tagged,
        }
        steps: list[tuple[int, Callable[[Any], Any]]] = []
        try:
            for code in header.decode("ascii").split(",") if header else ():
                steps.append((int(code[1:]), converters[code[0]]))
        except (UnicodeDecodeError, ValueError, KeyError, IndexError):
            msg = f"not a FastOrjsonTranscoder payload: bad header {header[:40]!r}"
            raise ValueError(msg) from None
        if not steps:
            return _unchanged
        if len(steps) == 1 and steps[0][0] == 0:
            convert = steps[0][1]

            def fix_first(obj: dict[str, Any]) -> dict[str, Any]:
                for key in obj:
                    obj[key] = convert(obj[key])
                    return obj
                raise ValueError("not a FastOrjsonTranscoder payload: header lists a missing value")

            return fix_first

        def fix(obj: dict[str, Any]) -> dict[str, Any]:
            keys = list(obj)
            try:
                for position, convert in steps:
                    key = keys[position]
                    obj[key] = convert(obj[key])
            except IndexError:
                msg = "not a FastOrjsonTranscoder payload: header lists a missing value"
                raise ValueError(msg) from None
            return obj

        return fix

    def _revive_tagged(self, value: Any) -> Any:
        """Revive a ``w`` value as ``json``'s ``object_hook`` would: tagged dicts, innermost first.

        New containers are built (the decoded value is not changed in place), and
        unlike ``OrjsonTranscoder``'s reviver no float is suspected of having been
        a huge integer: this format never holds one (orjson refuses to write them).
        """
        kind = type(value)
        if kind is list:
            return [self._revive_tagged(v) for v in value]
        if kind is dict:
            return self._decode_obj({k: self._revive_tagged(v) for k, v in value.items()})
        return value


def _unchanged(obj: dict[str, Any]) -> dict[str, Any]:
    return obj
