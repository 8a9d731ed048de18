"""Reads from immudb replicas (real primary and replica servers on loopback).

* a replica database, created by ``ImmudbServer(replica_of=...)``, returns the same
  events, notifications and positions as the primary once caught up;
* a recorder given ``IMMUDB_REPLICAS`` reads from a replica only after it holds
  everything the primary had committed, so a follower reading it under load
  receives exactly the notifications a follower of the primary receives;
* a replica that does not answer makes reads fall back to the primary;
* the lag metrics get samples.

``promote`` and ``launcher start --replica-of``, which start servers of their own, are
in ``test_replica_servers.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eventsourcing.persistence import Notification, StoredEvent
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from aethyr_immudb_recorder.replicas import replication_lag
from tests import immudb_harness


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ImmudbServer, ImmudbServer]]:
    """A primary and an asynchronous replica (unsynced: durability is not tested here).

    The replica does not watch the primary for new databases (``watch=False``): each
    test replicates its own database with :func:`_fresh`, so no test waits for a poll;
    ``test_launcher_start_replica_of_replicates_new_databases`` and
    ``test_a_watching_replica_logs_in_to_the_primary_once`` cover watching.
    """
    immudb_harness.server()  # skips or fails like every immudb test when there is none
    primary = ImmudbServer(synced=False).start()
    try:
        with ImmudbServer(synced=False, replica_of=primary.address, watch=False) as replica:
            yield primary, replica
    finally:
        primary.stop()


def _env(primary: ImmudbServer, database: str, **extra: str) -> dict[str, str]:
    return {
        "IMMUDB_HOST": primary.host,
        "IMMUDB_PORT": str(primary.port),
        "IMMUDB_DATABASE": database,
        "IMMUDB_POLL_INTERVAL": "0.01",
        **extra,
    }


def _events(n: int, aggregates: int = 5) -> list[list[StoredEvent]]:
    ids = [uuid.uuid4() for _ in range(aggregates)]
    batches = []
    for i in range(n):
        oid = ids[i % aggregates]
        batches.append(
            [StoredEvent(oid, i // aggregates + 1, f"topic-{i % 3}", f"state {i}".encode())]
        )
    return batches


def _new_database(primary: ImmudbServer) -> str:
    """The name of a new database on the primary (the recorder creates it)."""
    name = "rep_" + uuid.uuid4().hex[:10]
    factory = ImmudbFactory(_env(primary, name), registry=CollectorRegistry())
    try:
        factory.application_recorder()  # creates the database on the primary
    finally:
        factory.close()
    return name


def _fresh(primary: ImmudbServer, replica: ImmudbServer) -> str:
    """A new database on the primary, replicated by ``replica``."""
    name = _new_database(primary)
    replica.replicate(name)
    return name


def test_replica_reads_equal_primary_reads_after_catch_up(
    servers: tuple[ImmudbServer, ImmudbServer],
) -> None:
    primary, replica = servers
    database = _fresh(primary, replica)
    writer = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
    direct = ImmudbFactory(_env(replica, database, CREATE_TABLE="no"), registry=CollectorRegistry())
    try:
        recorder = writer.application_recorder()
        assert isinstance(recorder, ImmudbApplicationRecorder)
        batches = _events(120)
        for batch in batches:
            recorder.insert_events(batch)
        # One transaction of 1,503 entries: the replica database copies the primary's
        # maxTxEntries (10,000 here; immudb's default of 1,024 would refuse it).
        big = uuid.uuid4()
        recorder.insert_events([StoredEvent(big, v, "big", b"x") for v in range(1, 1501)])
        [lag] = replication_lag(writer.datastore, [direct.datastore], max_wait=30)
        assert lag.caught_up and lag.reachable
        on_replica = direct.application_recorder()
        assert isinstance(on_replica, ImmudbApplicationRecorder)
        assert on_replica.select_notifications(None, 2000) == recorder.select_notifications(
            None, 2000
        )
        assert on_replica.max_notification_id() == recorder.max_notification_id() == 1620
        assert on_replica.select_events(big) == recorder.select_events(big)
        oid = batches[0][0].originator_id
        assert on_replica.select_events(oid) == recorder.select_events(oid)
        assert on_replica.select_events(oid, desc=True, limit=3) == recorder.select_events(
            oid, desc=True, limit=3
        )
        assert on_replica.select_records(oid) == recorder.select_records(oid)
        tx = writer.datastore.current_tx_id() - 10
        assert on_replica.notification_id_at_tx(tx) == recorder.notification_id_at_tx(tx)
        ids = [1, 50, 120, 1620]
        assert on_replica.transaction_ids(ids) == recorder.transaction_ids(ids)
    finally:
        writer.close()
        direct.close()


def test_a_follower_of_a_replica_under_load_gets_what_a_follower_of_the_primary_gets(
    servers: tuple[ImmudbServer, ImmudbServer],
) -> None:
    primary, replica = servers
    database = _fresh(primary, replica)
    registry = CollectorRegistry()
    writer = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
    routed = ImmudbFactory(
        _env(primary, database, IMMUDB_REPLICAS=replica.address), registry=registry
    )
    plain = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
    total = 400
    try:
        recorder = writer.application_recorder()
        follower_recorders = [routed.application_recorder(), plain.application_recorder()]
        received: list[list[Notification]] = [[], []]

        def follow(i: int) -> None:
            with follower_recorders[i].subscribe(gt=None) as subscription:
                for notification in subscription:
                    received[i].append(notification)
                    if notification.id >= total:
                        break

        threads = [threading.Thread(target=follow, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        writers = []
        batches = _events(total, aggregates=20)
        chunks = [batches[i::4] for i in range(4)]

        def write(chunk: list[list[StoredEvent]]) -> None:
            for batch in chunk:
                recorder.insert_events(batch)

        for chunk in chunks:
            writers.append(threading.Thread(target=write, args=(chunk,)))
            writers[-1].start()
        for t in writers + threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert [n.id for n in received[0]] == list(range(1, total + 1))
        assert received[0] == received[1]
        samples = [
            s
            for metric in registry.collect()
            if metric.name.startswith("aethyr_recorder_replication_lag")
            for s in metric.samples
        ]
        assert {s.labels["replica"] for s in samples} == {replica.address}
        assert {s.name for s in samples} == {
            "aethyr_recorder_replication_lag_seconds",
            "aethyr_recorder_replication_lag_transactions",
        }
    finally:
        for f in (writer, routed, plain):
            f.close()


def test_reads_fall_back_to_the_primary_when_the_replica_is_down(
    servers: tuple[ImmudbServer, ImmudbServer],
) -> None:
    primary, _ = servers
    name = "rep_" + uuid.uuid4().hex[:10]
    with ImmudbServer(synced=False) as gone:
        dead = gone.address
    factory = ImmudbFactory(
        _env(primary, name, IMMUDB_REPLICAS=dead, IMMUDB_REPLICA_MAX_WAIT="0.5"),
        registry=CollectorRegistry(),
    )
    try:
        recorder = factory.application_recorder()
        [batch] = _events(1)
        recorder.insert_events(batch)
        assert factory.replicas is not None
        assert factory.replicas.reader() is factory.datastore
        assert [n.id for n in recorder.select_notifications(None, 10)] == [1]
    finally:
        factory.close()


def test_a_watching_replica_logs_in_to_the_primary_once(
    servers: tuple[ImmudbServer, ImmudbServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher lists the primary's databases every 0.2 s through ONE session: each
    login costs the primary a bcrypt check (about 66 ms of its CPU), so a login per poll
    kept a third of the primary's core busy for as long as a replica ran."""
    from aethyr_immudb_recorder.launcher import server as launcher_server

    primary, _ = servers
    logins: list[tuple[str, str]] = []
    real = launcher_server._admin_session

    def counted(address: str, user: str, password: str, database: str = "defaultdb") -> Any:
        logins.append((address, database))
        return real(address, user, password, database)

    monkeypatch.setattr(launcher_server, "_admin_session", counted)
    with ImmudbServer(synced=False, replica_of=primary.address) as watcher:
        name = _new_database(primary)
        deadline = time.monotonic() + 20
        while name not in watcher.replicated and time.monotonic() < deadline:
            time.sleep(0.05)
        assert name in watcher.replicated  # the watcher saw it and replicated it
        time.sleep(1.0)  # five more polls
    listing_sessions = [a for a in logins if a == (primary.address, "defaultdb")]
    assert len(listing_sessions) == 1


