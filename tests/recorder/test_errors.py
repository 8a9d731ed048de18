"""One test per error translation, each provoked on the real immudb server."""

from __future__ import annotations

import logging
import time
import uuid

import grpc
import pytest
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from immudb.grpc import schema_pb2
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.errors import (
    BatchTooLargeError,
    ErrorKind,
    StaleCounterError,
    StoreNeedsUpgradeError,
    classify,
)
from aethyr_immudb_recorder.launcher import free_port
from aethyr_immudb_recorder.metrics import Metrics, metrics_for
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder, ImmudbProcessRecorder
from tests import immudb_harness
from tests.recorder.counters_view import ImmudbEventCounters
from tests.recorder.support import settings_for

pytestmark = pytest.mark.immudb


def event(originator_id: uuid.UUID | str | None = None, version: int = 1, state: bytes = b"{}"):
    return StoredEvent(
        originator_id=originator_id or uuid.uuid4(),
        originator_version=version,
        topic="test:Event",
        state=state,
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics() -> Metrics:
    return metrics_for(CollectorRegistry())


@pytest.fixture(scope="module")
def database() -> str:
    """The database of :func:`recorder`: one for the module, a table per test. Each test's
    datastore takes over the session the previous one left (a login costs immudb a
    bcrypt check, about 66 ms of its CPU)."""
    return immudb_harness.fresh_database("e")


@pytest.fixture
def recorder(metrics: Metrics, database: str):
    """An application recorder on a new table (ids start at 1) of the module's database."""
    datastore = ImmudbDatastore(settings_for(database), metrics)
    table = f"stored_events_{uuid.uuid4().hex[:12]}"
    recorder = ImmudbApplicationRecorder(datastore=datastore, events_table_name=table)
    recorder.create_table()
    yield recorder
    datastore.close()


@pytest.fixture
def own_recorder(metrics: Metrics):
    """An application recorder on a database of its own: its datastore logs in itself."""
    datastore = ImmudbDatastore(settings_for(immudb_harness.fresh_database("e")), metrics)
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    recorder.create_table()
    yield recorder
    datastore.close()


def test_duplicate_version_is_an_integrity_error_and_writes_nothing(recorder, metrics) -> None:
    first = event()
    assert recorder.insert_events([first]) == [1]
    with pytest.raises(IntegrityError, match="key already exists"):
        recorder.insert_events([event(), event(first.originator_id, 1)])
    assert recorder.max_notification_id() == 1
    assert value(metrics, "aethyr_recorder_integrity_conflicts_total") == 1
    assert value(metrics, "aethyr_recorder_retries_total", reason="conflict") == 0


def test_a_key_another_datastore_wrote_is_refused_by_immudb(recorder, metrics) -> None:
    """The version clash found by the server: ``KeyMustNotExist`` on the event key."""
    other = ImmudbDatastore(recorder.datastore.settings, metrics)
    try:
        first = event()
        table = recorder.events_table_name
        other_recorder = ImmudbApplicationRecorder(datastore=other, events_table_name=table)
        assert other_recorder.insert_events([first]) == [1]
        sent = recorder.committer.requests
        with pytest.raises(IntegrityError, match=r"key already exists.*\[FAILED_PRECONDITION"):
            recorder.insert_events([event(), event(first.originator_id, 1)])
        assert recorder.committer.requests == sent + 1
    finally:
        other.close()
    assert recorder.max_notification_id() == 1
    assert value(metrics, "aethyr_recorder_integrity_conflicts_total") == 1


def test_a_key_the_recorder_wrote_is_refused_without_a_request(recorder, metrics) -> None:
    """The committer remembers its event keys: a clash with one fails at once, and a
    batch beside it in the same group is still written."""
    first = event()
    assert recorder.insert_events([first]) == [1]
    sent = recorder.committer.requests
    with pytest.raises(IntegrityError, match=r"key already exists.*wrote the key before"):
        recorder.insert_events([event(first.originator_id, 1)])
    assert recorder.committer.requests == sent
    assert recorder.max_notification_id() == 1
    assert value(metrics, "aethyr_recorder_integrity_conflicts_total") == 1
    assert value(metrics, "aethyr_recorder_errors_total", kind="integrity") == 1
    assert recorder.insert_events([event(first.originator_id, 2)]) == [2]


def test_a_lost_session_makes_the_committer_ask_immudb_again(recorder, metrics) -> None:
    """Once the datastore finds a session the server forgot (as after a restart) the
    remembered keys are dropped: the next clash goes to immudb, which still refuses it."""
    datastore = recorder.datastore
    first = event()
    assert recorder.insert_events([first]) == [1]
    (session,) = datastore._idle
    datastore.stub.CloseSession(
        schema_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), metadata=session.metadata
    )
    assert recorder.max_notification_id() == 1  # finds the session gone, opens another
    assert datastore.sessions_lost == 1
    sent = recorder.committer.requests
    with pytest.raises(IntegrityError, match=r"key already exists.*\[FAILED_PRECONDITION"):
        recorder.insert_events([event(first.originator_id, 1)])
    assert recorder.committer.requests == sent + 1


