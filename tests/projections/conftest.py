"""Fixtures: every view test runs against each backend on one shared store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from aethyr_domain.projections.memory_view import MemoryStore, MemoryWorldView
from aethyr_domain.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.projections.view import WorldView

MakeView = Callable[..., WorldView]

BACKENDS = ["memory", "sqlite", pytest.param("immudb", marks=pytest.mark.immudb)]


@pytest.fixture(params=BACKENDS)
def make_view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeView]:
    """``make_view(generation=None, schema_version=None)``: a view on this test's store."""
    if request.param == "memory":
        store = MemoryStore()

        def make_memory(**kwargs: int | None) -> WorldView:
            return MemoryWorldView(store=store, **kwargs)

        yield make_memory
    elif request.param == "sqlite":
        datastore = SQLiteDatastore(db_name=str(tmp_path / "views.db"))

        def make_sqlite(**kwargs: int | None) -> WorldView:
            return SQLiteWorldView(datastore, **kwargs)

        yield make_sqlite
        datastore.close()
    else:
        from aethyr_domain.projections.immudb_view import ImmudbWorldView
        from tests.recorder.support import fresh_datastore

        immudb = fresh_datastore()

        def make_immudb(**kwargs: int | None) -> WorldView:
            return ImmudbWorldView(datastore=immudb, **kwargs)

        yield make_immudb
        immudb.close()
