"""A batch of events read once and written once (:mod:`.projections.batch_rows`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from aethyr_domain.application import World
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.sql_rows import SqlTransaction
from aethyr_domain.read.projections.view import Rows
from aethyr_domain.read.world_dump import dumps
from tests.projections.conftest import MakeView
from tests.projections.scenario import FAST_ENV, play
from tests.projections.test_projection import projected_json


def _events(world: World) -> list[tuple[Any, Tracking]]:
    notifications = world.recorder.select_notifications(start=1, limit=10_000)
    return [(world.mapper.to_domain_event(n), Tracking(world.name, n.id)) for n in notifications]


def test_the_whole_log_in_one_batch_equals_the_live_world(make_view: MakeView) -> None:
    """Every event of the script (creations, moves, deletions, re-adds of one key) in ONE
    view transaction gives the rows one-event-per-transaction gives, and tracks the last."""
    world = World(env=FAST_ENV)
    live = play(world)
    items = _events(world)
    one_batch = make_view()
    WorldProjection(one_batch).process_events([e for e, _ in items], items[-1][1])
    assert projected_json(one_batch) == dumps(live)
    assert one_batch.max_tracking_id(world.name) == items[-1][1].notification_id

    per_event = one_batch.open_generation(one_batch.generation + 1)
    ProjectionService(world, per_event).catch_up(batch_size=1)
    assert projected_json(per_event) == projected_json(one_batch)


def test_a_refused_batch_writes_nothing(make_view: MakeView) -> None:
    """The tracking check comes first: a batch at or before the view's position keeps
    none of its rows (exactly once, as with one event per transaction)."""
    world = World(env=FAST_ENV)
    play(world)
    items = _events(world)
    view = make_view()
    projection = WorldProjection(view)
    projection.process_events([e for e, _ in items[:3]], items[2][1])
    before = projected_json(view)
    with pytest.raises(IntegrityError):
        projection.process_events([e for e, _ in items[3:]], items[1][1])
    assert projected_json(view) == before
    assert view.max_tracking_id(world.name) == items[2][1].notification_id


def test_reads_see_the_batch_own_writes() -> None:
    """``get`` and ``select`` answer from the rows written earlier in the batch (puts,
    updates, deletes), then the store's rows."""
    view = MemoryWorldView()
    view.apply(
        None,
        lambda rows: rows.put(
            "inventories", {"holder_id": "h", "item_id": "a", "position": None, "arrival": 1}
        ),
    )
    seen: dict[str, Any] = {}

    def change(rows: Rows) -> None:
        rows.prefetch("inventories", "holder_id", ["h", "g"])
        rows.put("inventories", {"holder_id": "h", "item_id": "b", "position": None, "arrival": 2})
        rows.delete("inventories", ("h", "a"))
        rows.put("inventories", {"holder_id": "g", "item_id": "c", "position": None, "arrival": 1})
        rows.update("inventories", ("g", "c"), holder_id="h")  # moved to another holder's key
        seen["h"] = [r["item_id"] for r in rows.select("inventories", holder_id="h")]
        seen["a"] = rows.get("inventories", ("h", "a"))
        seen["b"] = rows.get("inventories", ("h", "b"))

    view.apply(None, change)
    assert seen["h"] == ["b", "c"]
    assert seen["a"] is None
    assert seen["b"] == {"holder_id": "h", "item_id": "b", "position": None, "arrival": 2}
    assert [(r["holder_id"], r["item_id"]) for r in view.rows("inventories")] == [
        ("g", "c"),
        ("h", "b"),
        ("h", "c"),
    ]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("immudb", marks=pytest.mark.immudb)])
def test_a_sql_batch_costs_a_few_calls_not_two_per_event(
    backend: str, make_view_for: Callable[[str], MakeView], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the SQL views a batch of many events makes a handful of queries and statements
    (one read per table or row, one multi-row write per table; on immudb ONE call
    writes them all), not one of each per event."""
    world = World(env=FAST_ENV)
    play(world)
    items = _events(world)
    view = make_view_for(backend)()
    calls: list[str] = []
    init = SqlTransaction.__init__

    def counting_init(
        self: SqlTransaction, dialect: Any, generation: int, execute: Any, query: Any, *rest: Any
    ) -> None:
        def counted_execute(sql: str, params: dict[str, Any]) -> None:
            calls.append("execute")
            execute(sql, params)

        def counted_query(sql: str, params: dict[str, Any]) -> Any:
            calls.append("query")
            return query(sql, params)

        init(self, dialect, generation, counted_execute, counted_query, *rest)

    monkeypatch.setattr(SqlTransaction, "__init__", counting_init)
    WorldProjection(view).process_events([e for e, _ in items], items[-1][1])
    events = len(items)
    assert events > 30
    assert 0 < calls.count("query") < events / 3
    assert 0 < calls.count("execute") < events / 3
    if backend == "immudb":
        assert calls.count("execute") == 1
