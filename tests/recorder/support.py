"""Helpers shared by the recorder tests: settings and datastores for a fresh database."""

from __future__ import annotations

from typing import ClassVar
from uuid import uuid4

from eventsourcing.utils import Environment

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.settings import ImmudbSettings
from tests import immudb_harness

PERSISTENCE_MODULE = "aethyr_immudb_recorder"


def env_for(database: str, name: str = "", **extra: str) -> dict[str, str]:
    """Environment variables selecting the recorder on the session server and ``database``."""
    srv = immudb_harness.server()
    env = {
        "PERSISTENCE_MODULE": PERSISTENCE_MODULE,
        "IMMUDB_HOST": srv.host,
        "IMMUDB_PORT": str(srv.port),
        "IMMUDB_USER": immudb_harness.ADMIN_USER,
        "IMMUDB_PASSWORD": immudb_harness.ADMIN_PASSWORD,
        "IMMUDB_DATABASE": database,
        "IMMUDB_POOL_SIZE": "12",
    }
    env.update(extra)
    return env


def settings_for(database: str, **extra: str) -> ImmudbSettings:
    return ImmudbSettings.from_env(Environment(env=env_for(database, **extra)))


def fresh_datastore(
    max_tx_entries: int = immudb_harness.TEST_MAX_TX_ENTRIES, **extra: str
) -> ImmudbDatastore:
    """A datastore on a new, empty database (ids start at 1) allowing ``max_tx_entries``."""
    database = immudb_harness.fresh_database("r", max_tx_entries=max_tx_entries)
    return ImmudbDatastore(settings_for(database, **extra))


class SharedDatastoreCase:
    """A unittest mixin: one datastore for all the tests of a class, a table of its own
    for each test.

    The class opens its datastore (:meth:`make_datastore`) once and closes it after
    its last test; each test gets new table names (:attr:`events_table`,
    :attr:`tracking_table`), so its notification ids start at 1 as on a new database.
    A new datastore per test opened new immudb sessions for every test, and each
    login costs the server a bcrypt check (about 66 ms of its CPU); a new database
    per test also held the server's memory for its transaction buffers.
    """

    datastore: ClassVar[ImmudbDatastore]
    events_table: str
    tracking_table: str

    @classmethod
    def make_datastore(cls) -> ImmudbDatastore:
        return fresh_datastore()

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # type: ignore[misc]
        cls.datastore = cls.make_datastore()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.datastore.close()
        super().tearDownClass()  # type: ignore[misc]

    def setUp(self) -> None:
        suffix = uuid4().hex[:12]
        self.events_table = f"stored_events_{suffix}"
        self.tracking_table = f"notification_tracking_{suffix}"
        super().setUp()  # type: ignore[misc]
