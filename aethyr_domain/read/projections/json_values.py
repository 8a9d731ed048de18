"""JSON text for the read model's ``json`` columns, exact for every value the log holds.

The SQL views (SQLite, immudb SQL) store a ``json`` column (an object's
``attributes``, an inventory ``position``) as text. orjson writes and reads
that text fast, but not every value the event log can hold:

* integers outside the signed/unsigned 64-bit range - orjson refuses to write
  them (``TypeError: Integer exceeds 64-bit range``) and reads them back as
  floats;
* ``nan`` and the infinities - orjson writes them as ``null`` (silently lossy).

The values rule (:mod:`aethyr_domain.values`) refuses such values in new
commands, but the event log is append-only: a store written before that rule
may already hold one, and its read models must still store it and read back the
same value the replay sees. So :func:`encode_json` falls back to the standard
library, which writes any integer as its digits and non-finite floats as
``NaN``/``Infinity``/``-Infinity`` (the same spelling the event transcoder
uses), and :func:`decode_json` reads such text back exactly.

Text written by the fallback starts with one space (:data:`STDLIB_MARK`; JSON
allows leading whitespace, so the column still holds plain JSON for anyone who
reads it with SQL). orjson never writes it, so :func:`decode_json` knows which
reader is exact from the first character alone - looking for long digit runs
instead would cost a regular-expression scan of every row read (about 5x the
orjson decode itself). Rows written before this module existed came from
orjson only (it could not write the other values) and read as before.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

STDLIB_MARK = " "
"""The first character of text the standard-library fallback wrote."""


def _has_non_finite(value: Any) -> bool:
    """``True`` if ``value`` holds a ``nan`` or an infinity anywhere inside."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _stdlib(value: Any) -> str:
    return STDLIB_MARK + json.dumps(
        value, sort_keys=True, ensure_ascii=False, allow_nan=True, separators=(",", ":")
    )


def encode_json(value: Any) -> str | None:
    """JSON text with sorted keys for a ``json`` column (``None`` stays NULL).

    Exact for every JSON value, including integers of any size and non-finite
    floats (see the module docstring).
    """
    if value is None:
        return None
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # JSONEncodeError: an integer beyond 64 bits, a non-str key
        return _stdlib(value)
    if b"null" in data and _has_non_finite(value):  # orjson wrote nan/inf as null
        return _stdlib(value)
    return data.decode()


def decode_json(text: str | bytes | None) -> Any:
    """The value :func:`encode_json` wrote (``None`` for NULL)."""
    if text is None:
        return None
    raw = text.decode() if isinstance(text, bytes) else text
    if raw.startswith(STDLIB_MARK):
        return json.loads(raw)  # exact for big integers and NaN/Infinity
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # not written by encode_json: the lenient reader
