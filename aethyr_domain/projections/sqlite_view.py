"""The world view in SQLite (``PERSISTENCE_MODULE=eventsourcing.sqlite``).

Built on eventsourcing's :class:`~eventsourcing.sqlite.SQLiteTrackingRecorder`
and its datastore (connection pool, writer lock); rows and the tracking
position of each event are written in one SQLite transaction. Migrations run
their DDL and their ``schema_migrations`` row in one transaction too (SQLite
DDL is transactional).
"""

# Table and column names in these statements come from the code's migrations,
# never from input; every value is a bound parameter (S608 does not apply).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from aethyr_domain.projections.migrations import AppliedMigration, Migration
from aethyr_domain.projections.sql_rows import (
    SqlDialect,
    SqlTransaction,
    generation_tables,
    tracking_ddl,
)
from aethyr_domain.projections.view import (
    META_GENERATIONS,
    META_MIGRATIONS,
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


def _runner(c: SQLiteCursor) -> tuple[Any, Any]:
    def execute(sql: str, params: dict[str, Any]) -> None:
        c.execute(sql, params)

    def query(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        c.execute(sql, params)
        return [tuple(row) for row in c.fetchall()]

    return execute, query


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
    def _transaction(self, generation: int, *, write: bool) -> Iterator[Transaction]:
        with self.datastore.transaction(commit=write) as c:
            execute, query = _runner(c)
            yield SqlTransaction(SQLITE, generation, execute, query, self.version)

    def _ensure_meta(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {META_GENERATIONS} (generation INTEGER NOT NULL, "
                "status TEXT NOT NULL, changed_at TEXT NOT NULL, PRIMARY KEY (generation))"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {META_MIGRATIONS} (generation INTEGER NOT NULL, "
                "version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, "
                "checksum TEXT NOT NULL, PRIMARY KEY (generation, version))"
            )

    def _generations(self) -> dict[int, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT generation, status FROM {META_GENERATIONS}")
            return {int(row[0]): str(row[1]) for row in c.fetchall()}

    def _set_generation(self, generation: int, status: str | None) -> None:
        with self.datastore.transaction(commit=True) as c:
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
        with self.datastore.transaction(commit=True) as c:
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
        with self.datastore.transaction(commit=True) as c:
            for table in generation_tables(generation):
                c.execute(f"DROP TABLE IF EXISTS {table}")
            c.execute(f"DELETE FROM {META_MIGRATIONS} WHERE generation = ?", (generation,))
