"""Python values to and from immudb's ``SQLValue`` messages.

immudb-py's own converters cannot bind ``None`` under protobuf 7 (its
``SQLValue(null=True)`` raises ``TypeError``) and reject ``uuid.UUID``; these
small converters build the protobuf messages directly and cover what the
recorder binds: ``None``, ``bool``, ``int``, ``str``, ``bytes`` and ``UUID``
(sent as its canonical string).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from immudb.grpc import schema_pb2

Params = Mapping[str, Any]
Row = tuple[Any, ...]

_SQLValue = schema_pb2.SQLValue
_NamedParam = schema_pb2.NamedParam
_FIELD_BY_TYPE: dict[type, str] = {bytes: "bs", str: "s", int: "n", bool: "b"}


def to_sql_value(value: Any) -> Any:
    """The ``schema_pb2.SQLValue`` for a Python value."""
    # Exact types first (one dict lookup): this runs once per bound parameter.
    field = _FIELD_BY_TYPE.get(type(value))
    if field is not None:
        return _SQLValue(**{field: value})
    if value is None:
        return _SQLValue(null=0)
    if isinstance(value, int):  # int subclasses (IntEnum); bool cannot be subclassed
        return _SQLValue(n=value)
    if isinstance(value, str):
        return _SQLValue(s=value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _SQLValue(bs=bytes(value))
    if isinstance(value, UUID):
        return _SQLValue(s=str(value))
    msg = f"Cannot bind a value of type {type(value).__name__} as an immudb SQL parameter"
    raise TypeError(msg)


def named_params(params: Params) -> list[Any]:
    """``NamedParam`` messages for a ``{name: value}`` mapping."""
    return [_NamedParam(name=k, value=to_sql_value(v)) for k, v in params.items()]


def from_sql_value(value: Any) -> Any:
    """The Python value of a ``schema_pb2.SQLValue`` (``None`` for NULL)."""
    field = value.WhichOneof("value")
    if field is None or field == "null":
        return None
    return getattr(value, field)


def rows_of(messages: Sequence[Any]) -> list[Row]:
    """Every row of a (streamed) ``SQLQueryResult`` sequence, as tuples."""
    return [
        tuple(from_sql_value(v) for v in row.values) for message in messages for row in message.rows
    ]
