"""The library's own recorder suites, run against a real immudb server.

Every test class gets a new immudb database and every test new tables in it
(:class:`~tests.recorder.support.SharedDatastoreCase`), so notification ids start at 1.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import (
    ImmudbAggregateRecorder,
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
    ImmudbTrackingRecorder,
)
from tests import immudb_harness
from tests.recorder.support import SharedDatastoreCase, settings_for

#: One database per ``maxTxEntries`` for the module's suites (each test has tables of its
#: own): a class's datastore takes over the sessions the previous class's left, instead
#: of logging in again (a bcrypt check, about 66 ms of immudb's CPU, per login).
_databases: dict[int, str] = {}


class DatastoreMixin(SharedDatastoreCase):
    max_tx_entries = immudb_harness.TEST_MAX_TX_ENTRIES

    @classmethod
    def make_datastore(cls) -> ImmudbDatastore:
        database = _databases.get(cls.max_tx_entries)
        if database is None:
            database = immudb_harness.fresh_database("r", max_tx_entries=cls.max_tx_entries)
            _databases[cls.max_tx_entries] = database
        return ImmudbDatastore(settings_for(database))


class TestAggregateRecorder(DatastoreMixin, AggregateRecorderTestCase):
    def create_recorder(self) -> ImmudbAggregateRecorder:
        recorder = ImmudbAggregateRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder


class TestAggregateRecorderWithStrIds(TestAggregateRecorder):
    def new_originator_id(self) -> UUID | str:
        return f"test-{uuid4()}"


class TestApplicationRecorder(
    DatastoreMixin, ApplicationRecorderTestCase[ImmudbApplicationRecorder]
):
    def create_recorder(self) -> ImmudbApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestApplicationRecorderWithStrIds(TestApplicationRecorder):
    def new_originator_id(self) -> UUID | str:
        return f"test-{uuid4()}"


class TestTrackingRecorder(DatastoreMixin, TrackingRecorderTestCase):
    def create_recorder(self) -> ImmudbTrackingRecorder:
        recorder = ImmudbTrackingRecorder(
            datastore=self.datastore, tracking_table_name=self.tracking_table
        )
        recorder.create_table()
        return recorder


class TestProcessRecorder(DatastoreMixin, ProcessRecorderTestCase):
    def create_recorder(self) -> ImmudbProcessRecorder:
        recorder = ImmudbProcessRecorder(
            datastore=self.datastore,
            events_table_name=self.events_table,
            tracking_table_name=self.tracking_table,
        )
        recorder.create_table()
        return recorder


class TestNonInterleavingNotificationIDs(DatastoreMixin, NonInterleavingNotificationIDsBaseCase):
    insert_num = 1000
    max_tx_entries = 10_000  # the 5000-event batches below: one entry per event and more

    def create_recorder(self) -> ApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder


class TestNonInterleavingNotificationIDs5000(TestNonInterleavingNotificationIDs):
    insert_num = 5000


class TestMixedIdTypesRoundTrip(DatastoreMixin, AggregateRecorderTestCase):
    """UUID and str ids side by side in one table come back as the type inserted."""

    def create_recorder(self) -> ImmudbApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder

    def test_insert_and_select(self) -> None:
        recorder = self.create_recorder()
        uuid_id, str_id = uuid4(), f"player-{uuid4()}"
        events = [
            StoredEvent(originator_id=uuid_id, originator_version=1, topic="t", state=b"\x00a"),
            StoredEvent(originator_id=str_id, originator_version=1, topic="t", state=b"\xffb"),
        ]
        self.assertEqual(recorder.insert_events(events), [1, 2])
        (got_uuid,) = recorder.select_events(uuid_id)
        (got_str,) = recorder.select_events(str_id)
        self.assertIs(type(got_uuid.originator_id), UUID)
        self.assertIs(type(got_str.originator_id), str)
        self.assertEqual((got_uuid.state, got_str.state), (b"\x00a", b"\xffb"))
        notifications = recorder.select_notifications(start=None, limit=10)
        self.assertEqual([type(n.originator_id) for n in notifications], [UUID, str])

    def test_performance(self) -> None:
        self.skipTest("timing of inserts is TestAggregateRecorder's; mixed ids change nothing")


del AggregateRecorderTestCase
del ApplicationRecorderTestCase
del TrackingRecorderTestCase
del ProcessRecorderTestCase
del NonInterleavingNotificationIDsBaseCase