def test_replica_settings_are_parsed_and_checked() -> None:
    from eventsourcing.utils import Environment

    from aethyr_immudb_recorder.errors import ConfigurationError
    from aethyr_immudb_recorder.settings import ImmudbSettings

    env = Environment("world", {"IMMUDB_REPLICAS": "127.0.0.1:3323, 127.0.0.1:3324"})
    settings = ImmudbSettings.from_env(env)
    assert settings.replicas == ("127.0.0.1:3323", "127.0.0.1:3324")
    assert settings.replica_max_wait == 5.0
    with pytest.raises(ConfigurationError, match="'WORLD_IMMUDB_REPLICAS' or 'IMMUDB_REPLICAS'"):
        ImmudbSettings.from_env(Environment("world", {"IMMUDB_REPLICAS": "127.0.0.1"}))
    with pytest.raises(ConfigurationError, match="port"):
        ImmudbSettings.from_env(Environment("world", {"IMMUDB_REPLICAS": "h:99999"}))


def test_launcher_refuses_sync_without_a_primary(capsys: pytest.CaptureFixture[str]) -> None:
    from aethyr_immudb_recorder.launcher import main

    with pytest.raises(SystemExit) as exit_info:
        main(["start", "--sync"])
    assert exit_info.value.code == 2
    assert "--sync needs --replica-of" in capsys.readouterr().err
    with pytest.raises(ValueError, match="replica_of"):
        ImmudbServer(sync=True)
    with pytest.raises(ValueError, match="host:port"):
        ImmudbServer(replica_of="no-port")


