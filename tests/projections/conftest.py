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

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def make_view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeView]:
    """``make_view(generation=None, schema_version=None)``: a view on this test's store."""
    if request.param == "memory":
        store = MemoryStore()

        def make_memory(**kwargs: int | None) -> WorldView:
            return MemoryWorldView(store=store, **kwargs)

        yield make_memory
    else:
        datastore = SQLiteDatastore(db_name=str(tmp_path / "views.db"))

        def make_sqlite(**kwargs: int | None) -> WorldView:
            return SQLiteWorldView(datastore, **kwargs)

        yield make_sqlite
        datastore.close()
