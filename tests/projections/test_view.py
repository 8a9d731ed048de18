"""The view interface: rows and tracking are written together or not at all."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from aethyr_domain.read.projections.view import Rows
from tests.projections.conftest import MakeView

SWORD = {
    "id": "sword",
    "name": "sword",
    "generic": "sword",
    "container_id": "room",
    "attributes": {"sharp": True, "weight": 3},
    "deleted": False,
}


def test_put_get_select_update_delete(make_view: MakeView) -> None:
    view = make_view()

    def write(rows: Rows) -> None:
        rows.put("game_objects", SWORD)
        rows.put("game_objects", {**SWORD, "id": "axe", "name": "axe", "container_id": None})
        rows.put(
            "inventories",
            {"holder_id": "room", "item_id": "sword", "position": [1, 2], "arrival": 1},
        )

    view.apply(Tracking("World", 1), write)
    with view.read() as rows:
        assert rows.get("game_objects", ("sword",)) == SWORD
        assert rows.get("game_objects", ("nothing",)) is None
        assert [r["id"] for r in rows.select("game_objects")] == ["axe", "sword"]
        assert [r["id"] for r in rows.select("game_objects", container_id=None)] == ["axe"]
        assert rows.select("inventories", holder_id="room")[0]["position"] == [1, 2]

    def delete_sword(rows: Rows) -> None:
        rows.update("game_objects", ("sword",), deleted=True)

    view.apply(Tracking("World", 2), delete_sword)
    view.apply(Tracking("World", 3), lambda rows: rows.delete("game_objects", ("axe",)))
    rows_now = view.rows("game_objects")
    assert [(r["id"], r["deleted"]) for r in rows_now] == [("sword", True)]
    with view.read() as rows:
        assert rows.update("game_objects", ("ghost",), name="x") is False
    assert view.max_tracking_id("World") == 3
    assert view.max_tracking_id("Other") is None


def test_a_failing_change_writes_neither_rows_nor_tracking(make_view: MakeView) -> None:
    view = make_view()
    view.apply(Tracking("World", 1), lambda rows: rows.put("game_objects", SWORD))

    def half_then_fail(rows: Rows) -> None:
        rows.update("game_objects", ("sword",), name="broken")
        rows.put("players", {"id": "p", "name": "P", "admin": False})
        raise RuntimeError("projection bug")

    with pytest.raises(RuntimeError):
        view.apply(Tracking("World", 2), half_then_fail)
    assert view.rows("game_objects") == [SWORD | {"name": "sword"}]
    assert view.rows("players") == []
    assert view.max_tracking_id("World") == 1


def test_tracking_must_move_forward(make_view: MakeView) -> None:
    view = make_view()
    view.apply(Tracking("World", 5), lambda rows: rows.put("game_objects", SWORD))

    def rename_sword(rows: Rows) -> None:
        rows.update("game_objects", ("sword",), name="dup")

    for stale in (5, 4):
        with pytest.raises(IntegrityError):
            view.apply(Tracking("World", stale), rename_sword)
    assert view.rows("game_objects")[0]["name"] == "sword"
    view.insert_tracking(Tracking("World", 7))
    assert view.has_tracking_id("World", 6)
    assert not view.has_tracking_id("World", 8)


def test_a_second_view_on_the_same_store_sees_the_rows(make_view: MakeView) -> None:
    first = make_view()
    first.apply(Tracking("World", 1), lambda rows: rows.put("game_objects", SWORD))
    second = make_view()
    assert second.generation == first.generation == 1
    assert second.rows("game_objects") == [SWORD]
    assert second.max_tracking_id("World") == 1


def test_unknown_tables_and_columns_are_errors(make_view: MakeView) -> None:
    view = make_view()
    with view.read() as rows, pytest.raises(KeyError):
        rows.select("no_such_table")
    with view.read() as rows, pytest.raises(KeyError):
        rows.select("game_objects", no_such_column=1)
