"""The KV layout: which keys hold what, and how records are packed into values.

Every key of one recorder "table" starts with the table's name and ``:``
(``world_events:``); table names are ``[a-z_][a-z0-9_]*``, so no prefix is a
prefix of another. After it, one letter says what the key holds::

    {t}:s                         the last notification id (u64), rewritten by every batch
    {t}:n <u64 last id>           the batch's records in id order (the notification log)
    {t}:a <oid> <version>         one aggregate's records from one batch; <version> is
                                  the highest version of that aggregate in the batch
    {t}:e <oid> <version>         empty; exists only so KeyMustNotExist refuses a
                                  second event with the same (originator id, version)
    {t}:u                         marker: this table was copied from the SQL layout
    {t}:t <application name>      tracking: the position (u64) of that upstream app

``<oid>`` is ``u16 length + UTF-8`` of ``str(originator_id)`` (a length prefix,
not a terminator, so ``ab`` never sorts inside ``abc``); ``<version>`` is the
signed 64-bit version with its sign bit flipped, big-endian, so byte order is
numeric order. A value larger than :data:`MAX_VALUE` is split over several keys
in the same transaction: the first keeps the key, the others append ``u16 part``.

A value is a one-byte header then records. Header ``0x01``: the records follow;
``0x02 <u16 parts>``: the first of ``parts`` pieces, joined in key order before
decoding. A record is::

    u64 notification id (0 in aggregate recorders) | u8 1 if the id is a UUID |
    u16 len + originator id (UTF-8) | i64 version | u32 len + topic | u32 len + state
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import DataError, StoredEvent

from aethyr_immudb_recorder.transcoder import _uuid_from_int

MAX_KEY = 1024
"""immudb's longest key (bytes)."""

MAX_VALUE = 32 * 1024 * 1024 - 64
"""The largest value piece written under one key (immudb's default ``maxValueLen`` is 32 MB)."""

SCAN_LIMIT = 2500
"""The most entries one ``Scan`` returns (immudb's ``maxResultSize``)."""

_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_HEAD = struct.Struct(">QBH")  # id, is_uuid, len(originator id)
_MID = struct.Struct(">qI")  # version, len(topic)
_U32 = struct.Struct(">I")
_SIGN = 1 << 63

WHOLE = b"\x01"
FIRST_OF = 2


def u64(value: int) -> bytes:
    return _U64.pack(value)


def from_u64(raw: bytes) -> int:
    return int(_U64.unpack(raw)[0])


def version_key(version: int) -> bytes:
    """The order-preserving 8 bytes of a signed 64-bit version."""
    return _U64.pack(version + _SIGN)


def version_from_key(raw: bytes) -> int:
    return int(_U64.unpack(raw)[0]) - _SIGN


@dataclass(frozen=True)
class Layout:
    """The key prefixes of one recorder table."""

    table: str

    def __post_init__(self) -> None:
        base = self.table.encode() + b":"
        object.__setattr__(self, "counter", base + b"s")
        object.__setattr__(self, "log", base + b"n")
        object.__setattr__(self, "aggregates", base + b"a")
        object.__setattr__(self, "uniques", base + b"e")
        object.__setattr__(self, "upgraded", base + b"u")
        object.__setattr__(self, "tracking_prefix", base + b"t")

    counter: bytes = b""
    log: bytes = b""
    aggregates: bytes = b""
    uniques: bytes = b""
    upgraded: bytes = b""
    tracking_prefix: bytes = b""

    def log_key(self, last_id: int) -> bytes:
        return self.log + _U64.pack(last_id)

    def aggregate_prefix(self, oid: bytes) -> bytes:
        """``oid`` is :func:`oid_key` of the originator id."""
        return self.aggregates + oid

    def tracking_key(self, application_name: str) -> bytes:
        return self.tracking_prefix + application_name.encode()


def oid_key(originator_id: str) -> bytes:
    raw = originator_id.encode()
    return _U16.pack(len(raw)) + raw


