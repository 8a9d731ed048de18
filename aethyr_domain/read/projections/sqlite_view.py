"""The world view in SQLite (``PERSISTENCE_MODULE=eventsourcing.sqlite``).

Built on eventsourcing's :class:`~eventsourcing.sqlite.SQLiteTrackingRecorder`
and its datastore (connection pool, writer lock); rows and the tracking
position of each event are written in one SQLite transaction. Migrations run
their DDL and their ``schema_migrations`` row in one transaction too (SQLite
DDL is transactional).

Write transactions start with ``BEGIN IMMEDIATE``. The view usually shares the
events' file (``aethyr-es`` on SQLite), and its writes read rows first: a
plain (deferred) ``BEGIN`` takes a read snapshot, and upgrading it to a write
lock while the game's connection writes fails at once with "database is
locked" (SQLite cannot wait: the snapshot would be stale). ``BEGIN IMMEDIATE``
takes the write lock before the first read, so it waits for the game's commit
(up to the datastore's busy timeout, ``SQLITE_LOCK_TIMEOUT``) and then reads
fresh rows. Reads keep plain ``BEGIN`` (in WAL mode they never block).
"""

# Table and column names in these statements come from the code's migrations,
# never from input; every value is a bound parameter (S608 does not apply).
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import (
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
    SQLiteTransaction,
)

from aethyr_domain.read.projections.faults import FAULT_COLUMNS, FAULTS_TABLE
from aethyr_domain.read.projections.migrations import AppliedMigration, Migration
from aethyr_domain.read.projections.sql_rows import (
    SqlDialect,
    SqlTransaction,
    generation_tables,
    tracking_ddl,
)
from aethyr_domain.read.projections.view import (
    META_GENERATIONS,
    META_MIGRATIONS,
    Row,
    Transaction,
    WorldView,
    utc_now,
)

SQLITE = SqlDialect(
    param_prefix=":",
    upsert="INSERT OR REPLACE INTO",
    text_type="TEXT",
    key_text_type="TEXT",
    integer_type="INTEGER",
    boolean_type="INTEGER",
    json_type="TEXT",
    table_suffix=" WITHOUT ROWID",
)


FAULTS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {FAULTS_TABLE} (projection TEXT NOT NULL, "
    "generation INTEGER NOT NULL, notification_id INTEGER, aggregate_id TEXT, "
    "version INTEGER, error TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "first_failed_at TEXT NOT NULL, last_failed_at TEXT NOT NULL, "
    "retry_in_ms INTEGER NOT NULL, PRIMARY KEY (projection))"
)
"""DDL of the ``projection_faults`` metadata table (see :mod:`.faults`)."""


def read_faults(datastore: SQLiteDatastore) -> list[Row]:
    """The ``projection_faults`` rows of an SQLite file, read only (none when the
    file has no read model yet); what ``aethyr-es stats`` shows."""
    with datastore.transaction(commit=False) as c:
        c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FAULTS_TABLE,))
        if c.fetchone() is None:
            return []
        c.execute(f"SELECT {', '.join(FAULT_COLUMNS)} FROM {FAULTS_TABLE} ORDER BY projection")
        return [dict(zip(FAULT_COLUMNS, tuple(r), strict=True)) for r in c.fetchall()]


