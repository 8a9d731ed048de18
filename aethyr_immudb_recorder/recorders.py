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

Field types are checked before anything is sent, and a wrong one refuses the
whole batch with :class:`~eventsourcing.persistence.DataError` naming the field
(nothing is written): ``originator_version`` must be an ``int`` in the signed
64-bit range, ``topic`` a ``str``, ``state`` ``bytes`` (or a ``bytearray`` /
``memoryview``, stored as bytes), a tracking record's ``application_name`` a
``str`` and ``notification_id`` an ``int``. A ``bool`` is refused although it is
an ``int`` subclass: eventsourcing's SQLite recorder would store ``True`` as
``1`` and its POPO recorder keep ``True``, so a ``bool`` version is a bug
upstream, not a version. (Those two recorders store whatever they are given -
SQLite coerces ``"1"`` to ``1`` - and PostgreSQL refuses a value it cannot
convert with ``DataError``; immudb would coerce some values silently and report
others as internal errors, hence the explicit checks and the library's
``DataError``, "a problem with the processed data".)
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

from aethyr_immudb_recorder.datastore import (
    ImmudbDatastore,
    Session,
    Transaction,
    exec_request,
)
from aethyr_immudb_recorder.sqlvalues import Params

MAX_ORIGINATOR_ID_LENGTH = 255
"""Longest ``originator_id`` (characters) the events tables accept."""

MAX_APPLICATION_NAME_LENGTH = 255
"""Longest upstream application name the tracking tables accept."""

