"""Every value the World can hold round-trips through every read model exactly as the
replay sees it (property test).

"Can hold" is wider than what the values rule lets a command write today: the event
log is append-only, so a store written before the rule may hold integers of any size,
``nan``/``inf`` and any string the event transcoder can write. The values are appended
straight through the recorder (:mod:`tests.projections.legacy`), applied to a view by a
catch-up, and compared with the aggregates' state and with the in-memory replay as
canonical JSON text (which tells ``1`` from ``1.0`` and ``True`` and spells ``nan``).
The memory and SQLite views run the full example count; immudb, on a real server, a
shorter run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aethyr_domain import commands
from aethyr_domain.application import World
from aethyr_domain.read.projections.json_values import decode_json, encode_json
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.view import WorldView
from aethyr_domain.read.replay import replay_world
from tests.projections.conftest import MakeView
from tests.projections.legacy import record_legacy_attribute
from tests.projections.scenario import FAST_ENV

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]),  # UTF-8 cannot hold surrogates
    max_size=40,
)
"""Unicode text: any code point the log's UTF-8 JSON can hold, NUL and controls too."""

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)  # far beyond 64 bits
    | st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**64) - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | st.text(min_size=1000, max_size=5000)  # long strings
)
KEYS = TEXT.filter(lambda k: k not in {"_type_", "_data_"})
"""Dict keys (the transcoder reserves ``_type_``/``_data_`` pairs for its own types)."""

JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def canonical(value: Any) -> str:
    """Exact text for a JSON value (``nan`` == ``nan`` here, ``1`` != ``1.0``)."""
    return json.dumps(value, sort_keys=True, allow_nan=True, ensure_ascii=False)


def test_json_column_text_round_trips_edge_values() -> None:
    for value in [
        10**29,
        -(10**40),
        2**64,
        [float("nan"), float("inf"), float("-inf"), None],
        {"n": 10**30, "s": "\x00é\U0001f600", "f": -0.0},
        "12345678901234567890123",  # a long digit run inside a string
    ]:
        text = encode_json(value)
        assert text is not None
        assert canonical(decode_json(text)) == canonical(value)
    assert encode_json(None) is None and decode_json(None) is None
    assert encode_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'  # sorted, compact
    big = encode_json({"b": 10**30, "a": 2})  # the fallback: marked by a leading space
    assert big == ' {"a":2,"b":1000000000000000000000000000000}'
    assert decode_json('{"n": 1e400}') == {"n": float("inf")}  # not ours: read leniently
    assert decode_json(' {"n":NaN}')["n"] != decode_json(' {"n":NaN}')["n"]  # nan


def attributes_of(view: WorldView, object_id: str) -> Any:
    row = view.query(lambda rows: rows.get("game_objects", (object_id,)))
    assert row is not None
    return row["attributes"]


def check_round_trip(make_view: MakeView, examples: int) -> None:
    world = World(env=FAST_ENV)
    world.handle(
        commands.CreateGameObject(
            id="thing", name="thing", generic="thing", container_id=None, actor="system"
        )
    )
    view = make_view()
    service = ProjectionService(world, view)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), JSON_VALUES), max_size=3))
    def round_trip(values: list[tuple[str, Any]]) -> None:
        for key, value in values:
            record_legacy_attribute(world, "thing", key, value)
        service.catch_up()
        held = world.get("thing").attributes
        stored = attributes_of(view, "thing")
        assert canonical(stored) == canonical(held)  # the view == the aggregate
        replayed = next(o for o in replay_world(world).world["objects"] if o["id"] == "thing")
        assert canonical(stored) == canonical(replayed["attributes"])  # == the replay

    round_trip()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_every_value_round_trips_through_the_view(
    backend: str, make_view_for: Callable[[str], MakeView]
) -> None:
    check_round_trip(make_view_for(backend), examples=80)


@pytest.mark.immudb
def test_every_value_round_trips_through_the_immudb_view(
    make_view_for: Callable[[str], MakeView],
) -> None:
    check_round_trip(make_view_for("immudb"), examples=25)
