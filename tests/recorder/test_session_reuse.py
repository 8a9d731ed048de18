"""A closed datastore hands its logged-in sessions to the next one of the same login
(``aethyr_immudb_recorder.session_reuse``), on a real immudb."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid

import grpc
import pytest
from eventsourcing.persistence import PersistenceError
from google.protobuf import empty_pb2
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder import session_reuse
from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.errors import ErrorKind, classify
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.metrics import Metrics, metrics_for
from aethyr_immudb_recorder.session_reuse import PARKED, ParkedSessions, login_key
from aethyr_immudb_recorder.settings import ImmudbSettings
from aethyr_immudb_recorder.users import UserAdmin
from tests import immudb_harness
from tests.recorder.support import env_for, settings_for

pytestmark = pytest.mark.immudb

PASSWORD = "Reuse-Login1!"  # immudb wants 8-32 characters, upper case, a digit, a symbol


@pytest.fixture
def metrics() -> Metrics:
    return metrics_for(CollectorRegistry())


def value(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name) or 0.0


def used_session(datastore: ImmudbDatastore) -> str:
    """Make one call through ``datastore``; the id of the session it used."""
    with datastore.session() as session:
        datastore.stub.CurrentState(empty_pb2.Empty(), metadata=session.metadata, timeout=10)
        return session.id


def alive(settings: ImmudbSettings, session_id: str) -> bool:
    """Whether the server still knows ``session_id`` (a keep-alive through a new datastore's
    channel; ``False`` when immudb answers that the session is gone)."""
    probe = ImmudbDatastore(settings)
    try:
        probe.stub.KeepAlive(empty_pb2.Empty(), metadata=Session(session_id).metadata, timeout=10)
    except grpc.RpcError as exc:
        assert classify(exc) is ErrorKind.SESSION, exc
        return False
    finally:
        probe._close(park=False)
    return True


def test_a_closed_datastores_session_serves_the_next_one_of_the_same_login(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("s"))
    first = ImmudbDatastore(settings, metrics)
    session_id = used_session(first)
    first.close()
    assert PARKED.count(login_key(settings)) == 1
    assert alive(settings, session_id)  # parked, not closed
    second = ImmudbDatastore(settings, metrics)
    try:
        assert used_session(second) == session_id
        # what a first login does is done for the taken session too
        assert second.max_tx_entries == immudb_harness.TEST_MAX_TX_ENTRIES
        assert PARKED.count(login_key(settings)) == 0
    finally:
        second.close()
    assert value(metrics, "aethyr_recorder_sessions_opened_total") == 1
    assert value(metrics, "aethyr_recorder_sessions_reused_total") == 1
    assert second.sessions_lost == 0


def test_another_database_user_or_password_logs_in_itself(metrics) -> None:
    database, other_database = (immudb_harness.fresh_database("s") for _ in range(2))
    user = f"reuse{uuid.uuid4().hex[:10]}"
    with UserAdmin(settings_for("defaultdb")) as admin:
        admin.create_user(user, PASSWORD, database=database, permission="readwrite")
    settings = settings_for(database)
    first = ImmudbDatastore(settings, metrics)
    parked_id = used_session(first)
    first.close()
    key = login_key(settings)
    others = [
        settings_for(other_database),
        settings_for(database, IMMUDB_USER=user, IMMUDB_PASSWORD=PASSWORD),
    ]
    for other in others:
        assert login_key(other) != key
        datastore = ImmudbDatastore(other, metrics)
        try:
            assert used_session(datastore) != parked_id
        finally:
            datastore._close(park=False)
    # the parked session's user with a wrong password is refused, as without reuse
    wrong = settings_for(database, IMMUDB_PASSWORD="Not-the-password-1!")
    assert login_key(wrong) != key
    datastore = ImmudbDatastore(wrong, metrics)
    try:
        with pytest.raises((grpc.RpcError, PersistenceError)):
            used_session(datastore)
    finally:
        datastore.close()
    assert PARKED.count(key) == 1  # still waiting for its own login
    # the other database and the other user logged in; the wrong password never did
    assert value(metrics, "aethyr_recorder_sessions_opened_total") == 2
    # ``first`` took the session UserAdmin's datastore parked (the same admin login)
    assert value(metrics, "aethyr_recorder_sessions_reused_total") == 1
    assert PARKED.take(key, lambda s: None) is not None


def test_the_login_key_holds_no_secret() -> None:
    settings = settings_for("defaultdb", IMMUDB_PASSWORD="Very-secret-4711!")
    key = login_key(settings)
    assert not any("Very-secret-4711!" in part for part in key)
    assert "Very-secret-4711!" not in repr(PARKED)
    assert login_key(settings) == key  # the same login, the same key, in one process


def test_a_session_the_restarted_server_forgot_is_dropped_for_a_new_login(metrics) -> None:
    srv = ImmudbServer(synced=False).start()
    try:
        settings = settings_for("reused", IMMUDB_HOST=srv.host, IMMUDB_PORT=str(srv.port))
        first = ImmudbDatastore(settings, metrics)
        parked_id = used_session(first)
        first.close()
        assert PARKED.count(login_key(settings)) == 1
        srv.restart()  # immudb keeps no session across a restart
        opened = value(metrics, "aethyr_recorder_sessions_opened_total")
        second = ImmudbDatastore(settings, metrics)
        try:
            assert used_session(second) != parked_id
            assert second.sessions_lost == 1
        finally:
            second.close()
        assert value(metrics, "aethyr_recorder_sessions_opened_total") == opened + 1
        assert value(metrics, "aethyr_recorder_sessions_reused_total") == 0
        assert session_reuse.close_parked_sessions() >= 1
    finally:
        srv.kill()
        srv.stop()


def test_a_session_with_an_unfinished_transaction_is_closed_not_parked(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("s"))
    first = ImmudbDatastore(settings, metrics)
    with first.session() as session:
        unfinished = first.transaction(session)
        unfinished.__enter__().query("SELECT 1")  # begun, never committed nor rolled back
    assert session.open_transactions == 1  # back in the pool with its transaction open
    first.close()
    assert PARKED.count(login_key(settings)) == 0
    assert not alive(settings, session.id)
    with contextlib.suppress(ValueError):  # its rollback finds the channel closed
        unfinished.__exit__(ValueError, ValueError(), None)
    # a transaction that ended (committed, or rolled back) leaves a session that is parked
    second = ImmudbDatastore(settings, metrics)
    with second.session() as session, second.transaction(session) as tx:
        tx.query("SELECT 1")
        tx.rollback()
    assert session.open_transactions == 0
    second.close()
    assert PARKED.count(login_key(settings)) == 1
    assert value(metrics, "aethyr_recorder_sessions_opened_total") == 2


def test_reuse_off_closes_the_sessions_and_takes_none(metrics) -> None:
    database = immudb_harness.fresh_database("s")
    settings = settings_for(database, IMMUDB_SESSION_REUSE="no")
    assert not settings.session_reuse
    reusing = settings_for(database)
    parked = ImmudbDatastore(reusing, metrics)
    parked_id = used_session(parked)
    parked.close()
    first = ImmudbDatastore(settings, metrics)
    session_id = used_session(first)
    assert session_id != parked_id  # does not take the parked one
    first.close()
    assert not alive(settings, session_id)  # closed on close()
    assert PARKED.count(login_key(reusing)) == 1
    assert value(metrics, "aethyr_recorder_sessions_reused_total") == 0


def test_at_most_eight_sessions_wait_per_login(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("s"))
    datastore = ImmudbDatastore(settings, metrics)
    with contextlib.ExitStack() as stack:
        sessions = [stack.enter_context(datastore.session()) for _ in range(10)]
    datastore.close()
    assert PARKED.count(login_key(settings)) == session_reuse.MAX_PARKED_PER_LOGIN == 8
    kept = [alive(settings, s.id) for s in sessions]
    assert kept.count(True) == 8  # the other two were closed


def test_a_session_unused_too_long_is_closed_not_handed_out() -> None:
    parked = ParkedSessions(per_login=4, max_seconds=30.0)
    key = ("127.0.0.1:1", "tls", "user", "password digest", "db")
    old, new = Session("old"), Session("new")
    old.last_used = time.monotonic() - 31.0
    closed: list[Session] = []
    parked.park(key, [old, new], closed.append, lambda: pytest.fail("no channel needed"))
    assert closed == [old]
    assert parked.take(key, closed.append) is new
    assert parked.take(key, closed.append) is None
    assert parked.count() == 0


def test_parked_sessions_are_closed_at_exit() -> None:
    """A process that closed its datastore and exits leaves no session on the server."""
    settings = settings_for(immudb_harness.fresh_database("s"))
    code = (
        "import os\n"
        "from eventsourcing.utils import Environment\n"
        "from aethyr_immudb_recorder.datastore import ImmudbDatastore\n"
        "from aethyr_immudb_recorder.session_reuse import PARKED, login_key\n"
        "from aethyr_immudb_recorder.settings import ImmudbSettings\n"
        "settings = ImmudbSettings.from_env(Environment(env=dict(os.environ)))\n"
        "datastore = ImmudbDatastore(settings)\n"
        "with datastore.session() as session:\n"
        "    print(session.id)\n"
        "datastore.close()\n"
        "assert PARKED.count(login_key(settings)) == 1\n"
    )
    env = {**os.environ, **env_for(settings.database)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert session_id
    assert not alive(settings, session_id)


def test_close_parked_sessions_closes_them_now(metrics) -> None:
    settings = settings_for(immudb_harness.fresh_database("s"))
    datastore = ImmudbDatastore(settings, metrics)
    session_id = used_session(datastore)
    datastore.close()
    assert alive(settings, session_id)
    assert session_reuse.close_parked_sessions() >= 1
    assert PARKED.count(login_key(settings)) == 0
    assert not alive(settings, session_id)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_take_its_parents_sessions() -> None:
    settings = settings_for(immudb_harness.fresh_database("s"))
    datastore = ImmudbDatastore(settings)
    session_id = used_session(datastore)
    datastore.close()
    assert PARKED.count(login_key(settings)) == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it finds parked, and leave at once
        try:
            os.write(write, str(PARKED.count()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        in_child = pipe.read()
    os.waitpid(pid, 0)
    assert in_child == "0"
    assert PARKED.count(login_key(settings)) == 1  # still the parent's
    assert alive(settings, session_id)
