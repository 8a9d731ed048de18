"""An orjson-based drop-in for eventsourcing's :class:`JSONTranscoder`.

Select it in any eventsourcing application with::

    TRANSCODER_TOPIC=aethyr_immudb_recorder.transcoder:OrjsonTranscoder

It writes and reads exactly the same bytes as ``JSONTranscoder`` (compact JSON,
UTF-8, custom types as ``{"_type_": name, "_data_": ...}``), so stored events can
be read by either transcoder, and a store can switch between them at any time.
Because it subclasses ``JSONTranscoder``, ``Application.register_transcodings``
still runs and registers the UUID, Decimal and datetime transcodings, and any
transcoding an application adds is honoured.

Why not just ``orjson.dumps``/``orjson.loads``?  orjson serialises ``UUID``,
``datetime``, ``Enum`` and tuples natively (its ``default=`` hook is never
called for them), so a naive transcoder silently turns an aggregate's UUID
fields and timestamps into plain strings.  orjson's ``OPT_PASSTHROUGH_*``
options cover datetimes, subclasses and dataclasses but not UUIDs, enums or
tuples.  So encoding is done in two steps:

1. a small Python walk converts the object into plain JSON values, replacing
   every value whose exact type is not ``str``/``int``/``bool``/``None``/finite
   ``float``/``dict``/``list`` with its registered transcoding (or with the
   plain value ``json`` would have written, e.g. a ``str`` subclass without a
   transcoding becomes a ``str``); the walk copies a container only when
   something in it changed;
2. ``orjson.dumps`` writes the result (with the passthrough options on, so
   anything the walk missed reaches ``default=`` instead of being serialised
   natively).

Decoding calls ``orjson.loads`` and then, only when the payload contains
``_type_``, walks the result bottom-up (the order ``json``'s ``object_hook``
uses) and revives each two-key ``{"_type_", "_data_"}`` dict.

Everything orjson cannot do exactly like the stdlib falls back to the inherited
``JSONTranscoder`` code, so behaviour never differs, only speed: non-finite
floats (orjson writes ``null``, json writes ``NaN``), integers beyond 64 bits
(orjson refuses to write them and reads them back as floats), non-``str`` dict
keys, invalid UTF-8, ``NaN`` literals in stored data, and so on.  Errors are the
ones ``JSONTranscoder`` raises (``TranscodingNotRegisteredError`` with the same
message for an unregistered type).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

__all__ = ["OrjsonTranscoder"]

_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})
"""Exact types orjson writes exactly as ``json`` does (int range checked by orjson)."""

_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
"""Subclasses and dataclasses the walk missed reach ``default=`` (which refuses).

``OPT_PASSTHROUGH_DATETIME`` is deliberately off: the walk wraps every datetime
in its ``datetime_iso`` tag, and inside the tag orjson writes a naive or UTC
datetime byte for byte as ``datetime.isoformat()`` does (checked over 200,000
random values and in the tests), in C; other time zones are formatted with
``isoformat()`` by the walk itself.
"""

_INT64_LIMIT = float(2**63)
"""orjson reads an integer outside the 64-bit range as a float: such a float
in a decoded payload sends decoding to the stdlib path (exact big ints)."""

_LONG_DIGIT_RUN = re.compile(rb"[0-9]{20}")
"""A payload without ``_type_`` is not walked; this cheap check still catches
numbers long enough to be integers orjson would have read as floats."""


class _UseStdlib(Exception):  # noqa: N818 - a private control-flow signal, not an error
    """Raised inside the fast paths when only the stdlib path gives the exact result."""


def _refuse(obj: Any) -> Any:
    """orjson's ``default=``: anything the walk did not convert goes the stdlib way."""
    raise _UseStdlib


_new_object = object.__new__
_set_uuid_int: Callable[[UUID, int], None] = vars(UUID)["int"].__set__
_set_uuid_is_safe: Callable[[UUID, SafeUUID], None] = vars(UUID)["is_safe"].__set__
_UNKNOWN_SAFETY = SafeUUID.unknown