_INT64_LIMIT = 2**63

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

    #: The ``kind`` label of the rows it writes in the metrics: ``event``, or
    #: ``snapshot`` for a snapshots table (the factory sets it by purpose).
    stored_kind: str = "event"

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
        """One multi-row ``INSERT`` for ``stored_events`` and its parameters.

        Lean on purpose (each bound parameter is two protobuf messages on the
        client and a map entry on the server): a version that is a plain
        non-negative ``int`` and the UUID tag are written as literals, and each
        distinct originator id and topic is bound once per batch. The state is
        always bound (``@s{i}``). Values are never interpolated otherwise.
        """
        params: dict[str, Any] = {}
        names: dict[tuple[str, Any], str] = {}
        rows = []
        for i, event in enumerate(stored_events):
            originator_id = event.originator_id
            if isinstance(originator_id, UUID):
                oid, is_uuid = str(originator_id), "TRUE"
            elif isinstance(originator_id, str):
                oid, is_uuid = originator_id, "FALSE"
            else:
                msg = f"originator_id must be a UUID or a str, got {type(originator_id).__name__}"
                raise DataError(msg)
            if len(oid) > MAX_ORIGINATOR_ID_LENGTH:
                msg = (
                    f"originator_id longer than {MAX_ORIGINATOR_ID_LENGTH} characters "
                    f"({len(oid)}); nothing was written"
                )
                raise DataError(msg)
            o = names.get(("o", oid))
            if o is None:
                o = names[("o", oid)] = f"@o{i}"
                params[f"o{i}"] = oid
            version = _checked_int64("originator_version", event.originator_version)
            if not isinstance(event.topic, str):
                raise _wrong_type("topic", "a str", event.topic)
            if not isinstance(event.state, bytes | bytearray | memoryview):
                raise _wrong_type("state", "bytes", event.state)
            t = names.get(("t", event.topic))
            if t is None:
                t = names[("t", event.topic)] = f"@t{i}"
                params[f"t{i}"] = event.topic
            if type(version) is int and version >= 0:
                v = str(version)
            else:  # negative, or an int subclass (IntEnum): a bound value
                v = f"@v{i}"
                params[f"v{i}"] = version
            params[f"s{i}"] = event.state
            rows.append(f"({o},{is_uuid},{v},{t},@s{i})")
        sql = f"INSERT INTO {self.events_table_name} ({EVENTS_COLUMNS}) VALUES {','.join(rows)}"  # noqa: S608
        return sql, params

    def _insert_events(
        self, stored_events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> list[int]:
        """Write events (and tracking) in one ``SQLExec`` transaction; their notification ids.

        With ``tracking`` the statement starts with the tracking guard and
        ``UPSERT`` (:meth:`_tracking_statement`), so the check, the tracking
        record and the events commit together in one round trip.
        """
        if not stored_events and tracking is None:
            return []
        count = len(stored_events)
        sql, params = self._insert_statement(stored_events) if count else ("", {})
        if tracking is not None:
            tracking_sql, tracking_params = self._tracking_statement(tracking)
            sql = tracking_sql + sql
            params = {**tracking_params, **params}
        request = exec_request(sql, params)  # built before the writer lock is taken
        table = self.events_table_name

        def write(session: Session) -> list[int]:
            result = self.datastore.execute_request(session, request)
            if not count:
                return []
            last = int(result.txs[0].lastInsertedPKs[table].n)
            return list(range(last - count + 1, last + 1))

        try:
            ids = self.datastore.run("insert_events", write, write=True)
        except IntegrityError as exc:
            if tracking is not None:
                self._explain_tracking_conflict(tracking, exc)
            raise
        if count:
            self.datastore.metrics.stored_events_appended.labels(self.stored_kind).inc(count)
            self._after_insert()
        return ids

    def _tracking_statement(self, tracking: Tracking) -> tuple[str, Params]:
        msg = "This recorder has no tracking table"
        raise ProgrammingError(msg)  # pragma: no cover (overridden by tracking recorders)

    def _explain_tracking_conflict(self, tracking: Tracking, exc: IntegrityError) -> None:
        """Hook: replace a tracking guard's ``key already exists`` with a clear message."""

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
        # The guard re-inserts the current row when it is not below the new id:
        # its primary key exists, so the whole SQLExec fails with "key already
        # exists" (IntegrityError) and nothing is written. Otherwise it selects
        # nothing and the UPSERT records the new position. The SELECT is in the
        # transaction's MVCC read set, so a concurrent writer of the same row
        # makes the commit conflict and the statement is run again.
        self._guarded_tracking_sql = (
            f"INSERT INTO {t} (application_name, notification_id) "  # noqa: S608
            f"SELECT application_name, notification_id FROM {t} "
            "WHERE application_name = @tracking_name AND notification_id >= @tracking_id;"
            f"UPSERT INTO {t} (application_name, notification_id) "
            "VALUES (@tracking_name, @tracking_id);"
        )

    def create_table(self) -> None:
        super().create_table()
        table = self.tracking_table_name

        def ensure(session: Session) -> None:
            if table not in existing_tables(self.datastore, session):
                self.datastore.execute(session, tracking_table_ddl(table))

        self.datastore.ensure_tables(table, ensure)

    def insert_tracking(self, tracking: Tracking) -> None:
        sql, params = self._tracking_statement(tracking)
        request = exec_request(sql, params)
        try:
            self.datastore.run(
                "insert_tracking",
                lambda session: self.datastore.execute_request(session, request),
                write=True,
            )
        except IntegrityError as exc:
            self._explain_tracking_conflict(tracking, exc)
            raise

    def _tracking_statement(self, tracking: Tracking) -> tuple[str, Params]:
        """The guarded tracking statements (one ``SQLExec``, no interactive read)."""
        name, notification_id = _checked_tracking(tracking)
        params = {"tracking_name": name, "tracking_id": notification_id}
        return self._guarded_tracking_sql, params

    def _explain_tracking_conflict(self, tracking: Tracking, exc: IntegrityError) -> None:
        """Re-raise a failed guard as the tracking error (one read, only on failure)."""
        current = self.max_tracking_id(tracking.application_name)
        if current is not None and current >= tracking.notification_id:
            raise IntegrityError(
                _not_greater(tracking.application_name, tracking.notification_id, current)
            ) from exc

    def _write_with_tracking(self, work: Any) -> None:
        """Run ``work(tx)`` in one retried read-write transaction and commit it."""

        def write(session: Session) -> None:
            with self.datastore.transaction(session) as tx:
                work(tx)
                tx.commit()

        self.datastore.run("insert_tracking", write, write=True)

    def _insert_tracking(self, tx: Transaction, tracking: Tracking) -> None:
        """Inside ``tx``: refuse a position not above the current one, else record it."""
        name, notification_id = _checked_tracking(tracking)
        rows = tx.query(self._select_tracking_sql, {"application_name": name})
        current = rows[0][0] if rows else None
        if current is not None and current >= notification_id:
            raise IntegrityError(_not_greater(name, notification_id, current))
        tx.execute(
            self._upsert_tracking_sql,
            {"application_name": name, "notification_id": notification_id},
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


def _wrong_type(field: str, expected: str, value: object) -> DataError:
    """The ``DataError`` for a field of the wrong type (names the type, never the value)."""
    msg = f"{field} must be {expected}, got {type(value).__name__}; nothing was written"
    return DataError(msg)


def _checked_int64(field: str, value: object) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) that fits immudb's INTEGER, else
    ``DataError`` naming ``field``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(field, "an int", value)
    if not -_INT64_LIMIT <= value < _INT64_LIMIT:
        msg = f"{field} {value} is outside the signed 64-bit range; nothing was written"
        raise DataError(msg)
    return value


def _checked_tracking(tracking: Tracking) -> tuple[str, int]:
    """The tracking's application name and notification id, refused with ``DataError``
    when of the wrong type or when the name is too long for the table."""
    name = tracking.application_name
    if not isinstance(name, str):
        raise _wrong_type("application_name", "a str", name)
    if len(name) > MAX_APPLICATION_NAME_LENGTH:
        msg = f"application name longer than {MAX_APPLICATION_NAME_LENGTH} characters"
        raise DataError(msg)
    return name, _checked_int64("notification_id", tracking.notification_id)


def _not_greater(name: str, notification_id: int, current: int) -> str:
    return (
        f"Tracking notification ID {notification_id} for {name!r} is not "
        f"greater than the current max tracking ID {current}; nothing was written"
    )
