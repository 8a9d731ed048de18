"""SQL-side helpers: table names, the catalog, and tracking for SQL read-model views.

Events and the recorders' own tracking live in immudb's KV store
(:mod:`aethyr_immudb_recorder.recorders`). A materialised *view* that keeps its
rows in immudb SQL tables needs its tracking record in the same SQL transaction
as those rows, so :class:`ImmudbSQLTrackingRecorder` keeps tracking in a SQL table::

    CREATE TABLE {t} (                           -- one row per upstream application
        application_name VARCHAR[255] NOT NULL,
        notification_id  INTEGER NOT NULL,
        PRIMARY KEY application_name);

A view subclasses it and writes its rows and the tracking record in one
interactive transaction::

    def incr_counter(self, tracking: Tracking) -> None:
        def work(tx: Transaction) -> None:
            self._insert_tracking(tx, tracking)   # read, check it is greater, UPSERT
            tx.execute("UPSERT INTO ...", {...})
        self._write_with_tracking(work)          # one retried transaction

A concurrent writer of the same tracking row makes the commit conflict (MVCC) and
the whole transaction is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import DataError, IntegrityError, Tracking

from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session, Transaction
from aethyr_immudb_recorder.recorders import (
    MAX_APPLICATION_NAME_LENGTH,
    ImmudbTrackingRecorder,
    checked_tracking,
    existing_tables,
    table_identifier,
)


def tracking_table_ddl(table: str) -> str:
    """The statement that creates a SQL tracking table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        f"application_name VARCHAR[{MAX_APPLICATION_NAME_LENGTH}] NOT NULL, "
        "notification_id INTEGER NOT NULL, "
        "PRIMARY KEY application_name);"
    )


class ImmudbSQLTrackingRecorder(ImmudbTrackingRecorder):
    """Tracking in a SQL table, for views whose rows are SQL tables (see the module docstring)."""

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        tracking_table_name: str = "notification_tracking",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore=datastore, tracking_table_name=tracking_table_name, **kwargs)
        t = table_identifier(self.tracking_table_name)
        self._select_tracking_sql = (
            f"SELECT notification_id FROM {t} WHERE application_name = @application_name"  # noqa: S608
        )
        self._upsert_tracking_sql = (
            f"UPSERT INTO {t} (application_name, notification_id) "
            "VALUES (@application_name, @notification_id)"
        )

    def _check_layout(self) -> None:
        """SQL tracking is this class's layout: nothing to upgrade."""

    def create_table(self) -> None:
        table = self.tracking_table_name

        def ensure(session: Session) -> None:
            if table not in existing_tables(self.datastore, session):
                self.datastore.execute(session, tracking_table_ddl(table))

        self.datastore.ensure_tables(table, ensure)

    def insert_tracking(self, tracking: Tracking) -> None:
        self._write_with_tracking(lambda tx: self._insert_tracking(tx, tracking))

    def _write_with_tracking(self, work: Callable[[Transaction], None]) -> None:
        """Run ``work(tx)`` in one retried read-write transaction and commit it."""

        def write(session: Session) -> None:
            with self.datastore.transaction(session) as tx:
                work(tx)
                tx.commit()

        self.datastore.run("insert_tracking", write, write=True)

    def _insert_tracking(self, tx: Transaction, tracking: Tracking) -> None:
        """Inside ``tx``: refuse a position not above the current one, else record it."""
        name, notification_id = checked_tracking(tracking)
        rows = tx.query(self._select_tracking_sql, {"application_name": name})
        current = rows[0][0] if rows else None
        if current is not None and current >= notification_id:
            msg = (
                f"Tracking notification ID {notification_id} for {name!r} is not greater "
                f"than the current max tracking ID {current}; nothing was written"
            )
            raise IntegrityError(msg)
        tx.execute(
            self._upsert_tracking_sql,
            {"application_name": name, "notification_id": notification_id},
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        if not isinstance(application_name, str):
            raise DataError("application_name must be a str")
        params = {"application_name": application_name}
        rows = self.datastore.run(
            "max_tracking_id",
            lambda session: self.datastore.query(session, self._select_tracking_sql, params),
        )
        return int(rows[0][0]) if rows else None
