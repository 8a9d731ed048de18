"""The world view in immudb SQL (``PERSISTENCE_MODULE=aethyr_immudb_recorder``).

Built on the recorder's :class:`~aethyr_immudb_recorder.sql_tracking.ImmudbSQLTrackingRecorder`
and its datastore: each event's row changes and the generation's tracking
position are written in ONE interactive immudb transaction, run through the
datastore's retry policy (``tx read conflict`` and lost sessions are retried,
``IntegrityError`` never). Reads use a read-only transaction, so a query sees
one consistent snapshot.

immudb keeps every version of every row; a ``DELETE`` is logical and the
history stays verifiable. Schema facts that shaped the DDL: key columns are
``VARCHAR[64]`` (ids are at most 64 characters), JSON is stored as
``VARCHAR`` text, and a migration's DDL and its ``schema_migrations`` row are
committed in one transaction.
"""

# Table and column names in these statements come from the code's migrations,
# never from input; every value is a bound parameter (S608 does not apply).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc

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
from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.datastore import Transaction as ImmudbTransaction
from aethyr_immudb_recorder.errors import translate
from aethyr_immudb_recorder.recorders import existing_tables
from aethyr_immudb_recorder.sql_tracking import ImmudbSQLTrackingRecorder

T = TypeVar("T")

IMMUDB = SqlDialect(
    param_prefix="@",
    upsert="UPSERT INTO",
    text_type="VARCHAR",
    key_text_type="VARCHAR[{n}]",
    integer_type="INTEGER",
    boolean_type="BOOLEAN",
    json_type="VARCHAR",
    multi_statement=True,
    in_list_by_union=True,
)


META_DDL = {
    META_GENERATIONS: (
        f"CREATE TABLE IF NOT EXISTS {META_GENERATIONS} (generation INTEGER NOT NULL,"
        " status VARCHAR[16] NOT NULL, changed_at VARCHAR NOT NULL,"
        " PRIMARY KEY (generation));"
    ),
    META_MIGRATIONS: (
        f"CREATE TABLE IF NOT EXISTS {META_MIGRATIONS} (generation INTEGER NOT NULL,"
        " version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL,"
        " checksum VARCHAR NOT NULL, PRIMARY KEY (generation, version));"
    ),
    FAULTS_TABLE: (
        f"CREATE TABLE IF NOT EXISTS {FAULTS_TABLE} (projection VARCHAR[64] NOT NULL,"
        " generation INTEGER NOT NULL, notification_id INTEGER, aggregate_id VARCHAR,"
        " version INTEGER, error VARCHAR NOT NULL, attempts INTEGER NOT NULL,"
        " first_failed_at VARCHAR NOT NULL, last_failed_at VARCHAR NOT NULL,"
        " retry_in_ms INTEGER NOT NULL,"
        " PRIMARY KEY (projection));"
    ),
}
"""DDL of the metadata tables (see :mod:`.view`), by table name."""


def read_faults(datastore: ImmudbDatastore) -> list[Row]:
    """The ``projection_faults`` rows of an immudb database, read only (none when it
    has no read model yet); what ``aethyr-es stats`` shows."""

    def read(session: Session) -> list[Row]:
        if FAULTS_TABLE not in existing_tables(datastore, session):
            return []
        rows = datastore.query(
            session,
            f"SELECT {', '.join(FAULT_COLUMNS)} FROM {FAULTS_TABLE} ORDER BY projection",
        )
        return [dict(zip(FAULT_COLUMNS, tuple(r), strict=True)) for r in rows]

    return datastore.run("select_projection_faults", read)


def _sql_transaction(tx: ImmudbTransaction, generation: int, version: int) -> SqlTransaction:
    def execute(sql: str, params: dict[str, Any]) -> None:
        tx.execute(sql, params)

    def query(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in tx.query(sql, params)]

    return SqlTransaction(IMMUDB, generation, execute, query, version)