def _uuid_from_hex(data: Any) -> UUID:
    """What :class:`UUIDAsHex` decodes to, without ``UUID.__init__``'s parsing cost.

    For a 32-character alphanumeric string ``UUID(data)`` does nothing but
    ``int(data, 16)`` (its prefix, brace and hyphen stripping are no-ops), so this
    sets the same slots directly; anything else goes through ``UUIDAsHex``.
    """
    if type(data) is str and len(data) == 32 and data.isalnum():
        return _uuid_from_int(int(data, 16))
    return _UUID_AS_HEX.decode(data)


def _uuid_from_int(value: int) -> UUID:
    """``UUID(int=value)`` for a value already known to be 128-bit: the slots set directly."""
    uuid = _new_object(UUID)
    _set_uuid_int(uuid, value)
    _set_uuid_is_safe(uuid, _UNKNOWN_SAFETY)
    return uuid


def _datetime_from_iso(data: Any) -> datetime:
    if type(data) is str:
        return datetime.fromisoformat(data)
    return _DATETIME_AS_ISO.decode(data)


_UUID_AS_HEX = UUIDAsHex()
_DATETIME_AS_ISO = DatetimeAsISO()

_FAST_DECODERS: dict[type[Transcoding], Callable[[Any], Any]] = {
    UUIDAsHex: _uuid_from_hex,
    DatetimeAsISO: _datetime_from_iso,
    DecimalAsStr: Decimal,
}
"""Exact equivalents of the library's own transcodings' ``decode``, minus a call layer."""


def _fast_encoder(transcoding: Transcoding) -> Callable[[Any], Any] | None:
    """Exact equivalents of the library's own transcodings' ``encode`` (their output is a str)."""
    name = transcoding.name
    kind = type(transcoding)
    if kind is UUIDAsHex:
        return lambda obj: {"_type_": name, "_data_": "%032x" % obj.int}  # noqa: UP031 - fastest
    if kind is DatetimeAsISO:

        def encode_datetime(obj: datetime) -> dict[str, Any]:
            tz = obj.tzinfo
            data = obj if tz is None or tz is UTC else obj.isoformat()
            return {"_type_": name, "_data_": data}

        return encode_datetime
    if kind is DecimalAsStr:
        return lambda obj: {"_type_": name, "_data_": str(obj)}
    return None


