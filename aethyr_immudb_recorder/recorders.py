"""Aggregate, application, tracking and process recorders on immudb SQL.

Table layout (``{t}`` is the table name the factory chose, e.g. ``world_events``)::

    CREATE TABLE {t} (                                -- events and snapshots
        notification_id      INTEGER AUTO_INCREMENT,  -- position in the application sequence
        originator_id        VARCHAR[255] NOT NULL,   -- str(UUID) or the str id
        originator_id_is_uuid BOOLEAN NOT NULL,       -- type tag: read back as UUID or str
        originator_version   INTEGER NOT NULL,
        topic                VARCHAR NOT NULL,
        state                BLOB NOT NULL,
        metadata             BLOB,                    -- reserved for eventsourcing 9.6
        event_id             VARCHAR[36],             -- reserved for eventsourcing 9.6
        PRIMARY KEY notification_id);
    CREATE UNIQUE INDEX ON {t}(originator_id, originator_version);

    CREATE TABLE {t} (                                -- tracking: one row per upstream app
        application_name VARCHAR[255] NOT NULL,
        notification_id  INTEGER NOT NULL,
        PRIMARY KEY application_name);

How the guarantees are met:

* A batch of events is one multi-row ``INSERT`` in one ``SQLExec``: atomic.
  Duplicate ``(originator_id, originator_version)`` keys (in the store or in the
  batch) fail the whole transaction with ``key already exists`` →
  ``IntegrityError``; nothing is written.
* ``AUTO_INCREMENT`` ids start at 1 in an empty table and are allocated inside
  the writing transaction; two concurrent allocators conflict (``tx read
  conflict``) and the loser is retried, so committed ids are dense, follow
  commit order and batches never interleave - across threads (also serialised
  by the datastore's writer lock) and across processes (by MVCC).
  The ids of a batch are ``last - n + 1 .. last`` from ``lastInsertedPKs``.
* Tracking is checked and written in an interactive transaction together with
  the events (or a view's rows): ``SELECT`` the current position, refuse with
  ``IntegrityError`` unless the new id is greater, ``UPSERT`` the new one,
  commit. A concurrent writer of the same row makes the commit conflict and
  the whole transaction is retried.

Table names are interpolated into SQL only after :func:`table_identifier`
has checked them against a strict identifier pattern; every value is a bound
``@param`` (hence the ``noqa: S608`` markers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    Notification,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session, Transaction
from aethyr_immudb_recorder.sqlvalues import Params

MAX_ORIGINATOR_ID_LENGTH = 255
"""Longest ``originator_id`` (characters) the events tables accept."""

MAX_APPLICATION_NAME_LENGTH = 255
"""Longest upstream application name the tracking tables accept."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")

EVENTS_COLUMNS = "originator_id, originator_id_is_uuid, originator_version, topic, state"


def table_identifier(name: str) -> str:
    """Check a table name is a plain lower-case SQL identifier; return it."""
    if not _IDENTIFIER.match(name):
        msg = (
            f"Invalid immudb table name {name!r}: expected lower-case letters, digits "
            "and '_' (the application or projection name is used as its prefix)"
        )
        raise ProgrammingError(msg)
    return name


def events_table_ddl(table: str) -> str:
    """The statements that create an events (or snapshots) table with its unique index."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "notification_id INTEGER AUTO_INCREMENT, "
        f"originator_id VARCHAR[{MAX_ORIGINATOR_ID_LENGTH}] NOT NULL, "
        "originator_id_is_uuid BOOLEAN NOT NULL, "
        "originator_version INTEGER NOT NULL, "
        "topic VARCHAR NOT NULL, "
        "state BLOB NOT NULL, "
        "metadata BLOB, "
        "event_id VARCHAR[36], "
        "PRIMARY KEY notification_id);"
        f"CREATE UNIQUE INDEX IF NOT EXISTS ON {table}(originator_id, originator_version);"
    )


def tracking_table_ddl(table: str) -> str:
    """The statement that creates a tracking table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        f"application_name VARCHAR[{MAX_APPLICATION_NAME_LENGTH}] NOT NULL, "
        "notification_id INTEGER NOT NULL, "
        "PRIMARY KEY application_name);"
    )


def existing_tables(datastore: ImmudbDatastore, session: Session) -> set[str]:
    """Names of the tables in the database (read from the catalog)."""
    return {str(row[0]) for row in datastore.query(session, "SELECT * FROM TABLES()")}


