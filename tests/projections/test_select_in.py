"""``Rows.select_in``: many keys in few queries, the same rows on every view.

immudb 1.11 reads a whole table for ``WHERE key IN (...)``, so its view asks one
``UNION ALL`` of index lookups per :data:`~.sql_rows.VALUES_PER_UNION` keys
instead (:attr:`~.sql_rows.SqlDialect.in_list_by_union`). Whatever the spelling,
the answer must be the rows an ``IN`` gives (the SQL views: in primary-key order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid5

import pytest

from aethyr_domain.read.projections.sql_rows import VALUES_PER_UNION, SqlTransaction
from aethyr_domain.read.projections.view import Rows
from tests.projections.conftest import MakeView

NAMESPACE = UUID("6f1c1c2e-1d7a-4c55-9d2b-4f0c2f9e1a10")
OBJECTS = VALUES_PER_UNION + 30  # more keys than one UNION holds


def _id(n: int) -> str:
    return str(uuid5(NAMESPACE, str(n)))


def _seed(rows: Rows) -> None:
    for n in range(OBJECTS):
        rows.put(
            "game_objects",
            {
                "id": _id(n),
                "name": f"thing {n}",
                "generic": "thing",
                "container_id": _id(n % 7),
                "attributes": {"n": n},
                "deleted": False,
            },
        )
        for item in (f"a{n}", f"b{n}"):  # two rows per holder: a key prefix matches both
            rows.put(
                "inventories",
                {"holder_id": _id(n), "item_id": item, "position": None, "arrival": 1},
            )


def _by_key(rows: list[dict[str, Any]], *key: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(row[k] for k in key))


def test_select_in_gives_the_rows_an_in_list_gives(make_view: MakeView) -> None:
    view = make_view()
    view.apply(None, _seed)
    every_object = view.rows("game_objects")
    every_held = view.rows("inventories")
    wanted = [*(_id(n) for n in reversed(range(OBJECTS))), "no-such-id"]
    few = [_id(3), _id(1)]

    def ask(rows: Rows) -> tuple[list[Any], ...]:
        return (
            rows.select_in("game_objects", "id", wanted),
            rows.select_in("game_objects", "id", few),
            rows.select_in("inventories", "holder_id", few),
            rows.select_in("inventories", "item_id", ["b2", "a5", "zz"]),  # not a key prefix
            rows.select_in("game_objects", "container_id", [_id(0), _id(2)]),
            rows.select_in("game_objects", "id", []),
        )

    answers = view.query(ask)
    if view.__class__.__name__ != "MemoryWorldView":  # SQL: ordered by the primary key
        assert answers[0] == _by_key(answers[0], "id")
        assert answers[2] == _by_key(answers[2], "holder_id", "item_id")
    objects, two, held, items, contained, none = (
        _by_key(rows, "holder_id", "item_id")
        if rows and "holder_id" in rows[0]
        else _by_key(rows, "id")
        for rows in answers
    )
    assert objects == _by_key(every_object, "id")
    assert len(objects) == OBJECTS
    assert two == _by_key([r for r in every_object if r["id"] in few], "id")
    assert held == _by_key([r for r in every_held if r["holder_id"] in few], "holder_id", "item_id")
    assert len(held) == 4
    assert items == _by_key(
        [r for r in every_held if r["item_id"] in ("b2", "a5")], "holder_id", "item_id"
    )
    assert contained == _by_key(
        [r for r in every_object if r["container_id"] in (_id(0), _id(2))], "id"
    )
    assert none == []


@pytest.mark.immudb
def test_immudb_looks_keys_up_by_index_not_in(
    make_view_for: Callable[[str], MakeView], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On immudb a key column is asked as ``UNION ALL`` of ``=`` lookups, one query per
    VALUES_PER_UNION keys; a column that does not lead the key still uses ``IN``."""
    view = make_view_for("immudb")()
    view.apply(None, _seed)
    statements: list[str] = []
    init = SqlTransaction.__init__

    def recording_init(
        self: SqlTransaction, dialect: Any, generation: int, execute: Any, query: Any, *rest: Any
    ) -> None:
        def recorded_query(sql: str, params: dict[str, Any]) -> Any:
            statements.append(sql)
            return query(sql, params)

        init(self, dialect, generation, execute, recorded_query, *rest)

    monkeypatch.setattr(SqlTransaction, "__init__", recording_init)
    keys = [_id(n) for n in range(OBJECTS)]
    found = view.query(lambda rows: rows.select_in("game_objects", "id", keys))
    assert len(found) == OBJECTS
    assert len(statements) == 2  # 130 keys: 100 + 30
    assert all(" IN (" not in sql and "UNION ALL" in sql for sql in statements)
    statements.clear()
    view.query(lambda rows: rows.select_in("inventories", "item_id", ["a1", "b1"]))
    assert len(statements) == 1
    assert " IN (" in statements[0]