class OrjsonTranscoder(JSONTranscoder):
    """A :class:`JSONTranscoder` that encodes and decodes with orjson.

    Same wire format, same registered transcodings, same errors; several times
    faster on typical event state (see ``docs/performance.md``).  Constructed
    with no arguments, like ``JSONTranscoder``, so ``TRANSCODER_TOPIC`` can
    select it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encoders: dict[type, Callable[[Any], Any]] = {
            dict: self._plain_dict,
            list: self._plain_list,
            float: _plain_float,
        }
        self._decoders: dict[str, Callable[[Any], Any]] = {}

    def register(self, transcoding: Transcoding) -> None:
        """Register ``transcoding`` (as ``JSONTranscoder`` does) and its fast paths."""
        super().register(transcoding)
        if transcoding.type not in (dict, list, float):
            self._encoders[transcoding.type] = _fast_encoder(transcoding) or self._encoder_for(
                transcoding
            )
        else:  # a transcoding for an exact JSON container type: honour it like json's default can't
            self._encoders[transcoding.type] = self._encoder_for(transcoding)
        decoder = _FAST_DECODERS.get(type(transcoding), transcoding.decode)
        self._decoders[transcoding.name] = decoder

    def _encoder_for(self, transcoding: Transcoding) -> Callable[[Any], Any]:
        name, encode, plain = transcoding.name, transcoding.encode, self._plain
        return lambda obj: {"_type_": name, "_data_": plain(encode(obj))}

    def encode(self, obj: Any) -> bytes:
        """Encode ``obj`` as compact UTF-8 JSON bytes."""
        try:
            encoded = orjson.dumps(self._plain(obj), default=_refuse, option=_OPTIONS)
            # orjson's result sits in an oversized heap block; when the caller
            # keeps many of them (a batch of events waiting to be inserted) that
            # costs a fresh page per event. A right-sized copy is ~10x cheaper
            # than the page faults (see docs/performance.md, "transcode").
            return bytes(memoryview(encoded))
        except (_UseStdlib, orjson.JSONEncodeError, RecursionError) as exc:
            cause = exc.__cause__
            if cause is not None and not isinstance(cause, _UseStdlib):
                raise cause from None
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        """Decode bytes written by this transcoder or by ``JSONTranscoder``."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        if b"_type_" in data:
            try:
                return self._revive(obj)
            except (_UseStdlib, RecursionError):
                return super().decode(data)
        if _LONG_DIGIT_RUN.search(data) is not None:
            return super().decode(data)
        return obj

    # -- encoding ---------------------------------------------------------------

    def _plain(self, value: Any) -> Any:
        """Return ``value`` as plain JSON values (the same object if nothing changed)."""
        t = type(value)
        if t in _PLAIN:
            return value
        encoder = self._encoders.get(t)
        if encoder is not None:
            return encoder(value)
        return self._plain_other(value)

    def _plain_dict(self, d: dict[Any, Any]) -> dict[Any, Any]:
        encoders = self._encoders
        out: dict[Any, Any] | None = None
        for k, v in d.items():
            t = type(v)
            if t in _PLAIN:
                continue
            encoder = encoders.get(t)
            p = encoder(v) if encoder is not None else self._plain_other(v)
            if p is not v:
                if out is None:
                    out = dict(d)
                out[k] = p
        return d if out is None else out

    def _plain_list(self, items: list[Any]) -> list[Any]:
        encoders = self._encoders
        out: list[Any] | None = None
        for i, v in enumerate(items):
            t = type(v)
            if t in _PLAIN:
                continue
            encoder = encoders.get(t)
            p = encoder(v) if encoder is not None else self._plain_other(v)
            if p is not v:
                if out is None:
                    out = list(items)
                out[i] = p
        return items if out is None else out

    def _plain_other(self, value: Any) -> Any:
        """A value of a type without a registered transcoding: do what ``json`` does.

        Subclasses of the JSON types (including ``IntEnum``/``StrEnum`` members)
        are written as their base value, tuples as lists, and anything else
        raises :class:`~eventsourcing.persistence.TranscodingNotRegisteredError`.
        """
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return _plain_float(float.__float__(value))
        if isinstance(value, list | tuple):
            return [self._plain(v) for v in value]
        if isinstance(value, dict):
            return self._plain_dict(dict(value))
        return self._encode_obj(value)  # raises TranscodingNotRegisteredError

    # -- decoding ---------------------------------------------------------------

    def _revive(self, value: Any) -> Any:
        """Revive tagged dicts in a freshly decoded value, innermost first, in place."""
        t = type(value)
        if t is dict:
            return self._revive_dict(value)
        if t is list:
            self._revive_list(value)
        elif t is float and not -_INT64_LIMIT < value < _INT64_LIMIT:
            raise _UseStdlib
        return value

    def _revive_dict(self, d: dict[str, Any]) -> Any:
        decoders = self._decoders
        for k, v in d.items():
            t = type(v)
            if t is dict:
                # Inline the commonest case, a tag around a string (a UUID, a
                # datetime, a Decimal): one call fewer per tagged value.
                if len(v) == 2 and type(data := v.get("_data_")) is str:
                    decoder = decoders.get(v.get("_type_"))
                    if decoder is not None:
                        d[k] = decoder(data)  # replacing a value does not resize the dict
                        continue
                d[k] = self._revive_dict(v)
            elif t is list:
                self._revive_list(v)
            elif t is float and not -_INT64_LIMIT < v < _INT64_LIMIT:
                raise _UseStdlib
        if len(d) == 2 and "_data_" in d:
            name = d.get("_type_")
            if type(name) is str:
                decoder = decoders.get(name)
                if decoder is not None:
                    return decoder(d["_data_"])
            return self._decode_obj(d)  # not registered: raises like JSONTranscoder
        return d

    def _revive_list(self, items: list[Any]) -> None:
        decoders = self._decoders
        for i, v in enumerate(items):
            t = type(v)
            if t is dict:
                if len(v) == 2 and type(data := v.get("_data_")) is str:
                    decoder = decoders.get(v.get("_type_"))
                    if decoder is not None:
                        items[i] = decoder(data)
                        continue
                items[i] = self._revive_dict(v)
            elif t is list:
                self._revive_list(v)
            elif t is float and not -_INT64_LIMIT < v < _INT64_LIMIT:
                raise _UseStdlib


def _plain_float(value: float) -> float:
    if value - value != 0.0:  # inf or nan: json writes them, orjson would write null
        raise _UseStdlib
    return value
