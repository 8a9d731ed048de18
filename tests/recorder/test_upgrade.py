"""``store upgrade``: a store in the SQL layout of earlier versions is copied into KV keys.

The old tables are built here with the old DDL and filled with SQL, like the
earlier recorder wrote them. The copy must keep notification ids, order and
versions, check itself, resume after an interruption with an identical result,
and leave the recorders able to continue the log.
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.errors import StoreNeedsUpgradeError
from aethyr_immudb_recorder.recorders import (
    ImmudbAggregateRecorder,
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
)
from aethyr_immudb_recorder.settings import ImmudbSettings
from aethyr_immudb_recorder.upgrade import upgrade_store
from tests.recorder.support import fresh_datastore

OLD_EVENTS_DDL = (
    "CREATE TABLE {t} (notification_id INTEGER AUTO_INCREMENT, "
    "originator_id VARCHAR[255] NOT NULL, originator_id_is_uuid BOOLEAN NOT NULL, "
    "originator_version INTEGER NOT NULL, topic VARCHAR NOT NULL, state BLOB NOT NULL, "
    "metadata BLOB, event_id VARCHAR[36], PRIMARY KEY notification_id);"
    "CREATE UNIQUE INDEX ON {t}(originator_id, originator_version);"
)
OLD_TRACKING_DDL = (
    "CREATE TABLE {t} (application_name VARCHAR[255] NOT NULL, "
    "notification_id INTEGER NOT NULL, PRIMARY KEY application_name);"
)


def _old_rows() -> list[tuple[Any, int, str, bytes]]:
    """Events as the old recorder would have stored them, interleaving aggregates."""
    ids: list[UUID | str] = [uuid4(), "player-\u00e9", uuid4(), "room-1"]
    rows = []
    for version in range(1, 61):
        for n, oid in enumerate(ids):
            if version <= 60 - 10 * n:
                rows.append((oid, version - 1 if n == 3 else version, f"t:E{n}", b"s%d" % version))
    return rows


def _make_old_store(datastore: ImmudbDatastore, rows: list[tuple[Any, int, str, bytes]]) -> None:
    def build(session: Any) -> None:
        datastore.execute(session, OLD_EVENTS_DDL.format(t="app_events"))
        datastore.execute(session, OLD_EVENTS_DDL.format(t="app_snapshots"))
        datastore.execute(session, OLD_TRACKING_DDL.format(t="app_tracking"))
        for start in range(0, len(rows), 50):
            values, params = [], {}
            for i, (oid, version, topic, state) in enumerate(rows[start : start + 50]):
                values.append(f"(@o{i}, @u{i}, @v{i}, @t{i}, @s{i})")
                params.update(
                    {
                        f"o{i}": str(oid),
                        f"u{i}": isinstance(oid, UUID),
                        f"v{i}": version,
                        f"t{i}": topic,
                        f"s{i}": state,
                    }
                )
            datastore.execute(
                session,
                "INSERT INTO app_events (originator_id, originator_id_is_uuid, "
                f"originator_version, topic, state) VALUES {','.join(values)}",
                params,
            )
        datastore.execute(
            session,
            "INSERT INTO app_snapshots (originator_id, originator_id_is_uuid, "
            "originator_version, topic, state) VALUES ('room-1', false, 7, 't:S', x'01')",
        )
        datastore.execute(
            session,
            "INSERT INTO app_tracking (application_name, notification_id) VALUES ('up', 42)",
        )

    datastore.run("old_store", build, write=True)


def _entries(datastore: ImmudbDatastore, prefix: bytes) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    seek = prefix
    while True:
        request = schema_pb2.ScanRequest(seekKey=seek, prefix=prefix, limit=2500)
        page = datastore.run("scan", functools.partial(datastore.kv_scan, request=request))
        out.extend((bytes(e.key), bytes(e.value)) for e in page)
        if len(page) < 2500:
            return out
        seek = page[-1].key


class InterruptError(Exception):
    pass


@pytest.fixture
def stores() -> Any:
    made: list[ImmudbDatastore] = []

    def make() -> ImmudbDatastore:
        made.append(fresh_datastore())
        return made[-1]

    yield make
    for datastore in made:
        datastore.close()


def test_upgrade_keeps_ids_order_versions_and_resumes_identically(stores: Any) -> None:
    rows = _old_rows()
    interrupted, straight = stores(), stores()
    for datastore in (interrupted, straight):
        _make_old_store(datastore, rows)

    recorder = ImmudbApplicationRecorder(datastore=interrupted, events_table_name="app_events")
    with pytest.raises(StoreNeedsUpgradeError, match="aethyr-es store upgrade"):
        recorder.max_notification_id()

    seen: list[int] = []

    def stop_after_three(table: str, last: int) -> None:
        seen.append(last)
        if len(seen) == 3:
            raise InterruptError

    with pytest.raises(InterruptError):
        upgrade_store(interrupted, chunk=40, progress=stop_after_three)
    assert seen == [40, 80, 120]
    with pytest.raises(StoreNeedsUpgradeError):  # no marker yet: still refused
        ImmudbApplicationRecorder(
            datastore=interrupted, events_table_name="app_events"
        ).create_table()

    resumed = upgrade_store(interrupted, chunk=40)
    events_report = next(t for t in resumed.tables if t.table == "app_events")
    assert (events_report.rows, events_report.copied) == (len(rows), len(rows) - 120)
    once = upgrade_store(straight, chunk=40)
    assert [t.digest for t in once.tables] == [t.digest for t in resumed.tables]
    for prefix in (b"app_events:", b"app_snapshots:", b"app_tracking:"):
        assert _entries(interrupted, prefix) == _entries(straight, prefix)

    recorder = ImmudbApplicationRecorder(datastore=interrupted, events_table_name="app_events")
    notifications = recorder.select_notifications(None, 10_000)
    assert [n.id for n in notifications] == list(range(1, len(rows) + 1))
    got = [(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]
    assert got == rows
    types = [type(r[0]) for r in rows]
    assert [type(n.originator_id) for n in notifications] == types
    oid = rows[0][0]
    assert [e.originator_version for e in recorder.select_events(oid)] == list(range(1, 61))
    assert [e.originator_version for e in recorder.select_events("room-1", gt=5, lte=8)] == [
        6,
        7,
        8,
    ]
    assert recorder.max_notification_id() == len(rows)
    assert recorder.insert_events([StoredEvent(oid, 61, "t:E0", b"new")]) == [len(rows) + 1]

    snapshots = ImmudbAggregateRecorder(datastore=interrupted, events_table_name="app_snapshots")
    (snapshot,) = snapshots.select_events("room-1", desc=True, limit=1)
    assert (snapshot.originator_version, snapshot.state) == (7, b"\x01")
    process = ImmudbProcessRecorder(
        datastore=interrupted, events_table_name="app_events", tracking_table_name="app_tracking"
    )
    assert process.max_tracking_id("up") == 42
    process.insert_tracking(Tracking("up", 43))

    again = upgrade_store(interrupted)
    assert all(t.already_done for t in again.tables)
    assert "already upgraded" in again.summary()


def test_an_empty_database_has_nothing_to_upgrade(stores: Any) -> None:
    report = upgrade_store(stores())
    assert report.tables == []
    assert "nothing to do" in report.summary()


def test_cli_store_upgrade_then_the_world_opens(tmp_path: Any, capsys: Any) -> None:
    from aethyr_domain.cli.entry import main
    from aethyr_domain.outbox.event_store import open_world
    from tests import immudb_harness
    from tests.faults.support import immudb_config, write_config_file

    server = immudb_harness.server()
    database = immudb_harness.fresh_database("u")
    config = immudb_config(server, database, tmp_path)
    config_file = write_config_file(config, tmp_path / "aethyr.toml")
    settings = ImmudbSettings(host=server.host, port=server.port, database=database)
    with ImmudbDatastore(settings) as datastore:

        def build(session: Any) -> None:
            datastore.execute(session, OLD_EVENTS_DDL.format(t="world_events"))
            datastore.execute(
                session,
                "INSERT INTO world_events (originator_id, originator_id_is_uuid, "
                "originator_version, topic, state) VALUES ('room-x', false, 1, 't:E', x'7b7d')",
            )

        datastore.run("old_store", build, write=True)

    assert main(["world", "--json", "--config", str(config_file)]) == 2
    assert "aethyr-es store upgrade" in capsys.readouterr().err

    assert main(["store", "upgrade", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "world_events (events): 1 row(s), copied 1 now" in out
    app = open_world(config)
    try:
        assert app.recorder.max_notification_id() == 1
        assert [e.originator_version for e in app.recorder.select_events("room-x")] == [1]
    finally:
        app.close()
    assert main(["store", "upgrade", "--config", str(config_file)]) == 0
    assert "already upgraded" in capsys.readouterr().out