def encode_record(notification_id: int, event: StoredEvent, oid: str, is_uuid: bool) -> bytes:
    """One record (see the module docstring); ``oid`` is ``str(event.originator_id)``."""
    raw_oid = oid.encode()
    topic = event.topic.encode()
    state = bytes(event.state)
    return b"".join(
        (
            _HEAD.pack(notification_id, is_uuid, len(raw_oid)),
            raw_oid,
            _MID.pack(event.originator_version, len(topic)),
            topic,
            _U32.pack(len(state)),
            state,
        )
    )


def with_id(record: bytes, notification_id: int) -> bytes:
    """``record`` with its notification id replaced."""
    return _U64.pack(notification_id) + record[8:]


class Record(NamedTuple):
    """A decoded record (a named tuple: cheap to build by the thousand)."""

    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


def decode_records(body: bytes | memoryview) -> list[Record]:
    """Every record of a value body (without its header)."""
    records = []
    uuids: dict[str, UUID] = {}  # a blob often holds one aggregate's events
    view = memoryview(body)
    pos = 0
    end = len(view)
    head = _HEAD.unpack_from
    mid = _MID.unpack_from
    u32 = _U32.unpack_from
    try:
        while pos < end:
            nid, is_uuid, n = head(view, pos)
            pos += 11
            oid = str(view[pos : pos + n], "utf-8")
            pos += n
            version, n = mid(view, pos)
            pos += 12
            topic = str(view[pos : pos + n], "utf-8")
            pos += n
            (n,) = u32(view, pos)
            pos += 4
            state = bytes(view[pos : pos + n])
            pos += n
            if len(state) != n:
                raise ValueError("truncated state")
            if is_uuid:
                uuid = uuids.get(oid)
                if uuid is None:
                    uuid = uuids[oid] = _uuid_from_int(int(oid.replace("-", ""), 16))
                records.append(Record(nid, uuid, version, topic, state))
            else:
                records.append(Record(nid, oid, version, topic, state))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        msg = f"an immudb value is not a record blob of this recorder ({exc})"
        raise DataError(msg) from None
    return records


def split_value(key: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` pieces of one blob: one piece unless larger than :data:`MAX_VALUE`."""
    if len(body) + 1 <= MAX_VALUE:
        return [(key, WHOLE + body)]
    size = MAX_VALUE - 3
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    if len(chunks) > 0xFFFF:
        msg = "a batch is too large for one immudb transaction; nothing was written"
        raise DataError(msg)
    pieces = [(key, bytes([FIRST_OF]) + _U16.pack(len(chunks)) + chunks[0])]
    pieces.extend((key + _U16.pack(i), chunk) for i, chunk in enumerate(chunks[1:], 1))
    return pieces


def join_entries(entries: Sequence[Any], base_length: int) -> list[tuple[Any, bytes]]:
    """Blobs from scanned entries in ascending key order: ``(first entry, body)`` each.

    ``base_length`` is the length of a blob's first key; longer keys are later
    pieces. A blob whose pieces are not all in ``entries`` is left out (the caller
    reads it again with :func:`missing_pieces`).
    """
    blobs: list[tuple[Any, bytes]] = []
    i = 0
    count = len(entries)
    while i < count:
        entry = entries[i]
        value = entry.value
        if len(entry.key) != base_length:  # a piece without its first part in this page
            i += 1
            continue
        if value[:1] == WHOLE:
            blobs.append((entry, value[1:]))
            i += 1
            continue
        if not value or value[0] != FIRST_OF:
            msg = "an immudb value has an unknown header; is this a store of this recorder?"
            raise DataError(msg)
        (parts,) = _U16.unpack_from(value, 1)
        pieces = [entries[j].value for j in range(i + 1, min(i + parts, count))]
        if len(pieces) != parts - 1:
            blobs.append((entry, b""))  # incomplete: marked by an empty body
            i += 1 + len(pieces)
            continue
        blobs.append((entry, value[3:] + b"".join(pieces)))
        i += parts
    return blobs


def check_key(key: bytes, what: str) -> bytes:
    if len(key) > MAX_KEY:
        msg = (
            f"{what} makes an immudb key of {len(key)} bytes, longer than {MAX_KEY}; "
            "nothing was written"
        )
        raise DataError(msg)
    return key


def concat(parts: Iterable[bytes]) -> bytes:
    return b"".join(parts)
