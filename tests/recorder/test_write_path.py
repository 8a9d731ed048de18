"""The write path: one ``Set`` with preconditions per batch, and the tracking guard.

``insert_events`` packs a batch into KV entries guarded by ``KeyMustNotExist``
(events) and ``KeyNotModifiedAfterTX`` (the counter, tracking keys); the
tracking position is also checked on the client against the last value seen.
These tests pin what that must preserve: exact round trips, ``IntegrityError``
with nothing written, and monotonic tracking between writers that share no
state (separate datastores, like separate processes).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
from eventsourcing.persistence import DataError, IntegrityError, StoredEvent, Tracking

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import (
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
    ImmudbTrackingRecorder,
)
from tests import immudb_harness
from tests.recorder.support import settings_for


@pytest.fixture(scope="module")
def database() -> str:
    """One database for the module; each test writes tables of its own (:func:`_tables`).

    Each test's datastores then take over the sessions the previous test's datastores
    left (a login costs immudb a bcrypt check, about 66 ms of its CPU)."""
    return immudb_harness.fresh_database("w")


@pytest.fixture
def datastore(database: str) -> Iterator[ImmudbDatastore]:
    store = ImmudbDatastore(settings_for(database))
    yield store
    store.close()


def _tables() -> dict[str, str]:
    """New events and tracking table names: ids start at 1, no position is recorded."""
    suffix = uuid4().hex[:12]
    return {
        "events_table_name": f"stored_events_{suffix}",
        "tracking_table_name": f"notification_tracking_{suffix}",
    }


def _application(datastore: ImmudbDatastore) -> ImmudbApplicationRecorder:
    tables = _tables()
    recorder = ImmudbApplicationRecorder(
        datastore=datastore, events_table_name=tables["events_table_name"]
    )
    recorder.create_table()
    return recorder


def _process(datastore: ImmudbDatastore) -> ImmudbProcessRecorder:
    recorder = ImmudbProcessRecorder(datastore=datastore, **_tables())
    recorder.create_table()
    return recorder


def test_batch_with_repeated_ids_and_topics_round_trips(datastore: ImmudbDatastore) -> None:
    recorder = _application(datastore)
    uuid_id, str_id = uuid4(), f"room-{uuid4()}"
    topics = ["a:Created", "a:Renamed", "b:Moved"]
    events = [
        StoredEvent(
            originator_id=uuid_id if i % 2 == 0 else str_id,
            originator_version=i // 2 + 1,
            topic=topics[i % 3],
            state=b"s%d" % i,
        )
        for i in range(12)
    ]
    assert recorder.insert_events(events) == list(range(1, 13))
    notifications = recorder.select_notifications(start=None, limit=20)
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in events
    ]
    assert recorder.select_events(str_id) == [e for e in events if e.originator_id == str_id]


def test_unusual_versions_round_trip(datastore: ImmudbDatastore) -> None:
    """Literal versions (0, the int64 maximum) and bound ones (negative) read back equal."""
    recorder = _application(datastore)
    originator_id = uuid4()
    versions = [-1, 0, 2**62, 2**63 - 1]
    events = [StoredEvent(originator_id, v, "t", b"x") for v in versions]
    recorder.insert_events(events)
    assert [e.originator_version for e in recorder.select_events(originator_id)] == versions


BAD_FIELDS = [
    ("originator_version", "1", "an int"),
    ("originator_version", 1.5, "an int"),
    ("originator_version", None, "an int"),
    ("originator_version", True, "an int"),  # an int subclass, but never a version
    ("originator_version", 2**63, "signed 64-bit"),
    ("originator_version", -(2**63) - 1, "signed 64-bit"),
    ("topic", 1, "a str"),
    ("topic", None, "a str"),
    ("topic", b"t", "a str"),
    ("state", "x", "bytes"),
    ("state", None, "bytes"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_FIELDS)
def test_wrong_field_type_refuses_the_whole_batch(
    datastore: ImmudbDatastore, field: str, value: object, expected: str
) -> None:
    """A bad field anywhere in a batch is a DataError naming it; nothing is written."""
    recorder = _application(datastore)
    good, bad = uuid4(), uuid4()
    fields: dict[str, object] = {
        "originator_id": bad,
        "originator_version": 1,
        "topic": "t",
        "state": b"x",
    }
    fields[field] = value
    batch = [StoredEvent(good, 1, "t", b"ok"), StoredEvent(**fields)]  # type: ignore[arg-type]
    with pytest.raises(DataError, match=rf"^{field} .*{expected}.*nothing was written"):
        recorder.insert_events(batch)
    assert recorder.select_events(good) == []
    assert recorder.max_notification_id() is None
    assert recorder.insert_events(batch[:1]) == [1]  # never sent: no id was used up


@pytest.mark.parametrize(
    ("tracking", "field"),
    [
        (Tracking("upstream", 1.5), "notification_id"),  # type: ignore[arg-type]
        (Tracking("upstream", "2"), "notification_id"),  # type: ignore[arg-type]
        (Tracking(7, 2), "application_name"),  # type: ignore[arg-type]
    ],
)
def test_wrong_tracking_type_refuses_events_and_tracking(
    datastore: ImmudbDatastore, tracking: Tracking, field: str
) -> None:
    recorder = _process(datastore)
    originator_id = uuid4()
    with pytest.raises(DataError, match=rf"^{field} must be"):
        recorder.insert_events([StoredEvent(originator_id, 1, "t", b"x")], tracking=tracking)
    with pytest.raises(DataError, match=rf"^{field} must be"):
        recorder.insert_tracking(tracking)
    assert recorder.select_events(originator_id) == []
    assert recorder.max_tracking_id("upstream") is None


def test_duplicate_version_raises_and_writes_nothing(datastore: ImmudbDatastore) -> None:
    recorder = _application(datastore)
    first, second = uuid4(), uuid4()
    recorder.insert_events([StoredEvent(first, 1, "t", b"1")])
    with pytest.raises(IntegrityError):
        recorder.insert_events(
            [StoredEvent(second, 1, "t", b"2"), StoredEvent(first, 1, "t", b"dup")]
        )
    assert recorder.select_events(second) == []
    assert recorder.max_notification_id() == 1
    # Straight after a write the unique index still refuses the same key.
    recorder.insert_events([StoredEvent(second, 1, "t", b"2")])
    with pytest.raises(IntegrityError):
        recorder.insert_events([StoredEvent(second, 1, "t", b"again")])


def test_stale_tracking_with_events_raises_and_writes_nothing(
    datastore: ImmudbDatastore,
) -> None:
    recorder = _process(datastore)
    originator_id = uuid4()
    recorder.insert_events(
        [StoredEvent(originator_id, 1, "t", b"1")], tracking=Tracking("upstream", 5)
    )
    for stale in (5, 3):
        with pytest.raises(IntegrityError, match="not greater than the current max tracking ID 5"):
            recorder.insert_events(
                [StoredEvent(originator_id, 2, "t", b"2")],
                tracking=Tracking("upstream", stale),
            )
    assert recorder.max_notification_id() == 1
    assert recorder.max_tracking_id("upstream") == 5
    # Another upstream application has its own position.
    assert recorder.insert_events(
        [StoredEvent(originator_id, 2, "t", b"2")], tracking=Tracking("other", 1)
    ) == [2]
    assert recorder.insert_events([], tracking=Tracking("upstream", 6)) == []
    assert recorder.max_tracking_id("upstream") == 6


def test_duplicate_event_with_fresh_tracking_keeps_the_version_error(
    datastore: ImmudbDatastore,
) -> None:
    """A version clash is reported as such, and the tracking record is not written."""
    recorder = _process(datastore)
    originator_id = uuid4()
    recorder.insert_events([StoredEvent(originator_id, 1, "t", b"1")])
    with pytest.raises(IntegrityError) as raised:
        recorder.insert_events(
            [StoredEvent(originator_id, 1, "t", b"dup")], tracking=Tracking("upstream", 1)
        )
    assert "tracking" not in str(raised.value).lower()
    assert recorder.max_tracking_id("upstream") is None


def test_tracking_guard_holds_between_writers_without_the_process_lock(database: str) -> None:
    """Writers that do not share the writer lock (like two processes) never move tracking back.

    Each thread has its own datastore with a private lock, so their guarded
    statements really run concurrently on the server. A position taken later
    may commit first; the earlier one must then fail (the guard's read makes
    the commit conflict, the retry sees the newer position), never overwrite it.
    """
    stores = [ImmudbDatastore(settings_for(database)) for _ in range(3)]
    for store in stores:
        store.writer_lock = threading.RLock()
    table = _tables()["tracking_table_name"]
    recorders = [
        ImmudbTrackingRecorder(datastore=store, tracking_table_name=table) for store in stores
    ]
    recorders[0].create_table()
    ids = itertools.count(1)
    ids_lock = threading.Lock()
    succeeded: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def writer(recorder: ImmudbTrackingRecorder) -> None:
        try:
            for _ in range(40):
                with ids_lock:
                    notification_id = next(ids)
                time.sleep(random.uniform(0, 0.002))  # lets later ids overtake
                try:
                    recorder.insert_tracking(Tracking("upstream", notification_id))
                except IntegrityError:
                    refused.append(notification_id)
                else:
                    succeeded.append(notification_id)
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(r,)) for r in recorders]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(succeeded) + len(refused) == 120
        assert refused  # later positions did overtake earlier ones
        assert recorders[0].max_tracking_id("upstream") == max(succeeded)
    finally:
        for store in stores:
            store.close()


def test_stale_tracking_cache_is_refreshed_by_the_precondition(database: str) -> None:
    """A writer whose cached position is stale is refused by immudb, re-reads, then decides.

    Recorder ``a`` last saw position 4; ``b`` (another datastore, like another
    process) records 6. ``a``'s request for 5 carries ``KeyNotModifiedAfterTX``
    at the transaction where it saw 4, so immudb refuses it; ``a`` re-reads the
    key and refuses 5 itself (``IntegrityError``), while 7 then goes in.
    """
    stores = [ImmudbDatastore(settings_for(database)) for _ in range(2)]
    table = _tables()["tracking_table_name"]
    try:
        a, b = (
            ImmudbTrackingRecorder(datastore=store, tracking_table_name=table) for store in stores
        )
        a.insert_tracking(Tracking("upstream", 4))
        b.insert_tracking(Tracking("upstream", 6))
        with pytest.raises(IntegrityError, match="not greater than the current max tracking ID 6"):
            a.insert_tracking(Tracking("upstream", 5))
        assert a.max_tracking_id("upstream") == 6
        a.insert_tracking(Tracking("upstream", 7))
        assert b.max_tracking_id("upstream") == 7
    finally:
        for store in stores:
            store.close()
