"""Fixtures: every view test runs against each backend on one shared store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from aethyr_domain.read.projections.memory_view import MemoryStore, MemoryWorldView
from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.read.projections.view import WorldView

MakeView = Callable[..., WorldView]

BACKENDS = ["memory", "sqlite", pytest.param("immudb", marks=pytest.mark.immudb)]


@contextmanager
def view_factory(backend: str, tmp_path: Path) -> Iterator[MakeView]:
    """``make_view(generation=None, schema_version=None)`` on one new store of ``backend``."""
    if backend == "memory":
        store = MemoryStore()

        def make_memory(**kwargs: int | None) -> WorldView:
            return MemoryWorldView(store=store, **kwargs)

        yield make_memory
    elif backend == "sqlite":
        datastore = SQLiteDatastore(db_name=str(tmp_path / "views.db"))

        def make_sqlite(**kwargs: int | None) -> WorldView:
            return SQLiteWorldView(datastore, **kwargs)

        try:
            yield make_sqlite
        finally:
            datastore.close()
    else:
        from aethyr_domain.read.projections.immudb_view import ImmudbWorldView
        from tests.recorder.support import fresh_datastore

        immudb = fresh_datastore()

        def make_immudb(
            *, generation: int | None = None, schema_version: int | None = None
        ) -> WorldView:
            return ImmudbWorldView(
                datastore=immudb, generation=generation, schema_version=schema_version
            )

        try:
            yield make_immudb
        finally:
            immudb.close()


@pytest.fixture(params=BACKENDS)
def make_view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeView]:
    """``make_view(generation=None, schema_version=None)``: a view on this test's store."""
    with view_factory(request.param, tmp_path) as make:
        yield make


@pytest.fixture
def make_view_for(tmp_path: Path) -> Iterator[Callable[[str], MakeView]]:
    """``make_view_for(backend)``: :func:`view_factory` for a backend the test names."""
    with ExitStack() as stack:
        yield lambda backend: stack.enter_context(view_factory(backend, tmp_path))
