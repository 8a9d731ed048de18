"""Session-wide test set-up: stop the shared immudb server at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aethyr_immudb_recorder.launcher import ImmudbServer
from tests import immudb_harness


@pytest.fixture(scope="session", autouse=True)
def _stop_immudb_at_exit() -> Iterator[None]:
    yield
    immudb_harness.stop()


@pytest.fixture
def immudb_server() -> ImmudbServer:
    """The session's running immudb server (fails in CI if it cannot start)."""
    return immudb_harness.server()


@pytest.fixture
def immudb_database() -> str:
    """A new, empty immudb database on the session's server."""
    return immudb_harness.fresh_database()