class ImmudbRecorder:
    """Base of every immudb recorder: holds the shared datastore."""

    def __init__(self, *, datastore: ImmudbDatastore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datastore = datastore

    def create_table(self) -> None:
        """Create this recorder's tables if missing (idempotent)."""


class ImmudbAggregateRecorder(ImmudbRecorder, AggregateRecorder):
    """Stores events (or snapshots) in one table; ``insert_events`` returns ``None``."""

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        events_table_name: str = "stored_events",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore=datastore, **kwargs)
        self.events_table_name = table_identifier(events_table_name)
        t = self.events_table_name
        self._select_events_sql = (
            f"SELECT {EVENTS_COLUMNS} FROM {t} USE INDEX ON (originator_id, originator_version) "  # noqa: S608
            "WHERE originator_id = @originator_id"
        )

    def create_table(self) -> None:
        super().create_table()
        self.datastore.ensure_tables(self.events_table_name, self._ensure_events_table)

    def _ensure_events_table(self, session: Session) -> None:
        table = self.events_table_name
        if table not in existing_tables(self.datastore, session):
            self.datastore.execute(session, events_table_ddl(table))
            return
        # CREATE UNIQUE INDEX IF NOT EXISTS fails on a non-empty table even when the
        # index exists, so look the index up in the catalog first.
        indexes = self.datastore.query(session, f"SELECT * FROM INDEXES('{table}')")  # noqa: S608
        wanted = f"{table}(originator_id,originator_version)"
        if any(str(row[1]) == wanted for row in indexes):
            return
        if self.datastore.query(session, f"SELECT notification_id FROM {table} LIMIT 1"):  # noqa: S608
            msg = (
                f"Table {table!r} exists without its unique index on "
                "(originator_id, originator_version) and is not empty; immudb can only "
                "create a unique index on an empty table"
            )
            raise ProgrammingError(msg)
        self.datastore.execute(
            session, f"CREATE UNIQUE INDEX ON {table}(originator_id, originator_version)"
        )

    # -- writing ---------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._insert_events(stored_events, tracking=None)
        return None

    def _insert_statement(self, stored_events: Sequence[StoredEvent]) -> tuple[str, Params]:
        params: dict[str, Any] = {}
        rows = []
        for i, event in enumerate(stored_events):
            originator_id = event.originator_id
            if isinstance(originator_id, UUID):
                oid, is_uuid = str(originator_id), True
            elif isinstance(originator_id, str):
                oid, is_uuid = originator_id, False
            else:
                msg = f"originator_id must be a UUID or a str, got {type(originator_id).__name__}"
                raise DataError(msg)
            if len(oid) > MAX_ORIGINATOR_ID_LENGTH:
                msg = (
                    f"originator_id longer than {MAX_ORIGINATOR_ID_LENGTH} characters "
                    f"({len(oid)}); nothing was written"
                )
                raise DataError(msg)
            params[f"o{i}"] = oid
            params[f"u{i}"] = is_uuid
            params[f"v{i}"] = event.originator_version
            params[f"t{i}"] = event.topic
            params[f"s{i}"] = event.state
            rows.append(f"(@o{i},@u{i},@v{i},@t{i},@s{i})")
        sql = f"INSERT INTO {self.events_table_name} ({EVENTS_COLUMNS}) VALUES {','.join(rows)}"  # noqa: S608
        return sql, params

    def _insert_events(
        self, stored_events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> list[int]:
        """Write events (and tracking) in one transaction; their notification ids."""
        if not stored_events and tracking is None:
            return []
        count = len(stored_events)
        sql, params = self._insert_statement(stored_events) if count else ("", {})
        table = self.events_table_name

        def write(session: Session) -> list[int]:
            if tracking is None:
                result = self.datastore.execute(session, sql, params)
                pks = result.txs[0].lastInsertedPKs
            else:
                with self.datastore.transaction(session) as tx:
                    self._insert_tracking(tx, tracking)
                    if count:
                        tx.execute(sql, params)
                    pks = tx.commit().lastInsertedPKs
            if not count:
                return []
            last = int(pks[table].n)
            return list(range(last - count + 1, last + 1))

        ids = self.datastore.run("insert_events", write, write=True)
        if count:
            self.datastore.metrics.events_appended.inc(count)
            self._after_insert()
        return ids

    def _insert_tracking(self, tx: Transaction, tracking: Tracking) -> None:
        msg = "This recorder has no tracking table"
        raise ProgrammingError(msg)  # pragma: no cover (overridden by tracking recorders)

    def _after_insert(self) -> None:
        """Hook run after events were committed (application recorders wake subscribers)."""

    # -- reading ---------------------------------------------------------------

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        sql = self._select_events_sql
        params: dict[str, Any] = {"originator_id": str(originator_id)}
        if gt is not None:
            sql += " AND originator_version > @gt"
            params["gt"] = gt
        if lte is not None:
            sql += " AND originator_version <= @lte"
            params["lte"] = lte
        if desc:
            sql += " ORDER BY originator_id DESC, originator_version DESC"
        else:
            sql += " ORDER BY originator_id, originator_version"
        if limit is not None:
            sql += " LIMIT @limit"
            params["limit"] = max(int(limit), 0)

        rows = self.datastore.run(
            "select_events", lambda session: self.datastore.query(session, sql, params)
        )
        return [
            StoredEvent(
                originator_id=UUID(row[0]) if row[1] else row[0],
                originator_version=row[2],
                topic=row[3],
                state=row[4],
            )
            for row in rows
        ]


class ImmudbApplicationRecorder(ImmudbAggregateRecorder, ApplicationRecorder):
    """Events with notification ids; ``subscribe()`` delivers new events live."""

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        events_table_name: str = "stored_events",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore=datastore, events_table_name=events_table_name, **kwargs)
        self.bus_key = (*datastore.database_key, self.events_table_name)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self._insert_events(stored_events, tracking=None)

    def _after_insert(self) -> None:
        from aethyr_immudb_recorder.subscription import local_bus

        local_bus.notify(self.bus_key)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        conditions = []
        params: dict[str, Any] = {"limit": max(int(limit), 0)}
        if start is not None:
            conditions.append(
                "notification_id >= @start" if inclusive_of_start else "notification_id > @start"
            )
            params["start"] = start
        if stop is not None:
            conditions.append("notification_id <= @stop")
            params["stop"] = stop
        if topics:
            names = []
            for i, topic in enumerate(topics):
                params[f"topic{i}"] = topic
                names.append(f"@topic{i}")
            conditions.append(f"topic IN ({','.join(names)})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            f"SELECT notification_id, {EVENTS_COLUMNS} FROM {self.events_table_name}"  # noqa: S608
            f"{where} ORDER BY notification_id LIMIT @limit"
        )
        rows = self.datastore.run(
            "select_notifications", lambda session: self.datastore.query(session, sql, params)
        )
        return [
            Notification(
                id=row[0],
                originator_id=UUID(row[1]) if row[2] else row[1],
                originator_version=row[3],
                topic=row[4],
                state=row[5],
            )
            for row in rows
        ]

    def max_notification_id(self) -> int | None:
        sql = (
            f"SELECT notification_id FROM {self.events_table_name} "  # noqa: S608
            "ORDER BY notification_id DESC LIMIT 1"
        )
        rows = self.datastore.run(
            "max_notification_id", lambda session: self.datastore.query(session, sql)
        )
        return int(rows[0][0]) if rows else None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        from aethyr_immudb_recorder.subscription import ImmudbSubscription

        return ImmudbSubscription(self, gt=gt, topics=topics)


