"""Synchronous replication never hangs the write path (real servers on loopback).

Regression: with ``IMMUDB_SYNC_FREQUENCY_MS=0`` on the primary's database immudb's
primary never exports a transaction to a synchronous replica, so every commit waited
until ``IMMUDB_TIMEOUT`` (the ``replicated`` benchmark failed with DEADLINE_EXCEEDED on
both immudb backends; :mod:`aethyr_immudb_recorder.sync_replication`).

* a database created with ``syncFrequency`` 0, then made synchronous by a launcher
  replica (``replicate`` with ``sync``), accepts single and concurrent writes, which
  reach the replica; a recorder started again with ``IMMUDB_SYNC_FREQUENCY_MS=0``
  does not lower the setting back to 0;
* with the synchronous replica gone, a write ends in ``OperationalError`` within
  ``IMMUDB_TIMEOUT`` (bounded), it does not hang.
"""

from __future__ import annotations

import threading
import uuid

from eventsourcing.persistence import OperationalError, StoredEvent
from immudb.grpc import schema_pb2
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.launcher.server import _admin_session
from aethyr_immudb_recorder.sync_replication import MIN_SYNC_FREQUENCY_MS
from tests import immudb_harness


def _env(server: ImmudbServer, database: str, **extra: str) -> dict[str, str]:
    return {
        "IMMUDB_HOST": server.host,
        "IMMUDB_PORT": str(server.port),
        "IMMUDB_DATABASE": database,
        "IMMUDB_SYNC_FREQUENCY_MS": "0",
        **extra,
    }


def _batch(n: int = 1) -> list[StoredEvent]:
    oid = uuid.uuid4()
    return [StoredEvent(oid, i + 1, "t", b"{}") for i in range(n)]


def _sync_frequency(server: ImmudbServer, database: str) -> int:
    with _admin_session(server.address, "immudb", "immudb", database) as (stub, metadata):
        reply = stub.GetDatabaseSettingsV2(
            schema_pb2.DatabaseSettingsRequest(), metadata=metadata, timeout=10.0
        )
    return int(reply.settings.syncFrequency.value)


def test_a_database_with_sync_frequency_0_made_synchronous_accepts_writes() -> None:
    immudb_harness.server()
    with (
        ImmudbServer(synced=False) as primary,
        ImmudbServer(synced=False, replica_of=primary.address, sync=True, watch=False) as replica,
    ):
        database = "sync_" + uuid.uuid4().hex[:10]
        creator = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
        try:
            creator.application_recorder().insert_events(_batch())
        finally:
            creator.close()
        assert _sync_frequency(primary, database) == 0
        replica.replicate(database, sync_frequency_ms=0)
        assert _sync_frequency(primary, database) == MIN_SYNC_FREQUENCY_MS

        factory = ImmudbFactory(
            _env(primary, database, IMMUDB_TIMEOUT="10", IMMUDB_REPLICAS=replica.address),
            registry=CollectorRegistry(),
        )
        try:
            recorder = factory.application_recorder()
            ids = []
            for _ in range(5):
                written = recorder.insert_events(_batch())
                assert written
                ids.append(written[0])
            assert ids == [2, 3, 4, 5, 6]
            errors: list[BaseException] = []

            def writer() -> None:
                try:
                    for _ in range(3):
                        recorder.insert_events(_batch(20))
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=writer) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not any(t.is_alive() for t in threads)
            assert errors == []
            assert recorder.max_notification_id() == 6 + 4 * 3 * 20
            assert factory.replicas is not None
            [lag] = factory.replicas.lag()
            assert lag.caught_up and lag.reachable
        finally:
            factory.close()
        # The recorder asked for 0 again: a synchronous primary keeps at least 1 ms.
        assert _sync_frequency(primary, database) == MIN_SYNC_FREQUENCY_MS


def test_a_write_without_its_synchronous_replica_ends_in_operational_error() -> None:
    immudb_harness.server()
    with ImmudbServer(synced=False) as primary:
        database = "sync_" + uuid.uuid4().hex[:10]
        replica = ImmudbServer(synced=False, replica_of=primary.address, sync=True, watch=False)
        # The first write waits for the new replica to catch up: on a loaded machine
        # (two test processes and more) that once took over 2 s, so it goes through a
        # recorder with the default IMMUDB_TIMEOUT; the bounded one is used after.
        setup = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
        factory = ImmudbFactory(
            _env(primary, database, IMMUDB_TIMEOUT="2"), registry=CollectorRegistry()
        )
        try:
            first = setup.application_recorder()
            with replica:
                replica.replicate(database)
                assert first.insert_events(_batch()) == [1]
                recorder = factory.application_recorder()
            # The replica is gone: the primary cannot collect its one ack.
            outcome: list[object] = []

            def write() -> None:
                try:
                    recorder.insert_events(_batch())
                    outcome.append("acknowledged")
                except OperationalError as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=write, daemon=True)
            thread.start()
            thread.join(30)  # IMMUDB_TIMEOUT is 2 s: far more than enough
            assert not thread.is_alive(), "the write hung past IMMUDB_TIMEOUT"
            [result] = outcome
            assert isinstance(result, OperationalError)
            assert "IMMUDB_TIMEOUT" in str(result)
        finally:
            factory.close()
            setup.close()