@dataclass
class RoutedReads:
    """A writer on the primary and a reader routed to the replica, on a fresh database."""

    replica: ImmudbServer
    registry: CollectorRegistry  # the routed factory's (its lag gauges)
    writer: ImmudbFactory
    routed: ImmudbFactory
    recorder: ImmudbApplicationRecorder  # writes, on the primary
    reader: ImmudbApplicationRecorder  # reads through IMMUDB_REPLICAS


@pytest.fixture
def routed_reads(servers: tuple[ImmudbServer, ImmudbServer]) -> Iterator[RoutedReads]:
    """:class:`RoutedReads` on a new replicated database (a catch-up waits up to 30 s)."""
    primary, replica = servers
    database = _fresh(primary, replica)
    registry = CollectorRegistry()
    writer = ImmudbFactory(_env(primary, database), registry=CollectorRegistry())
    routed = ImmudbFactory(
        _env(primary, database, IMMUDB_REPLICAS=replica.address, IMMUDB_REPLICA_MAX_WAIT="30"),
        registry=registry,
    )
    try:
        recorder = writer.application_recorder()
        reader = routed.application_recorder()
        assert isinstance(recorder, ImmudbApplicationRecorder)
        assert isinstance(reader, ImmudbApplicationRecorder)
        yield RoutedReads(replica, registry, writer, routed, recorder, reader)
    finally:
        writer.close()
        routed.close()


def test_full_pages_come_from_a_lagging_replica_and_short_pages_wait_for_it(
    routed_reads: RoutedReads,
) -> None:
    """A full page from a replica is complete (ids are dense and never change), so it is
    served without the catch-up check; a short page is read again once a replica holds
    every commit of the primary (the lag gauges get their samples only then)."""
    replica, registry = routed_reads.replica, routed_reads.registry
    recorder, reader = routed_reads.recorder, routed_reads.reader
    for batch in _events(100):
        recorder.insert_events(batch)
    assert routed_reads.routed.replicas is not None
    routed_reads.routed.replicas.lag()  # wait until the replica has all 100
    registry_before = registry.get_sample_value(
        "aethyr_recorder_replication_lag_transactions", {"replica": replica.address}
    )
    for batch in _events(30):  # the async replica now sleeps before fetching these
        recorder.insert_events(batch)
    page = reader.select_notifications(None, 100)
    assert page == recorder.select_notifications(None, 100)
    # Served by the replica as it was: no catch-up check ran (gauge unchanged).
    assert (
        registry.get_sample_value(
            "aethyr_recorder_replication_lag_transactions", {"replica": replica.address}
        )
        == registry_before
    )
    rest = reader.select_notifications(101, 100)
    assert [n.id for n in rest] == list(range(101, 131))
    assert rest == recorder.select_notifications(101, 100)
    assert reader.select_notifications(None, 200, stop=130) == recorder.select_notifications(
        None, 200, stop=130
    )


def test_a_follower_at_the_end_of_the_log_waits_only_for_what_it_needs(
    routed_reads: RoutedReads,
) -> None:
    """A follower's short page waits for the transaction that wrote the primary's last
    notification, not for the primary's latest transaction: at the end of the log,
    with later writes of something else on the primary that the asynchronous replica
    has not fetched yet, the page is read from the replica without any catch-up wait
    (the lag gauges keep their values), and it is exactly the primary's page."""
    from immudb.grpc import schema_pb2

    replica, registry = routed_reads.replica, routed_reads.registry
    writer, routed = routed_reads.writer, routed_reads.routed
    recorder, reader = routed_reads.recorder, routed_reads.reader
    for batch in _events(20):
        recorder.insert_events(batch)
    assert routed.replicas is not None
    [lag] = routed.replicas.lag()  # the replica has all 20; the gauges read 0
    assert lag.caught_up

    def gauges() -> tuple[float | None, float | None]:
        labels = {"replica": replica.address}
        return (
            registry.get_sample_value("aethyr_recorder_replication_lag_seconds", labels),
            registry.get_sample_value("aethyr_recorder_replication_lag_transactions", labels),
        )

    before = gauges()
    ds = writer.datastore
    for i in range(3):  # writes that are not notifications
        request = schema_pb2.SetRequest(
            KVs=[schema_pb2.KeyValue(key=b"unrelated", value=str(i).encode())]
        )

        def kv_set(stub: Any, r: Any = request) -> Any:
            return ds.kv_set(stub, r)

        ds.run("unrelated", kv_set)
    assert ds.current_tx_id() > replica_tx_of(routed)
    assert reader.select_notifications(21, 10) == []
    page = reader.select_notifications(11, 100)
    assert page == recorder.select_notifications(11, 100)
    assert [n.id for n in page] == list(range(11, 21))
    assert gauges() == before  # no catch-up wait ran
    # A notification the replica lacks is waited for (or read from the primary).
    [batch] = _events(1)
    recorder.insert_events(batch)
    assert [n.id for n in reader.select_notifications(21, 10)] == [21]


def replica_tx_of(factory: ImmudbFactory) -> int:
    """The replica's latest committed transaction id (the factory's one replica)."""
    assert factory.replicas is not None
    [replica] = factory.replicas.replicas
    return replica.current_tx_id()
