"""The persistence backends a run compares, and the servers they need.

Each :class:`Backend` is a name plus the environment an eventsourcing
``Application`` is constructed with. ``popo`` and ``sqlite`` (a file in a
temporary directory, WAL mode) need nothing; ``postgres`` needs a
:class:`~benchmarks.postgres.TempPostgres`; ``immudb`` and ``immudb-synced``
need an :class:`~aethyr_immudb_recorder.launcher.ImmudbServer` started with
``synced=True`` (every commit flushed to disk before it is acknowledged, like
PostgreSQL's defaults: the durable comparison) and ``synced=False`` (no flush per
commit: faster, but a crash can lose the data dir; a side column, labelled so).
A backend that cannot be started carries the reason instead of an environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from eventsourcing.persistence import InfrastructureFactory

from benchmarks.postgres import PostgresUnavailableError, TempPostgres

ALL_BACKENDS = ("popo", "sqlite", "postgres", "immudb-synced", "immudb")
#: Every run compares all of them; ``immudb`` (unsynced) is the side column.
DEFAULT_BACKENDS = ALL_BACKENDS

DURABILITY = {
    "popo": "in memory",
    "sqlite": "file, WAL, synchronous=NORMAL (library default)",
    "postgres": "fsync=on, synchronous_commit=on (defaults)",
    "immudb-synced": (
        "launcher synced=True: every commit flushed to disk (the default);"
        " database syncFrequency 0 ms (IMMUDB_SYNC_FREQUENCY_MS=0: flush as soon as a commit waits)"
    ),
    "immudb": "UNSYNCED, launcher synced=False: no flush per commit, not crash-safe",
}


@dataclasses.dataclass
class Backend:
    """A named backend: the environment to run on, or why it is skipped."""

    name: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    skip_reason: str | None = None
    sqlite_dir: Path | None = None
    database_per_app: bool = False

    def env_for(self, app_name: str) -> dict[str, str]:
        """The environment for an application named ``app_name``.

        SQLite gets a file per application. immudb gets a database per
        application (``IMMUDB_DATABASE`` = the lower-cased name, created by the
        recorder), as ``docs/recorder.md`` recommends: every immudb write
        transaction clones the catalog and reads the maximum key of every
        ``AUTO_INCREMENT`` table in its database, so its cost grows with the
        number of tables there (see ``docs/performance.md``).
        """
        env = dict(self.env)
        if self.sqlite_dir is not None:
            env["SQLITE_DBNAME"] = str(self.sqlite_dir / f"{app_name}.sqlite")
        if self.database_per_app:
            env["IMMUDB_DATABASE"] = app_name.lower()
        return env


def immudb_recorder_missing() -> str | None:
    """Why ``PERSISTENCE_MODULE=aethyr_immudb_recorder`` cannot work here, or None."""
    try:
        module = importlib.import_module("aethyr_immudb_recorder")
    except ImportError as exc:  # pragma: no cover - the package is ours
        return f"recorder not available: {exc}"
    factory = getattr(module, "Factory", None)
    if not (isinstance(factory, type) and issubclass(factory, InfrastructureFactory)):
        return "recorder not available: aethyr_immudb_recorder has no Factory yet"
    return None


@contextlib.contextmanager
def started_backends(
    names: Sequence[str], versions: dict[str, str], *, immudb_shared_database: bool = False
) -> Iterator[list[Backend]]:
    """Start what ``names`` need, yield the backends, stop and delete everything after.

    Server versions are added to ``versions`` (``postgresql``, ``immudb``).
    ``immudb_shared_database`` puts every application's tables in one immudb
    database (``bench``) instead of one database per application.
    """
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        backends: list[Backend] = []
        for name in names:
            if name == "popo":
                backends.append(Backend(name, {"PERSISTENCE_MODULE": "eventsourcing.popo"}))
            elif name == "sqlite":
                env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
                backends.append(Backend(name, env, sqlite_dir=tmp))
            elif name == "postgres":
                backends.append(_postgres(stack, versions))
            elif name in ("immudb", "immudb-synced"):
                backend = _immudb(name, stack, versions)
                backend.database_per_app = not immudb_shared_database
                backends.append(backend)
            else:
                raise ValueError(f"unknown backend {name!r}; choose from {', '.join(ALL_BACKENDS)}")
        yield backends


def _postgres(stack: contextlib.ExitStack, versions: dict[str, str]) -> Backend:
    pg = TempPostgres()
    try:
        pg.start()
    except (PostgresUnavailableError, OSError) as exc:
        pg.stop()
        versions["postgresql"] = "not available"
        return Backend("postgres", skip_reason=f"PostgreSQL not available: {exc}")
    stack.callback(pg.stop)
    versions["postgresql"] = pg.version
    versions["postgresql durability"] = ", ".join(f"{k}={v}" for k, v in pg.durability.items())
    return Backend("postgres", pg.env)


def _immudb(name: str, stack: contextlib.ExitStack, versions: dict[str, str]) -> Backend:
    missing = immudb_recorder_missing()
    if missing is not None:
        return Backend(name, skip_reason=missing)
    from aethyr_immudb_recorder.launcher import ImmudbServer, requested_version

    server = ImmudbServer(synced=name == "immudb-synced")
    try:
        server.start()
    except Exception as exc:
        return Backend(name, skip_reason=f"immudb server did not start: {exc}")
    stack.callback(server.stop)
    versions["immudb"] = f"{requested_version()} (built by the launcher)"
    env = {
        "PERSISTENCE_MODULE": "aethyr_immudb_recorder",
        "IMMUDB_HOST": server.host,
        "IMMUDB_PORT": str(server.port),
        "IMMUDB_DATABASE": "bench",
        # Still durable (a commit is acknowledged after its fsync): the server's syncer
        # flushes as soon as a commit waits instead of gathering commits for up to 20 ms,
        # so writers wait only for the flush itself (run 11: 0 ms against 1 ms made
        # save-1 1.3x and concurrent 1.45x faster). The trade-off is in docs/recorder.md.
        "IMMUDB_SYNC_FREQUENCY_MS": "0",
    }
    return Backend(name, env)