class ImmudbWorldView(WorldView, ImmudbSQLTrackingRecorder):
    """The world view in an immudb database."""

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        tracking_table_name: str = "notification_tracking",
        generation: int | None = None,
        schema_version: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore=datastore, tracking_table_name=tracking_table_name, **kwargs)
        self._open(generation, schema_version)

    def open_generation(self, generation: int) -> ImmudbWorldView:
        return ImmudbWorldView(datastore=self.datastore, generation=generation)

    def create_table(self) -> None:
        """Called by the factory when ``CREATE_TABLE`` is on: apply pending migrations."""
        self.migrate()

    @contextmanager
    def _in_session(
        self, session: Session, generation: int, *, write: bool
    ) -> Iterator[Transaction]:
        """One interactive transaction in ``session``: committed when ``write`` and the
        block ends normally, else rolled back (which ends a read-only transaction and
        frees its snapshot)."""
        with self.datastore.transaction(session, read_only=not write) as tx:
            yield _sql_transaction(tx, generation, self.version)
            if write:
                tx.commit()
            else:
                tx.rollback()

    @contextmanager
    def _transaction(self, generation: int, *, write: bool) -> Iterator[Transaction]:
        """One interactive transaction (no retries: :meth:`_run` adds them for writes)."""
        try:
            with (
                self.datastore.session() as session,
                self._in_session(session, generation, write=write) as tx,
            ):
                yield tx
        except grpc.RpcError as exc:
            raise translate(exc, "world view") from exc

    def _run(self, *, write: bool, body: Callable[[Transaction], T]) -> T:
        """Run ``body`` in one transaction through the datastore's retry policy."""

        def unit(session: Session) -> T:
            with self._in_session(session, self.generation, write=write) as tx:
                return body(tx)

        return self.datastore.run(
            "world_view_write" if write else "world_view_read", unit, write=write
        )

    def _run_write(self, name: str, work: Callable[[ImmudbTransaction], None]) -> None:
        def write(session: Session) -> None:
            with self.datastore.transaction(session) as tx:
                work(tx)
                tx.commit()

        self.datastore.run(name, write, write=True)

    def _ensure_meta(self) -> None:
        """Create the metadata tables that are missing, guarded like a migration.

        The catalog is read and the missing tables created in ONE interactive
        transaction. Two processes opening a new read model at once both find the
        tables missing; immudb registers the catalog read of a transaction, so the
        second commit fails with a read conflict (``fetching more entries than
        expected``) instead of creating the tables a second time over the first
        one's (and its rows); the datastore retries it, and the retry finds every
        table and creates nothing.
        """

        def work(tx: ImmudbTransaction) -> None:
            missing = self._missing_meta(tx)
            if missing:
                tx.execute("\n".join(META_DDL[table] for table in missing), {})

        self._run_write("create_meta", work)

    def _missing_meta(self, tx: ImmudbTransaction) -> list[str]:
        """The metadata tables the transaction's catalog lacks."""
        tables = {str(row[0]) for row in tx.query("SELECT * FROM TABLES()", {})}
        return [table for table in META_DDL if table not in tables]

    def _generations(self) -> dict[int, str]:
        rows = self.datastore.run(
            "select_generations",
            lambda s: self.datastore.query(s, f"SELECT generation, status FROM {META_GENERATIONS}"),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    def _set_generation(self, generation: int, status: str | None) -> None:
        def work(tx: ImmudbTransaction) -> None:
            if status is None:
                tx.execute(
                    f"DELETE FROM {META_GENERATIONS} WHERE generation = @g", {"g": generation}
                )
            else:
                tx.execute(
                    f"UPSERT INTO {META_GENERATIONS} (generation, status, changed_at) "
                    "VALUES (@g, @s, @t)",
                    {"g": generation, "s": status, "t": utc_now()},
                )

        self._run_write("set_generation", work)

    def _applied(self, generation: int) -> list[AppliedMigration]:
        rows = self.datastore.run(
            "select_migrations",
            lambda s: self.datastore.query(
                s,
                f"SELECT version, name, applied_at, checksum FROM {META_MIGRATIONS} "
                "WHERE generation = @g ORDER BY version",
                {"g": generation},
            ),
        )
        return [AppliedMigration(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def _apply_migration(self, generation: int, migration: Migration, applied_at: str) -> None:
        statements: list[str] = []
        if migration.version == 1:
            statements.append(tracking_ddl(IMMUDB, generation))
        for op in migration.operations:
            statements.extend(IMMUDB.ddl(generation, op))

        statements.append(
            f"INSERT INTO {META_MIGRATIONS} (generation, version, name, applied_at, checksum) "
            "VALUES (@g, @v, @n, @a, @c)"
        )

        params = {
            "g": generation,
            "v": migration.version,
            "n": migration.name,
            "a": applied_at,
            "c": migration.checksum,
        }

        def work(tx: ImmudbTransaction) -> None:
            # One interactive transaction that first reads the migration's row: two
            # processes opening the store at once both try to migrate, and immudb does
            # not check DDL against concurrent transactions (a second CREATE TABLE from
            # an older snapshot would silently replace the table another process just
            # altered). The read makes the loser's commit fail with a read conflict;
            # the retry then finds the row and does nothing.
            done = tx.query(
                f"SELECT version FROM {META_MIGRATIONS} WHERE generation = @g AND version = @v",
                {"g": generation, "v": migration.version},
            )
            if not done:
                tx.execute(";\n".join(statements) + ";", params)

        self._run_write("migrate", work)

    def _drop_generation_tables(self, generation: int) -> None:
        def work(session: Session) -> None:
            tables = existing_tables(self.datastore, session)
            drops = [f"DROP TABLE {t};" for t in generation_tables(generation) if t in tables]
            self.datastore.execute(
                session,
                "\n".join(drops) + f"\nDELETE FROM {META_MIGRATIONS} WHERE generation = @g;",
                {"g": generation},
            )

        self.datastore.run("drop_generation", work, write=True)

    def _put_fault(self, row: Row) -> None:
        values: list[str] = []
        params: dict[str, Any] = {}
        for i, name in enumerate(FAULT_COLUMNS):
            if row[name] is None:
                values.append("NULL")  # immudb-py cannot bind None
            else:
                values.append(f"@p{i}")
                params[f"p{i}"] = row[name]
        sql = (
            f"UPSERT INTO {FAULTS_TABLE} ({', '.join(FAULT_COLUMNS)}) VALUES ({', '.join(values)})"
        )
        self._run_write("record_fault", lambda tx: tx.execute(sql, params))

    def _delete_fault(self, projection: str) -> None:
        self._run_write(
            "clear_fault",
            lambda tx: tx.execute(
                f"DELETE FROM {FAULTS_TABLE} WHERE projection = @p", {"p": projection}
            ),
        )

    def _fault_rows(self) -> list[Row]:
        return read_faults(self.datastore)