def test_stale_counter_is_refreshed_and_retried(recorder, metrics) -> None:
    """Another writer moved the counter: immudb refuses the request, the recorder re-reads
    the counter and sends it again with the next ids (not a version clash)."""
    other = ImmudbDatastore(recorder.datastore.settings, metrics)
    other_recorder = ImmudbApplicationRecorder(
        datastore=other, events_table_name=recorder.events_table_name
    )
    mine, theirs = event(), event()
    try:
        assert recorder.insert_events([event()]) == [1]
        assert other_recorder.insert_events([theirs]) == [2]
        assert recorder.insert_events([mine]) == [3]
    finally:
        other.close()
    assert value(metrics, "aethyr_recorder_retries_total", reason="modified") == 1
    ids = [n.originator_id for n in recorder.select_notifications(2, 10)]
    assert ids == [theirs.originator_id, mine.originator_id]


def test_stale_counter_retries_exhausted_is_an_operational_error(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("e"), IMMUDB_CONFLICT_RETRIES="0")
    first, second = (ImmudbDatastore(settings, metrics) for _ in range(2))
    try:
        one, two = (ImmudbApplicationRecorder(datastore=d) for d in (first, second))
        one.insert_events([event()])
        two.insert_events([event()])
        with pytest.raises(StaleCounterError, match="moved the notification counter"):
            one.insert_events([event()])
        assert isinstance(StaleCounterError(), OperationalError)
        assert one.max_notification_id() == 2
    finally:
        first.close()
        second.close()


def test_unavailable_server_is_retried_then_an_operational_error(metrics) -> None:
    settings = settings_for(
        "defaultdb",
        IMMUDB_PORT=str(free_port()),
        IMMUDB_MAX_RETRIES="3",
        IMMUDB_RETRY_DELAY="0.01",
        IMMUDB_CONNECT_TIMEOUT="2",
        IMMUDB_PASSWORD="Distinct-secret-4711",
    )
    datastore = ImmudbDatastore(settings, metrics)
    try:
        with pytest.raises(OperationalError, match="unavailable") as caught:
            ImmudbApplicationRecorder(datastore=datastore).max_notification_id()
    finally:
        datastore.close()
    assert value(metrics, "aethyr_recorder_retries_total", reason="unavailable") == 3
    assert value(metrics, "aethyr_recorder_errors_total", kind="unavailable") == 1
    assert settings.password not in str(caught.value)


def test_lost_session_is_reopened(own_recorder, metrics) -> None:
    recorder = own_recorder
    datastore = recorder.datastore
    assert recorder.insert_events([event()]) == [1]
    (session,) = datastore._idle
    datastore.stub.CloseSession(
        schema_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), metadata=session.metadata
    )
    assert recorder.insert_events([event()]) == [2]
    assert value(metrics, "aethyr_recorder_retries_total", reason="session") == 1
    assert value(metrics, "aethyr_recorder_sessions_opened_total") == 2


