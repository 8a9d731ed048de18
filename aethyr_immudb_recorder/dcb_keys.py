"""The KV layout of the DCB recorder: which keys hold what, and how events are packed.

Every key of one DCB "table" starts with the table's name and ``:``
(``dcb_dcb_events:``). After it, one letter says what the key holds::

    {t}:s                         the last position (u64), rewritten by every append
    {t}:n <u64 last position>     every event of one append, in position order (the log)
    {t}:g <tag> <u64 last pos>    the events of one append that carry <tag> (tag index)
    {t}:y <type> <u64 last pos>   the events of one append of type <type> (type index)
    {t}:l <tag>                   the last position (u64) of an event with <tag>,
                                  rewritten by every append with that tag (tag guard)
    {t}:r <16-byte request id>    empty; written by each append request, so a writer
                                  whose reply was lost can tell whether it committed

``<tag>`` and ``<type>`` are ``u16 length + UTF-8`` (a length prefix, not a
terminator, so tag ``ab`` never sorts inside tag ``abc``). Positions are big-endian,
so a ``Scan`` of ``{t}:g <tag>`` seeking past ``<u64 P>`` returns exactly the blobs
holding events of that tag after ``P``, in position order: a read by tag touches
only blobs of that tag, never the whole log.

An index blob holds whole copies of its events (not references): immudb rebuilds a
transaction's hash tree for every entry a ``Scan`` returns, so following references
would cost a read per event. The price is storage: an event is written once in the
log, once per tag and once per type.

A value is a one-byte header ``0x01`` then records. A record is::

    u64 position | u32 len + type | u16 tag count | (u16 len + tag)* | u32 len + data
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eventsourcing.dcb.api import DCBEvent, DCBSequencedEvent
from eventsourcing.persistence import DataError

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")

HEADER = b"\x01"
"""The header of every DCB value (one whole blob)."""

MAX_NAME_BYTES = 512
"""Longest tag or type (UTF-8 bytes): its index key must fit immudb's 1 KB keys."""


@dataclass(frozen=True)
class DCBLayout:
    """The key prefixes of one DCB table."""

    table: str

    @property
    def base(self) -> bytes:
        return self.table.encode() + b":"

    @property
    def counter(self) -> bytes:
        return self.base + b"s"

    @property
    def log(self) -> bytes:
        return self.base + b"n"

    def tag_prefix(self, tag: str) -> bytes:
        return self.base + b"g" + name_key(tag)

    def receipt_key(self, request_id: bytes) -> bytes:
        return self.base + b"r" + request_id

    def last_prefix(self, tag: str) -> bytes:
        return self.base + b"l" + name_key(tag)

    def type_prefix(self, type_: str) -> bytes:
        return self.base + b"y" + name_key(type_)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def from_u64(raw: bytes) -> int:
    return int(_U64.unpack(raw)[0])


def name_key(name: str) -> bytes:
    raw = name.encode()
    return _U16.pack(len(raw)) + raw


def encode_event(event: DCBEvent) -> bytes:
    """One record without its position (8 zero bytes, filled in by :func:`with_position`)."""
    type_ = event.type.encode()
    parts = [b"\0" * 8, _U32.pack(len(type_)), type_, _U16.pack(len(event.tags))]
    for tag in event.tags:
        raw = tag.encode()
        parts.append(_U16.pack(len(raw)))
        parts.append(raw)
    parts.append(_U32.pack(len(event.data)))
    parts.append(bytes(event.data))
    return b"".join(parts)


def with_position(record: bytes, position: int) -> bytes:
    return _U64.pack(position) + record[8:]


def decode_events(value: bytes) -> list[DCBSequencedEvent]:
    """Every event of one value (header included), in the order written."""
    if value[:1] != HEADER:
        msg = "an immudb value is not a DCB event blob of this recorder"
        raise DataError(msg)
    view = memoryview(value)
    pos = 1
    end = len(view)
    events = []
    try:
        while pos < end:
            (position,) = _U64.unpack_from(view, pos)
            (n,) = _U32.unpack_from(view, pos + 8)
            pos += 12
            type_ = str(view[pos : pos + n], "utf-8")
            pos += n
            (count,) = _U16.unpack_from(view, pos)
            pos += 2
            tags = []
            for _ in range(count):
                (n,) = _U16.unpack_from(view, pos)
                pos += 2
                tags.append(str(view[pos : pos + n], "utf-8"))
                pos += n
            (n,) = _U32.unpack_from(view, pos)
            pos += 4
            data = bytes(view[pos : pos + n])
            if len(data) != n:
                raise ValueError("truncated data")
            pos += n
            events.append(DCBSequencedEvent(DCBEvent(type_, data, tags), position))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        msg = f"an immudb value is not a DCB event blob of this recorder ({exc})"
        raise DataError(msg) from None
    return events