def _runner(c: SQLiteCursor) -> tuple[Any, Any]:
    def execute(sql: str, params: dict[str, Any]) -> None:
        c.execute(sql, params)

    def query(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        c.execute(sql, params)
        return [tuple(row) for row in c.fetchall()]

    return execute, query


class ImmediateTransaction(SQLiteTransaction):
    """eventsourcing's SQLite transaction (commit/rollback and error translation on
    exit), started with ``BEGIN IMMEDIATE`` instead of ``BEGIN``."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout
        except sqlite3.OperationalError as exc:
            cursor.sqlite_cursor.close()
            raise OperationalError(exc) from exc
        return cursor


class SQLiteWorldView(WorldView, SQLiteTrackingRecorder):
    """The world view in an SQLite database."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        generation: int | None = None,
        schema_version: int | None = None,
    ) -> None:
        super().__init__(datastore)
        self._open(generation, schema_version)

    def open_generation(self, generation: int) -> SQLiteWorldView:
        return SQLiteWorldView(self.datastore, generation=generation)

    def create_table(self) -> None:
        """Called by the factory when ``CREATE_TABLE`` is on: apply pending migrations."""
        self.migrate()

    @contextmanager
    def _write(self) -> Iterator[SQLiteCursor]:
        """A write transaction on the view's datastore, begun ``IMMEDIATE``."""
        with (
            self.datastore.get_connection(commit=True) as connection,
            ImmediateTransaction(connection, commit=True) as cursor,
            cursor,
        ):
            yield cursor

    @contextmanager
    def _transaction(self, generation: int, *, write: bool) -> Iterator[Transaction]:
        with self._write() if write else self.datastore.transaction(commit=False) as c:
            execute, query = _runner(c)
            yield SqlTransaction(SQLITE, generation, execute, query, self.version)

    def _ensure_meta(self) -> None:
        with self._write() as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {META_GENERATIONS} (generation INTEGER NOT NULL, "
                "status TEXT NOT NULL, changed_at TEXT NOT NULL, PRIMARY KEY (generation))"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {META_MIGRATIONS} (generation INTEGER NOT NULL, "
                "version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, "
                "checksum TEXT NOT NULL, PRIMARY KEY (generation, version))"
            )
            c.execute(FAULTS_DDL)

    def _generations(self) -> dict[int, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT generation, status FROM {META_GENERATIONS}")
            return {int(row[0]): str(row[1]) for row in c.fetchall()}

    def _set_generation(self, generation: int, status: str | None) -> None:
        with self._write() as c:
            if status is None:
                c.execute(f"DELETE FROM {META_GENERATIONS} WHERE generation = ?", (generation,))
            else:
                c.execute(
                    f"INSERT OR REPLACE INTO {META_GENERATIONS} VALUES (?, ?, ?)",
                    (generation, status, utc_now()),
                )

    def _applied(self, generation: int) -> list[AppliedMigration]:
        try:
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT version, name, applied_at, checksum FROM {META_MIGRATIONS} "
                    "WHERE generation = ? ORDER BY version",
                    (generation,),
                )
                return [AppliedMigration(int(r[0]), r[1], r[2], r[3]) for r in c.fetchall()]
        except OperationalError:  # pragma: no cover - metadata tables are created first
            return []

    def _apply_migration(self, generation: int, migration: Migration, applied_at: str) -> None:
        with self._write() as c:
            # Under the write lock (BEGIN IMMEDIATE), look again: another process
            # opening the same new file may have applied this migration since we
            # read the list. Then there is nothing to do (its CREATE TABLEs would
            # fail here, and the migration row's key is taken).
            c.execute(
                f"SELECT 1 FROM {META_MIGRATIONS} WHERE generation = ? AND version = ?",
                (generation, migration.version),
            )
            if c.fetchone() is not None:
                return
            if migration.version == 1:
                c.execute(tracking_ddl(SQLITE, generation))
            for op in migration.operations:
                for statement in SQLITE.ddl(generation, op):
                    c.execute(statement)
            c.execute(
                f"INSERT INTO {META_MIGRATIONS} VALUES (?, ?, ?, ?, ?)",
                (generation, migration.version, migration.name, applied_at, migration.checksum),
            )

    def _drop_generation_tables(self, generation: int) -> None:
        with self._write() as c:
            for table in generation_tables(generation):
                c.execute(f"DROP TABLE IF EXISTS {table}")
            c.execute(f"DELETE FROM {META_MIGRATIONS} WHERE generation = ?", (generation,))

    def _put_fault(self, row: Row) -> None:
        marks = ", ".join("?" for _ in FAULT_COLUMNS)
        with self._write() as c:
            c.execute(
                f"INSERT OR REPLACE INTO {FAULTS_TABLE} ({', '.join(FAULT_COLUMNS)}) "
                f"VALUES ({marks})",
                tuple(row[name] for name in FAULT_COLUMNS),
            )

    def _delete_fault(self, projection: str) -> None:
        with self._write() as c:
            c.execute(f"DELETE FROM {FAULTS_TABLE} WHERE projection = ?", (projection,))

    def _fault_rows(self) -> list[Row]:
        return read_faults(self.datastore)