class ImmudbTrackingRecorder(ImmudbRecorder, TrackingRecorder):
    """Positions of processed upstream notifications, monotonic per application name.

    Materialised views subclass this and write their rows together with the
    tracking in one transaction::

        def incr_counter(self, tracking: Tracking) -> None:
            def work(tx: Transaction) -> None:
                self._insert_tracking(tx, tracking)
                tx.execute("UPSERT INTO ...", {...})
            self._write_with_tracking(work)
    """

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        tracking_table_name: str = "notification_tracking",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore=datastore, **kwargs)
        self.tracking_table_name = table_identifier(tracking_table_name)
        t = self.tracking_table_name
        self._select_tracking_sql = (
            f"SELECT notification_id FROM {t} WHERE application_name = @application_name"  # noqa: S608
        )
        self._upsert_tracking_sql = (
            f"UPSERT INTO {t} (application_name, notification_id) "
            "VALUES (@application_name, @notification_id)"
        )

    def create_table(self) -> None:
        super().create_table()
        table = self.tracking_table_name

        def ensure(session: Session) -> None:
            if table not in existing_tables(self.datastore, session):
                self.datastore.execute(session, tracking_table_ddl(table))

        self.datastore.ensure_tables(table, ensure)

    def insert_tracking(self, tracking: Tracking) -> None:
        self._write_with_tracking(lambda tx: self._insert_tracking(tx, tracking))

    def _write_with_tracking(self, work: Any) -> None:
        """Run ``work(tx)`` in one retried read-write transaction and commit it."""

        def write(session: Session) -> None:
            with self.datastore.transaction(session) as tx:
                work(tx)
                tx.commit()

        self.datastore.run("insert_tracking", write, write=True)

    def _insert_tracking(self, tx: Transaction, tracking: Tracking) -> None:
        """Inside ``tx``: refuse a position not above the current one, else record it."""
        name = tracking.application_name
        if len(name) > MAX_APPLICATION_NAME_LENGTH:
            msg = f"application name longer than {MAX_APPLICATION_NAME_LENGTH} characters"
            raise DataError(msg)
        rows = tx.query(self._select_tracking_sql, {"application_name": name})
        current = rows[0][0] if rows else None
        if current is not None and current >= tracking.notification_id:
            msg = (
                f"Tracking notification ID {tracking.notification_id} for {name!r} is not "
                f"greater than the current max tracking ID {current}; nothing was written"
            )
            raise IntegrityError(msg)
        tx.execute(
            self._upsert_tracking_sql,
            {"application_name": name, "notification_id": tracking.notification_id},
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        params = {"application_name": application_name}
        rows = self.datastore.run(
            "max_tracking_id",
            lambda session: self.datastore.query(session, self._select_tracking_sql, params),
        )
        return int(rows[0][0]) if rows else None


class ImmudbProcessRecorder(ImmudbTrackingRecorder, ImmudbApplicationRecorder, ProcessRecorder):
    """Application recorder whose events are written atomically with a tracking record."""

    def __init__(
        self,
        *,
        datastore: ImmudbDatastore,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore=datastore,
            events_table_name=events_table_name,
            tracking_table_name=tracking_table_name,
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        return self._insert_events(stored_events, tracking=tracking)
