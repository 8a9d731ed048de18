"""The recorder survives an immudb restart (own synced server on a temp dir)."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.utils import Environment
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from tests import immudb_harness

pytestmark = pytest.mark.immudb  # slow: set by path (tests/conftest.py)


def events(n: int) -> list[StoredEvent]:
    return [
        StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b"{}")
        for _ in range(n)
    ]


def test_recorder_reconnects_after_a_server_restart(tmp_path) -> None:
    immudb_harness.server()  # the binary is built (or the test fails/skips like the others)
    registry = CollectorRegistry()
    with ImmudbServer(data_dir=tmp_path / "data", synced=True) as server:
        env = {
            "IMMUDB_HOST": server.host,
            "IMMUDB_PORT": str(server.port),
            "IMMUDB_DATABASE": "restartdb",  # created by the factory
            "IMMUDB_MAX_RETRIES": "10",
            "IMMUDB_RETRY_DELAY": "0.05",
            "IMMUDB_RETRY_MAX_DELAY": "0.5",
        }
        factory = ImmudbFactory(Environment("World", env), registry=registry)
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, ImmudbApplicationRecorder)
            assert recorder.insert_events(events(3)) == [1, 2, 3]

            server.restart()  # sessions are gone, the channel must reconnect

            assert recorder.insert_events(events(2)) == [4, 5]
            assert recorder.max_notification_id() == 5
            assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 2, 3, 4, 5]

            server.stop()  # down for good: bounded retries, then OperationalError
            with pytest.raises(OperationalError):
                recorder.max_notification_id()

            server.start()  # back again: the same recorder keeps working
            assert recorder.insert_events(events(1)) == [6]
        finally:
            factory.close()
    retries = sum(
        registry.get_sample_value("aethyr_recorder_retries_total", {"reason": reason}) or 0
        for reason in ("session", "unavailable")
    )
    assert retries >= 1