def test_idle_session_gets_a_keepalive_and_is_renewed_when_gone(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("e"), IMMUDB_SESSION_KEEPALIVE="0.001")
    with ImmudbDatastore(settings, metrics) as datastore:
        recorder = ImmudbApplicationRecorder(datastore=datastore)
        recorder.create_table()
        assert recorder.max_notification_id() is None  # reuses the session after a keep-alive
        (session,) = datastore._idle
        datastore.stub.CloseSession(
            schema_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), metadata=session.metadata
        )
        time.sleep(0.01)  # idle for longer than IMMUDB_SESSION_KEEPALIVE
        assert recorder.max_notification_id() is None  # keep-alive fails: a new session
    assert value(metrics, "aethyr_recorder_sessions_opened_total") == 2
    assert value(metrics, "aethyr_recorder_retries_total", reason="session") == 0


def test_too_many_entries_is_a_clear_data_error_writing_nothing(metrics) -> None:
    name = f"e{uuid.uuid4().hex[:20]}"  # created by the datastore (CREATE_TABLE=yes)
    settings = settings_for(name, IMMUDB_MAX_TX_ENTRIES="100")
    with ImmudbDatastore(settings, metrics) as datastore:
        recorder = ImmudbApplicationRecorder(datastore=datastore)
        recorder.create_table()
        # 97 events of one aggregate: 97 event keys, its blob, the log blob, the counter.
        originator_id = uuid.uuid4()
        batch = [event(originator_id, v) for v in range(1, 98)]
        assert recorder.insert_events(batch) == list(range(1, 98))
        with pytest.raises(BatchTooLargeError, match="maxTxEntries") as caught:
            recorder.insert_events([event(originator_id, v) for v in range(98, 196)])
        assert isinstance(caught.value, DataError)
        assert recorder.max_notification_id() == 97
    assert value(metrics, "aethyr_recorder_retries_total", reason="conflict") == 0


def test_value_too_large_is_a_data_error(metrics) -> None:
    name = f"e{uuid.uuid4().hex[:20]}"
    admin = ImmudbDatastore(settings_for("defaultdb"), metrics)
    try:

        def create(session: Session) -> None:
            admin.stub.CreateDatabaseV2(
                schema_pb2.CreateDatabaseRequest(
                    name=name,
                    settings=schema_pb2.DatabaseNullableSettings(
                        maxValueLen=schema_pb2.NullableUint32(value=4096)
                    ),
                ),
                metadata=session.metadata,
            )

        admin.run("create_database", create, write=True)
    finally:
        admin.close()
    with ImmudbDatastore(settings_for(name), metrics) as datastore:
        recorder = ImmudbApplicationRecorder(datastore=datastore)
        recorder.create_table()
        with pytest.raises(DataError, match="max value length exceeded"):
            recorder.insert_events([event(state=b"x" * 5000)])
        assert recorder.max_notification_id() is None


def test_originator_id_too_long_is_a_data_error_writing_nothing(recorder) -> None:
    with pytest.raises(DataError, match="longer than 255"):
        recorder.insert_events([event(), event("x" * 256)])
    with pytest.raises(DataError, match="UUID or a str"):
        recorder.insert_events([event(12345)])  # type: ignore[arg-type]
    assert recorder.max_notification_id() is None


def test_application_name_too_long_is_a_data_error_writing_nothing(metrics) -> None:
    long_name = "u" * 256
    with ImmudbDatastore(settings_for(immudb_harness.fresh_database("e")), metrics) as datastore:
        process = ImmudbProcessRecorder(datastore=datastore)
        process.create_table()
        view = ImmudbEventCounters(datastore=datastore, tracking_table_name="view_tracking")
        view.create_table()
        with pytest.raises(DataError, match="application name longer than 255"):
            process.insert_tracking(Tracking(long_name, 1))
        with pytest.raises(DataError, match="application name longer than 255"):
            process.insert_events([event()], tracking=Tracking(long_name, 1))
        with pytest.raises(DataError, match="application name longer than 255"):
            view.incr_created_event_counter(Tracking(long_name, 1))
        assert process.max_notification_id() is None
        assert process.max_tracking_id(long_name) is None
        sql = "SELECT application_name FROM view_tracking"
        assert datastore.run("select", lambda s: datastore.query(s, sql)) == []
        assert view.get_created_event_counter() == 0


