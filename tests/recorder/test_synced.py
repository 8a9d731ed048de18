"""The core recorder suites once against a *synced* immudb (fsync per commit, immudb's default).

The rest of the tests share an unsynced server (durability is not what they test).
Here the library's application, process and non-interleaving suites run on a
server of their own started with ``--synced=true``, with the databases' sync period
set through ``IMMUDB_SYNC_FREQUENCY_MS`` (applied with ``CreateDatabaseV2``), so the
precondition protocol is exercised where commits wait for the indexer and the disk.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
)
from eventsourcing.utils import Environment
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder, ImmudbProcessRecorder
from aethyr_immudb_recorder.settings import ImmudbSettings
from tests import immudb_harness
from tests.recorder.support import SharedDatastoreCase

_lock = threading.Lock()
_server: ImmudbServer | None = None


def synced_server() -> ImmudbServer:
    """This module's synced server (started on first use, stopped at the end of the module)."""
    global _server
    with _lock:
        if _server is None:
            immudb_harness.server()  # fail or skip like every immudb test when there is none
            _server = ImmudbServer(synced=True).start()
        return _server


def teardown_module() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


#: The database of the module's suites (each test has tables of its own), created by the
#: first class's datastore: the next classes' datastores take over its sessions instead
#: of logging in again (a bcrypt check, about 66 ms of immudb's CPU, per login).
DATABASE = f"s{uuid.uuid4().hex[:20]}"


class SyncedMixin(SharedDatastoreCase):
    @classmethod
    def make_datastore(cls) -> ImmudbDatastore:
        server = synced_server()
        env = {
            "IMMUDB_HOST": server.host,
            "IMMUDB_PORT": str(server.port),
            "IMMUDB_DATABASE": DATABASE,
            "IMMUDB_SYNC_FREQUENCY_MS": "1",
            "IMMUDB_INDEX_FLUSH_THRESHOLD": "2000",
            "IMMUDB_POOL_SIZE": "12",
            # small test databases (tests/immudb_harness.py: TEST_MAX_TX_ENTRIES)
            "IMMUDB_MAX_TX_ENTRIES": str(immudb_harness.TEST_MAX_TX_ENTRIES),
        }
        return ImmudbDatastore(ImmudbSettings.from_env(Environment(env=env)))


class TestSyncedApplicationRecorder(
    SyncedMixin, ApplicationRecorderTestCase[ImmudbApplicationRecorder]
):
    def create_recorder(self) -> ImmudbApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder

    def database_settings(self) -> Any:
        """The settings of the database a first recorder call created and tuned."""
        recorder = self.create_recorder()
        recorder.max_notification_id()  # opens a session: creates and tunes the database
        with self.datastore.session() as session:
            return self.datastore.stub.GetDatabaseSettingsV2(
                schema_pb2.DatabaseSettingsRequest(),
                metadata=session.metadata,
            ).settings

    def test_sync_frequency_was_applied(self) -> None:
        settings = self.database_settings()
        self.assertEqual(settings.syncFrequency.value, 1)
        # Values live in the transaction log: one file fewer to flush per commit.
        self.assertTrue(settings.embeddedValues.value)

    def test_index_settings_were_applied(self) -> None:
        """Indexes are flushed every ``IMMUDB_INDEX_FLUSH_THRESHOLD`` inserts, and indexed
        one transaction at a time (``maxBulkSize`` 1, immudb's default: with bulks of
        100, reads after a SIGKILL restart returned a fraction of the log;
        ``benchmarks/crash_recovery.py``, docs/recorder.md, "After a crash")."""
        index = self.database_settings().indexSettings
        self.assertEqual(index.flushThreshold.value, self.datastore.settings.index_flush_threshold)
        self.assertEqual(index.flushThreshold.value, 2000)
        self.assertEqual(index.maxBulkSize.value, 1)


class TestSyncedProcessRecorder(SyncedMixin, ProcessRecorderTestCase):
    def create_recorder(self) -> ImmudbProcessRecorder:
        recorder = ImmudbProcessRecorder(
            datastore=self.datastore,
            events_table_name=self.events_table,
            tracking_table_name=self.tracking_table,
        )
        recorder.create_table()
        return recorder


class TestSyncedNonInterleaving(SyncedMixin, NonInterleavingNotificationIDsBaseCase):
    insert_num = 1000

    def create_recorder(self) -> ImmudbApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder


del ApplicationRecorderTestCase
del ProcessRecorderTestCase
del NonInterleavingNotificationIDsBaseCase
