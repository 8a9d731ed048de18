"""Least privilege on a real immudb server: users made with :class:`UserAdmin`, and what
the recorder can and cannot do as each of them."""

from __future__ import annotations

import logging
import uuid

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.errors import PermissionDeniedError
from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.settings import ImmudbSettings
from aethyr_immudb_recorder.users import UserAdmin, UserAdminError
from tests import immudb_harness
from tests.recorder.support import env_for

pytestmark = pytest.mark.immudb

PASSWORD = "Least-Priv1!"  # immudb wants 8-32 characters, upper case, a digit, a symbol


def _admin() -> UserAdmin:
    return UserAdmin(ImmudbSettings.from_env(Environment(env=env_for("defaultdb"))))


def _user(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _factory(database: str, user: str, name: str = "", **extra: str) -> ImmudbFactory:
    """A factory of ``user`` on ``database``; ``name`` (an application name) gives the test
    tables of its own in the module's shared database."""
    env = env_for(database, IMMUDB_USER=user, IMMUDB_PASSWORD=PASSWORD, **extra)
    return ImmudbFactory(Environment(name=name, env=env))


def _name() -> str:
    return f"app{uuid.uuid4().hex[:10]}"


def _events(n: int = 2) -> list[StoredEvent]:
    originator = uuid.uuid4()
    return [
        StoredEvent(originator_id=originator, originator_version=v, topic="t", state=b"{}")
        for v in range(1, n + 1)
    ]


@pytest.fixture(scope="module")
def users() -> dict[str, str]:
    """A database with one user of each permission, and a user of another database.

    Made once for the module: creating a user makes immudb compute a bcrypt hash, and
    each user's login checks one (about 66 ms of the server's CPU each); with one set
    of users the tests' datastores take over each other's sessions. Tests that count
    notifications use tables of their own (:func:`_name`)."""
    ours = immudb_harness.fresh_database("lp")
    theirs = immudb_harness.fresh_database("lq")
    names = {
        "database": ours,
        "read": _user("reader"),
        "readwrite": _user("writer"),
        "admin": _user("dbadmin"),
        "other": _user("other"),
    }
    with _admin() as admin:
        for permission in ("read", "readwrite", "admin"):
            admin.create_user(names[permission], PASSWORD, database=ours, permission=permission)
        admin.create_user(names["other"], PASSWORD, database=theirs, permission="readwrite")
    return names


def test_users_are_listed_with_their_permissions_and_no_secret(users):
    with _admin() as admin:
        listed = {u.name: u for u in admin.list_users()}
        assert repr(admin).count(PASSWORD) == 0
    db = users["database"]
    assert listed[users["read"]].permissions == {db: "read"}
    assert listed[users["readwrite"]].permissions == {db: "readwrite"}
    assert listed[users["admin"]].permissions == {db: "admin"}
    assert listed[users["other"]].active and db not in listed[users["other"]].permissions
    assert PASSWORD not in repr(list(listed.values()))


def test_readwrite_user_runs_the_recorder_without_superuser(users, caplog):
    caplog.set_level(logging.WARNING)
    factory = _factory(users["database"], users["readwrite"], _name(), IMMUDB_SYNC_FREQUENCY_MS="7")
    try:
        recorder = factory.application_recorder()
        recorder.insert_events(_events())
        assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2]
        process = factory.process_recorder()
        assert process.max_tracking_id("upstream") is None
    finally:
        factory.close()
    # changing syncFrequency needs the superuser: a warning that says so, no failure
    assert "needs immudb's superuser" in caplog.text
    assert PASSWORD not in caplog.text


def test_read_user_reads_but_its_append_is_refused_and_writes_nothing(users):
    name = _name()
    writer = _factory(users["database"], users["readwrite"], name)
    try:
        writer.application_recorder().insert_events(_events())
    finally:
        writer.close()
    reader = _factory(users["database"], users["read"], name)
    try:
        recorder = reader.application_recorder()
        assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2]
        with pytest.raises(PermissionDeniedError, match="readwrite") as caught:
            recorder.insert_events(_events(3))
        assert PASSWORD not in str(caught.value)
        assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2]
        assert recorder.max_notification_id() == 2
    finally:
        reader.close()


def test_a_user_of_another_database_cannot_read_ours(users):
    writer = _factory(users["database"], users["readwrite"])
    try:
        writer.application_recorder().insert_events(_events())
    finally:
        writer.close()
    stranger = _factory(users["database"], users["other"])
    try:
        with pytest.raises(PermissionDeniedError, match="has no permission on database"):
            stranger.application_recorder().select_notifications(1, 10)
    finally:
        stranger.close()


def test_creating_a_missing_database_needs_the_superuser(users):
    missing = f"missing{uuid.uuid4().hex[:12]}"
    factory = _factory(missing, users["admin"])
    try:
        with pytest.raises(PermissionDeniedError, match="needs immudb's superuser"):
            factory.application_recorder()
    finally:
        factory.close()


def test_a_database_admin_manages_users_of_its_own_database(users):
    settings = ImmudbSettings.from_env(
        Environment(
            env=env_for(users["database"], IMMUDB_USER=users["admin"], IMMUDB_PASSWORD=PASSWORD)
        )
    )
    name = _user("viewer")
    with UserAdmin(settings) as admin:
        admin.create_user(name, PASSWORD, database=users["database"], permission="read")
        admin.grant(name, database=users["database"], permission="readwrite")
        listed = {u.name: u for u in admin.list_users()}
    assert listed[name].permissions == {users["database"]: "readwrite"}


def test_a_weak_password_or_a_taken_name_is_refused_clearly(users):
    with _admin() as admin:
        with pytest.raises(UserAdminError, match="password") as weak:
            admin.create_user(_user("weak"), "short", database=users["database"], permission="read")
        assert "short" not in str(weak.value).replace("password", "")
        with pytest.raises(UserAdminError, match="exists"):
            admin.create_user(
                users["read"], PASSWORD, database=users["database"], permission="read"
            )
        with pytest.raises(UserAdminError, match="unknown permission"):
            admin.create_user(_user("x"), PASSWORD, database=users["database"], permission="write")


def test_a_read_user_sql_write_is_a_permission_error(users):
    """The SQL engine words it differently ("access denied: statement requires READWRITE
    permission"); it is the same error kind."""
    factory = _factory(users["database"], users["read"])
    datastore = factory.datastore
    try:
        create = "CREATE TABLE t (id INTEGER, PRIMARY KEY id)"
        with pytest.raises(PermissionDeniedError, match="permission denied"):
            datastore.run("create_table", lambda s: datastore.execute(s, create), write=True)

        def in_transaction(session):
            with datastore.transaction(session) as tx:
                tx.execute(create)
                tx.commit()

        with pytest.raises(PermissionDeniedError, match="requires READWRITE"):
            datastore.run("create_table", in_transaction, write=True)
        tables = datastore.run("tables", lambda s: datastore.query(s, "SELECT * FROM TABLES()"))
        assert tables == []
    finally:
        factory.close()