def test_wrong_password_is_an_interface_error_without_the_password(metrics, caplog) -> None:
    secret = f"Wrong-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    settings = settings_for("defaultdb", IMMUDB_PASSWORD=secret)
    with ImmudbDatastore(settings, metrics) as datastore:
        with pytest.raises(InterfaceError, match="credentials") as caught:
            ImmudbApplicationRecorder(datastore=datastore).max_notification_id()
        texts = [str(caught.value), repr(caught.value), repr(datastore), repr(settings)]
        texts += [r.getMessage() for r in caplog.records]
        assert not any(secret in text for text in texts)
    assert value(metrics, "aethyr_recorder_errors_total", kind="auth") == 1


def test_missing_database_without_create_table_is_a_programming_error(metrics) -> None:
    settings = settings_for(f"missing{uuid.uuid4().hex[:12]}", CREATE_TABLE="no")
    with (
        ImmudbDatastore(settings, metrics) as datastore,
        pytest.raises(ProgrammingError, match="does not exist"),
    ):
        ImmudbApplicationRecorder(datastore=datastore).max_notification_id()


def test_missing_table_is_an_empty_log(recorder) -> None:
    absent = ImmudbApplicationRecorder(datastore=recorder.datastore, events_table_name="absent")
    assert absent.max_notification_id() is None
    assert absent.select_notifications(None, 10) == []


def test_deadline_exceeded_is_an_operational_error(recorder, metrics) -> None:
    """A call that outlives its deadline is an ``OperationalError``. (The call must be
    one the server cannot finish in 1 us: a local ``Get`` of a missing key sometimes
    comes back before the client notices its deadline passed.)"""
    settings = settings_for(recorder.datastore.settings.database, IMMUDB_TIMEOUT="0.000001")
    batch = [event(state=b"x" * 1000) for _ in range(300)]
    with (
        ImmudbDatastore(settings, metrics) as datastore,
        pytest.raises(OperationalError, match="timed out"),
    ):
        ImmudbApplicationRecorder(datastore=datastore).insert_events(batch)
    assert value(metrics, "aethyr_recorder_errors_total", kind="timeout") == 1


def test_other_server_errors_are_internal_errors(recorder) -> None:
    datastore = recorder.datastore
    with pytest.raises(InternalError, match="syntax error"):
        datastore.run("bad_sql", lambda s: datastore.query(s, "SELEC nothing"))


def test_a_table_in_the_old_sql_layout_names_the_upgrade_command(recorder) -> None:
    datastore = recorder.datastore
    datastore.run(
        "setup",
        lambda s: datastore.execute(
            s,
            "CREATE TABLE old_events (notification_id INTEGER AUTO_INCREMENT, "
            "originator_id VARCHAR[255] NOT NULL, PRIMARY KEY notification_id)",
        ),
        write=True,
    )
    old = ImmudbApplicationRecorder(datastore=datastore, events_table_name="old_events")
    with pytest.raises(StoreNeedsUpgradeError, match="aethyr-es store upgrade") as caught:
        old.create_table()
    assert isinstance(caught.value, ProgrammingError)
    with pytest.raises(StoreNeedsUpgradeError):
        old.insert_events([event()])
    assert recorder.max_notification_id() is None  # other tables are not affected


def test_invalid_table_name_is_a_programming_error(recorder) -> None:
    with pytest.raises(ProgrammingError, match="Invalid immudb table name"):
        ImmudbApplicationRecorder(datastore=recorder.datastore, events_table_name="my-app_events")


def test_classify_reads_codes_and_details() -> None:
    class FakeRpcError(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode, details: str) -> None:
            self._code, self._details = code, details

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return self._details

    unknown = grpc.StatusCode.UNKNOWN
    assert (
        classify(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big")) is ErrorKind.TOO_LARGE
    )
    assert classify(FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "")) is ErrorKind.AUTH
    assert classify(FakeRpcError(unknown, "session not found")) is ErrorKind.SESSION
    assert classify(grpc.RpcError()) is ErrorKind.OTHER
    # a deadline race can end as CANCELLED (RST_STREAM) instead of DEADLINE_EXCEEDED
    cancelled = FakeRpcError(grpc.StatusCode.CANCELLED, "Stream removed")
    assert classify(cancelled) is ErrorKind.TIMEOUT
