"""Python values to immudb ``SQLValue`` messages and back (no server needed)."""

from __future__ import annotations

import enum
from uuid import uuid4

import pytest

from aethyr_immudb_recorder.sqlvalues import from_sql_value, named_params, to_sql_value


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    """A ``str`` subclass, bound like a ``str``."""


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (True, "b", True),
        (False, "b", False),
        (7, "n", 7),
        (-(2**63), "n", -(2**63)),
        (Level.HIGH, "n", 3),
        ("x", "s", "x"),
        (Name("room"), "s", "room"),
        (b"\x00\xff", "bs", b"\x00\xff"),
        (bytearray(b"ab"), "bs", b"ab"),
        (memoryview(b"cd"), "bs", b"cd"),
    ],
)
def test_values_bind_to_their_field_and_read_back(
    value: object, field: str, expected: object
) -> None:
    message = to_sql_value(value)
    assert message.WhichOneof("value") == field
    assert from_sql_value(message) == expected


def test_none_binds_as_null_and_reads_back_as_none() -> None:
    message = to_sql_value(None)
    assert message.WhichOneof("value") == "null"
    assert from_sql_value(message) is None


def test_uuid_binds_as_its_canonical_string() -> None:
    value = uuid4()
    assert from_sql_value(to_sql_value(value)) == str(value)


def test_unsupported_type_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="Cannot bind a value of type float"):
        to_sql_value(1.5)


def test_named_params_keep_names_and_order() -> None:
    params = named_params({"a": 1, "b": "two", "c": None})
    assert [p.name for p in params] == ["a", "b", "c"]
    assert [from_sql_value(p.value) for p in params] == [1, "two", None]
