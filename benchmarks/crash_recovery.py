"""Scenario ``crash-recovery``: reads after a SIGKILLed synced immudb comes back, per index setting.

Why it exists: in the server-load outage run, every reader of the event database
seemed to wait minutes after immudb was SIGKILLed and restarted, and immudb's log
showed indexes loaded far behind the log and then one flush per transaction. This
scenario separates the two things that can cost time after such a restart, on a
throwaway synced server (``ImmudbServer(synced=True)``, its own per mode and round):

* **re-indexing**: immudb persists an index only when it is flushed (a reader's
  snapshot, ``flushThreshold`` inserts, a clean close), and a B-tree whose root is a
  *leaf* (the SQL catalog, a small table) loses the transaction id it was advanced
  to without entries, so after a SIGKILL such an index starts again from its last
  entry and re-reads every transaction since (``embedded/tbtree``: ``IncreaseTs``,
  ``tsMutated``, the ts file written only by ``Close``). A ``Get`` waits for *every*
  index of the database (``ImmuStore.WaitForIndexingUpto``), so the first read of
  the head waits for that catch-up;
* **synced transactions**: each SQL transaction the read model commits (one per
  event when it applies events one by one) is one synced commit plus one index
  flush per SQL index it takes a snapshot of.

Per mode (the database created with those ``indexSettings``; ``default`` = immudb's:
``maxBulkSize`` 1, ``bulkPreparationTimeout`` 20 ms, ``flushThreshold`` 100,000;
``flush-1k`` is what the recorder creates), it

1. creates a database with one SQL table next to the recorder's KV keys (as the
   game's event database holds its read model's tables);
2. writes ``crash_events`` one-event transactions through the application recorder,
   one SQL tracking-row update every 10 (``synced KV writes``, tx/s);
3. commits ``sql_txs`` projection-like SQL transactions (read the tracking row,
   upsert a row and the tracking row), one event each and then 100 events each
   (``SQL tx``, events/s);
4. SIGKILLs the server, starts it again on the same data, and times the first
   ``max_notification_id`` (waits for every index to reach the head), the first
   SQL query and a full ``select_notifications`` read of the log.

Measured (``--quick``: 2,000 transactions, 3 rounds, load average 1.3-1.6): the first
read of the head after the restart 0.20 s with immudb's defaults, 0.006 s with
``flush-1k`` (the KV index, which no reader had snapshotted, was re-read from the first
transaction), at the same write rates (KV 85.8 against 89.2 tx/s, SQL 52 against 55
events/s one per transaction, 672 against 722 in transactions of 100). The SQL rows
show what made the game's outage run slow instead: one event per synced transaction
is about 13x slower than 100.

``reads right after restart`` is 1 when the first reads after the restart return
every event written before the kill. With ``bulk-100`` they did not (immudb 1.11.1: at
the tiny size the counter read 90 of 100 and ``select_notifications`` found 1; at the
quick size it found 24-25 of 2,000; every round), which is one reason the recorder keeps immudb's
defaults (``docs/recorder.md``, "After a crash").

Modes rotate across rounds (each leads once in the three rounds the runner gives this
scenario); the table shows each mode's medians.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from benchmarks.backends import Backend
from benchmarks.scenarios import Measure, Size, Skip

MODES: dict[str, dict[str, int]] = {
    "default": {},
    # Index catch-up in bulks of up to 100 transactions (waiting at most 1 ms for the
    # next one): what the immudb log of the outage run suggested.
    "bulk-100": {"maxBulkSize": 100, "bulkPreparationTimeout": 1},
    # Indexes flushed every 1,000 inserts even when no reader asks for a snapshot: what
    # the recorder creates (IMMUDB_INDEX_FLUSH_THRESHOLD's default).
    "flush-1k": {"flushThreshold": 1000},
}

SQL_TABLE = "crash_rows"


def create_database(server: Any, name: str, index_settings: dict[str, int]) -> None:
    """Create ``name`` like the recorder (``maxTxEntries``, ``embeddedValues``) with only
    ``index_settings`` (immudb's names; none: immudb's defaults)."""
    import grpc
    from google.protobuf import empty_pb2
    from immudb.grpc import schema_pb2, schema_pb2_grpc

    channel = grpc.insecure_channel(server.address)
    stub = schema_pb2_grpc.ImmuServiceStub(channel)
    try:
        session = stub.OpenSession(
            schema_pb2.OpenSessionRequest(
                username=b"immudb",
                password=server.admin_password.encode(),
                databaseName="defaultdb",
            ),
            timeout=10,
        )
        metadata = (("sessionid", session.sessionID),)
        settings = schema_pb2.DatabaseNullableSettings(
            maxTxEntries=schema_pb2.NullableUint32(value=1024),
            embeddedValues=schema_pb2.NullableBool(value=True),
        )
        for key, value in index_settings.items():
            getattr(settings.indexSettings, key).value = value
        stub.CreateDatabaseV2(
            schema_pb2.CreateDatabaseRequest(name=name, settings=settings, ifNotExists=True),
            metadata=metadata,
            timeout=30,
        )
        stub.CloseSession(empty_pb2.Empty(), metadata=metadata, timeout=5)
    finally:
        channel.close()


@contextmanager
def _recorder(env: dict[str, str]) -> Iterator[Any]:
    from prometheus_client import CollectorRegistry

    from aethyr_immudb_recorder.factory import ImmudbFactory

    factory = ImmudbFactory(env, registry=CollectorRegistry())
    try:
        recorder = factory.application_recorder()
        recorder.create_table()
        yield recorder
    finally:
        factory.close()


def _sql(recorder: Any, sql: str, params: dict[str, Any] | None = None) -> Any:
    ds = recorder.datastore
    return ds.run("bench", lambda s: ds.query(s, sql, params))


def _sql_write(recorder: Any, sql: str, params: dict[str, Any] | None = None) -> None:
    ds = recorder.datastore
    ds.run("bench", lambda s: ds.execute(s, sql, params), write=True)


def _projection_txs(recorder: Any, events: int, per_tx: int, start: int) -> float:
    """Events/s of projection-like SQL transactions (``per_tx`` events each)."""
    ds = recorder.datastore
    position = start

    def apply(session: Any) -> None:
        with ds.transaction(session) as tx:
            tx.query(f"SELECT pos FROM {SQL_TABLE} WHERE name = 'tracking'")
            for i in range(per_tx):
                tx.execute(
                    f"UPSERT INTO {SQL_TABLE} (name, pos) VALUES (@n, @p)",
                    {"n": f"row-{(position + i) % 500}", "p": position + i},
                )
            tx.execute(
                f"UPSERT INTO {SQL_TABLE} (name, pos) VALUES ('tracking', @p)",
                {"p": position + per_tx},
            )
            tx.commit()

    started = time.perf_counter()
    for _ in range(max(1, events // per_tx)):
        ds.run("projection", apply, write=True)
        position += per_tx
    return max(1, events // per_tx) * per_tx / (time.perf_counter() - started)


def _one(mode: str, settings: dict[str, int], app_name: str, size: Size) -> list[Measure]:
    from aethyr_immudb_recorder.launcher import ImmudbServer

    events = size.crash_events
    database = f"{app_name}_{mode.replace('-', '_')}".lower()
    server = ImmudbServer(synced=True).start()
    try:
        create_database(server, database, settings)
        env = {
            "PERSISTENCE_MODULE": "aethyr_immudb_recorder",
            **server.client_env(),
            "IMMUDB_DATABASE": database,
            "IMMUDB_ALLOW_DEFAULT_PASSWORD": "yes",
        }
        with _recorder(env) as recorder:
            _sql_write(
                recorder,
                f"CREATE TABLE IF NOT EXISTS {SQL_TABLE} "
                "(name VARCHAR[32], pos INTEGER, PRIMARY KEY name)",
            )
            started = time.perf_counter()
            for i in range(events):
                recorder.insert_events([StoredEvent(uuid4(), 1, "bench:Event", b"{}")])
                if i % 10 == 0:
                    _sql_write(
                        recorder,
                        f"UPSERT INTO {SQL_TABLE} (name, pos) VALUES ('tracking', @p)",
                        {"p": i},
                    )
            kv_rate = events / (time.perf_counter() - started)
            sql_one = _projection_txs(recorder, size.crash_sql_txs, 1, 0)
            sql_batch = _projection_txs(recorder, size.crash_sql_txs * 10, 100, 10**6)
            head_before = recorder.max_notification_id()
        server.kill()
        restarted = time.perf_counter()
        server.start()
        up = time.perf_counter() - restarted
        with _recorder(env) as recorder:
            started = time.perf_counter()
            head = recorder.max_notification_id()
            first_head = time.perf_counter() - started
            started = time.perf_counter()
            _sql(recorder, f"SELECT pos FROM {SQL_TABLE} WHERE name = 'tracking'")
            first_sql = time.perf_counter() - started
            started = time.perf_counter()
            count, start = 0, 1
            while page := recorder.select_notifications(start=start, limit=1000):
                count += len(page)
                start = page[-1].id + 1
            full_read = time.perf_counter() - started
        intact = head == head_before and count == head_before
        if not intact:
            print(
                f"  crash-recovery {mode}: after the restart max_notification_id is {head} and "
                f"select_notifications found {count}, of {head_before} events",
                flush=True,
            )
    finally:
        server.stop()
    return [
        Measure(f"crash-recovery synced KV writes, {mode}", kv_rate, "tx/s"),
        Measure(f"crash-recovery SQL tx of 1 event, {mode}", sql_one, "events/s"),
        Measure(f"crash-recovery SQL tx of 100 events, {mode}", sql_batch, "events/s"),
        Measure(f"crash-recovery restart (server up), {mode}", up, "s"),
        Measure(f"crash-recovery first head read, {mode}", first_head, "s"),
        Measure(f"crash-recovery first SQL query, {mode}", first_sql, "s"),
        Measure(f"crash-recovery full log read, {mode}", full_read, "s"),
        Measure(f"crash-recovery reads right after restart, {mode}", float(intact), "ok"),
    ]


_round = [0]


def crash_recovery(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Default vs tuned index settings: synced writes, then reads after a SIGKILL restart."""
    if backend.name != "immudb-synced":
        raise Skip("a SIGKILL of a synced immudb: only the immudb-synced backend")
    order = list(MODES)
    shift = _round[0] % len(order)
    _round[0] += 1
    out: list[Measure] = []
    for mode in order[shift:] + order[:shift]:
        out.extend(_one(mode, MODES[mode], app_name, size))
    return out
