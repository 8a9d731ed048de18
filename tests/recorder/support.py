"""Helpers shared by the recorder tests: settings and datastores for a fresh database."""

from __future__ import annotations

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
