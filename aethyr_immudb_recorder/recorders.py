"""Aggregate, application, tracking and process recorders on immudb's KV store.

The key layout is in :mod:`aethyr_immudb_recorder.keys`; how a batch becomes one
``Set`` request with preconditions, and how concurrent writers share requests, is
in :mod:`aethyr_immudb_recorder.committer`. In short:

* ``insert_events`` is one immudb transaction: an ``e`` key per event with
  ``KeyMustNotExist`` (a version clash refuses the whole batch, ``IntegrityError``),
  one ``a`` blob per aggregate, and in application recorders one ``n`` blob for
  the notification log and the counter ``s`` guarded by ``KeyNotModifiedAfterTX``:
  ids are dense, start at 1 and follow commit order across threads and processes.
* ``select_events`` is one ``Scan`` of the aggregate's ``a`` blobs (pages of 2,500);
  ``select_notifications`` a ``Scan`` of ``n`` blobs from the start id;
  ``max_notification_id`` a ``Get`` of ``s``; ``max_tracking_id`` a ``Get`` of the
  tracking key.
* Tracking (``insert_tracking``, ``insert_events(..., tracking=...)``) writes the
  ``t`` key in the same request, guarded by ``KeyNotModifiedAfterTX`` (or
  ``KeyMustNotExist``) and a client-side check that the position is greater.

Field types are checked before anything is sent, and a wrong one refuses the
whole batch with :class:`~eventsourcing.persistence.DataError` naming the field
(nothing is written): ``originator_id`` a ``UUID`` or ``str`` of at most 255
characters, ``originator_version`` an ``int`` (not a ``bool``) in the signed
64-bit range, ``topic`` a ``str``, ``state`` bytes, a tracking record's
``application_name`` a ``str`` and ``notification_id`` an ``int``.

A database that still holds a table in the SQL layout of earlier versions is
refused on first use with :class:`~aethyr_immudb_recorder.errors.StoreNeedsUpgradeError`
naming ``aethyr-es store upgrade`` (:mod:`aethyr_immudb_recorder.upgrade`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    Notification,
    PersistenceError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.committer import Committer, Pending
from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.errors import StoreNeedsUpgradeError
from aethyr_immudb_recorder.keys import (
    FIRST_OF,
    SCAN_LIMIT,
    Layout,
    Record,
    check_key,
    decode_records,
    encode_record,
    from_u64,
    join_entries,
    oid_key,
    u64,
    version_from_key,
    version_key,
)
from aethyr_immudb_recorder.replicas import ReplicaSet

MAX_ORIGINATOR_ID_LENGTH = 255
"""Longest ``originator_id`` (characters); its UTF-8 key must also fit immudb's 1 KB keys."""

MAX_APPLICATION_NAME_LENGTH = 255
"""Longest upstream application name in a tracking record."""

UPGRADE_COMMAND = "aethyr-es store upgrade"

_INT64_LIMIT = 2**63
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_ScanRequest = schema_pb2.ScanRequest


def table_identifier(name: str) -> str:
    """Check a table name is a plain lower-case identifier; return it.

    Table names prefix every key (``{name}:``) and name SQL tables of the old layout.
    """
    if not _IDENTIFIER.match(name):
        msg = (
            f"Invalid immudb table name {name!r}: expected lower-case letters, digits "
            "and '_' (the application or projection name is used as its prefix)"
        )
        raise ProgrammingError(msg)
    return name


def existing_tables(datastore: ImmudbDatastore, session: Session) -> set[str]:
    """Names of the SQL tables in the database (read from the catalog)."""
    return {str(row[0]) for row in datastore.query(session, "SELECT * FROM TABLES()")}


def needs_upgrade(datastore: ImmudbDatastore, table: str) -> bool:
    """True when ``table`` is a SQL table of the old layout not yet copied into KV keys."""
    if table not in datastore.run("select_tables", lambda s: existing_tables(datastore, s)):
        return False
    marker = Layout(table).upgraded
    return datastore.run("select_marker", lambda s: datastore.kv_get(s, marker)) is None


class ImmudbRecorder:
    """Base of every immudb recorder: holds the shared datastore.

    ``replicas`` (set by the factory when ``IMMUDB_REPLICAS`` is given) is where
    the lag-tolerant reads go: ``select_events``, ``select_records``,
    ``select_notifications``, ``notification_id_at_tx`` and ``transaction_ids``
    each ask :meth:`~aethyr_immudb_recorder.replicas.ReplicaSet.reader` once for a
    datastore holding everything the primary had committed when the call began
    (a caught-up replica, else the primary). Everything else uses ``datastore``,
    the primary.
    """

    _layout_tables: tuple[str, ...] = ()

    def __init__(self, *, datastore: ImmudbDatastore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datastore = datastore
        self.replicas: ReplicaSet | None = None
        self._layout_checked = False

    def read_datastore(self) -> ImmudbDatastore:
        """The datastore for one lag-tolerant read (see the class docstring)."""
        if self.replicas is None:
            return self.datastore
        return self.replicas.reader()

    def create_table(self) -> None:
        """Check the database holds no table of the old SQL layout (nothing to create)."""
        self._check_layout()

    def _check_layout(self) -> None:
        """Refuse, once per recorder, a table still in the SQL layout of earlier versions."""
        if self._layout_checked:
            return
        for table in self._layout_tables:
            if needs_upgrade(self.datastore, table):
                msg = (
                    f"immudb database {self.datastore.settings.database!r} holds {table!r} "
                    "in the SQL layout of earlier versions of aethyr_immudb_recorder; run "
                    f"`{UPGRADE_COMMAND}` to copy it into the KV layout"
                )
                raise StoreNeedsUpgradeError(msg)
        self._layout_checked = True


class ImmudbAggregateRecorder(ImmudbRecorder, AggregateRecorder):
    """Stores events (or snapshots) under one table prefix; ``insert_events`` returns ``None``."""

    _with_ids = False

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
        self.layout = Layout(self.events_table_name)
        self._layout_tables = (*self._layout_tables, self.events_table_name)
        self.committer = Committer(datastore, self.layout, with_ids=self._with_ids)

    # -- writing ---------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._insert_events(stored_events, tracking=None)
        return None

    def _insert_events(
        self, stored_events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> list[int]:
        """Write events (and tracking) in one transaction; their notification ids."""
        if not stored_events and tracking is None:
            return []
        pending = self._pending(stored_events, tracking)
        self._check_layout()
        ids = self.committer.submit(pending)
        if stored_events:
            self.datastore.metrics.stored_events_appended.labels(self.stored_kind).inc(
                len(stored_events)
            )
            self._after_insert()
        return ids

    def _pending(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> Pending:
        """Check and encode a batch (``DataError`` / ``IntegrityError`` before any write)."""
        layout = self.layout
        records: list[bytes] = []
        uniques: list[bytes] = []
        aggregates: dict[bytes, list[tuple[int, int]]] = {}
        for i, event in enumerate(stored_events):
            oid, is_uuid = _checked_originator_id(event.originator_id)
            version = _checked_int64("originator_version", event.originator_version)
            if not isinstance(event.topic, str):
                raise _wrong_type("topic", "a str", event.topic)
            if not isinstance(event.state, bytes | bytearray | memoryview):
                raise _wrong_type("state", "bytes", event.state)
            okey = oid_key(oid)
            unique = check_key(layout.uniques + okey + version_key(version), "originator_id")
            uniques.append(unique)
            records.append(encode_record(0, event, oid, is_uuid))
            aggregates.setdefault(okey, []).append((version, i))
        if len(set(uniques)) != len(uniques):
            msg = "the batch holds the same originator id and version twice; nothing was written"
            raise IntegrityError(msg)
        blobs = []
        for okey, versions in aggregates.items():
            versions.sort()
            key = layout.aggregates + okey + version_key(versions[-1][0])
            blobs.append((key, [i for _, i in versions]))
        tracking_entry = None
        if tracking is not None:
            tracking_entry = self._tracking_entry(tracking)
        return Pending(records, blobs, uniques, tracking_entry)

    def _tracking_entry(self, tracking: Tracking) -> tuple[bytes, int, str]:
        msg = "This recorder has no tracking"
        raise ProgrammingError(msg)  # pragma: no cover (tracking recorders override it)

    def _after_insert(self) -> None:
        """Hook run after events were committed (application recorders wake subscribers)."""

    # -- reading ---------------------------------------------------------------

    def _scan(
        self, request: Any, operation: str, datastore: ImmudbDatastore | None = None
    ) -> list[Any]:
        ds = datastore or self.datastore
        return ds.run(operation, lambda s: ds.kv_scan(s, request))

    def _blobs(
        self,
        prefix: bytes,
        seek: bytes,
        base_length: int,
        *,
        desc: bool = False,
        page: int | Callable[[], int] = SCAN_LIMIT,
        operation: str,
        datastore: ImmudbDatastore | None = None,
    ) -> Iterator[tuple[Any, bytes]]:
        """``(entry, body)`` of each blob under ``prefix`` after ``seek``, page by page.

        ``page`` is the number of entries per ``Scan``, or a function giving the next
        page's size (readers that can estimate how many blobs they still need).
        """
        while True:
            size = max(1, min(page() if callable(page) else page, SCAN_LIMIT))
            request = _ScanRequest(seekKey=seek, prefix=prefix, desc=desc, limit=size)
            entries = self._scan(request, operation, datastore)
            ordered = entries[::-1] if desc else entries
            blobs = join_entries(ordered, base_length)
            if desc:
                blobs.reverse()
            for entry, body in blobs:
                if not body and entry.value[:1] == bytes([FIRST_OF]):
                    body = self._read_split(entry.key, base_length, operation, datastore)
                yield entry, body
            if len(entries) < size:
                return
            seek = entries[-1].key

    def _read_split(
        self,
        key: bytes,
        base_length: int,
        operation: str,
        datastore: ImmudbDatastore | None = None,
    ) -> bytes:
        """A blob split over several keys, read whole by its prefix."""
        pieces: list[Any] = []
        seek = key[:-1]
        while True:
            request = _ScanRequest(seekKey=seek, prefix=key, limit=SCAN_LIMIT)
            entries = self._scan(request, operation, datastore)
            pieces.extend(entries)
            if len(entries) < SCAN_LIMIT:
                break
            seek = entries[-1].key
        ((_, body),) = join_entries(pieces, base_length)
        return body

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        if limit is not None and limit <= 0:
            return []
        self._check_layout()
        ds = self.read_datastore()
        prefix = self.layout.aggregates + oid_key(str(originator_id))
        base_length = len(prefix) + 8
        # Every blob whose highest version is above gt may hold wanted events.
        seek = prefix if gt is None else prefix + version_key(gt)
        found: list[Record] = []
        if desc:
            # Blobs come highest version first; stop once `limit` events are found
            # that are all above the next blob's highest version.
            for entry, body in self._blobs(
                prefix,
                b"",
                base_length,
                desc=True,
                page=(limit or SCAN_LIMIT) + 1,
                operation="select_events",
                datastore=ds,
            ):
                blob_max = _version_of(entry.key, base_length)
                if gt is not None and blob_max <= gt:
                    break
                if limit is not None and len(found) >= limit:
                    found.sort(key=_by_version, reverse=True)
                    if found[limit - 1].originator_version > blob_max:
                        break
                found.extend(
                    r
                    for r in decode_records(body)
                    if (gt is None or r.originator_version > gt)
                    and (lte is None or r.originator_version <= lte)
                )
            found.sort(key=_by_version, reverse=True)
        else:
            for _, body in self._blobs(
                prefix, seek, base_length, operation="select_events", datastore=ds
            ):
                found.extend(
                    r
                    for r in decode_records(body)
                    if (gt is None or r.originator_version > gt)
                    and (lte is None or r.originator_version <= lte)
                )
            found.sort(key=_by_version)
        if limit is not None:
            found = found[:limit]
        return [
            StoredEvent(
                originator_id=r.originator_id,
                originator_version=r.originator_version,
                topic=r.topic,
                state=r.state,
            )
            for r in found
        ]

    def select_records(self, originator_id: UUID | str) -> list[tuple[Record, int]]:
        """Every record of one aggregate with the immudb transaction that wrote it.

        Application recorders' records carry their notification ids. Used by
        ``history`` and by :mod:`aethyr_immudb_recorder.verification`.
        """
        self._check_layout()
        ds = self.read_datastore()
        prefix = self.layout.aggregates + oid_key(str(originator_id))
        out = [
            (record, int(entry.tx))
            for entry, body in self._blobs(
                prefix, prefix, len(prefix) + 8, operation="select_records", datastore=ds
            )
            for record in decode_records(body)
        ]
        out.sort(key=lambda pair: pair[0].originator_version)
        return out


class ImmudbApplicationRecorder(ImmudbAggregateRecorder, ApplicationRecorder):
    """Events with notification ids; ``subscribe()`` delivers new events live."""

    _with_ids = True

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
        limit = max(int(limit), 0)
        if limit == 0:
            return []
        self._check_layout()
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        first = max(first, 1)
        if stop is not None and stop < first:
            return []
        wanted = frozenset(topics)
        if self.replicas is None:
            return self._notifications(self.datastore, first, limit, stop, wanted)
        # A full page (or one reaching ``stop``) from any replica is complete: ids are
        # dense and never change. A short page may only mean the replica lags: the
        # primary's counter says how far its log goes and which transaction wrote that
        # end. Nothing at or past ``first`` there: the short page is all there is. Else
        # the page is read again from a replica holding that transaction (or from the
        # primary, after ``IMMUDB_REPLICA_MAX_WAIT``) - the position this read needs,
        # not the primary's latest transaction, which may be any later write.
        replica = self.replicas.next_replica()
        found: list[Notification] | None = None
        if replica is not None:
            try:
                found = self._notifications(replica, first, limit, stop, wanted)
            except PersistenceError:
                found = None
            else:
                if len(found) >= limit or (stop is not None and found and found[-1].id >= stop):
                    return found
        end = self._counter_latest(self.datastore)
        if end is None or end[0] < first:
            return found if found is not None else []
        last_id, end_tx = end[0], end[1]
        if found is not None and not wanted:
            reach = last_id if stop is None else min(last_id, stop)
            if found and found[-1].id >= reach:
                return found  # the replica already holds what the primary has for this page
        reader = self.replicas.reader_at(end_tx, prefer=replica if found is not None else None)
        return self._notifications(reader, first, limit, stop, wanted)

    def _notifications(
        self,
        datastore: ImmudbDatastore,
        first: int,
        limit: int,
        stop: int | None,
        wanted: frozenset[str],
    ) -> list[Notification]:
        """Up to ``limit`` notifications from ``first`` (to ``stop``), read from ``datastore``."""
        log = self.layout.log
        found: list[Notification] = []
        # Blobs hold one transaction each (1 event, or a batch of thousands): read a
        # few first, then as many as the events per blob seen so far say are needed.
        seen = [0, 0]  # blobs, events

        def next_page() -> int:
            if seen[0] == 0:
                return min(limit, 8)
            matched = len(found) if wanted else seen[1]  # topic filters match fewer
            per_blob = max(matched / seen[0], 0.01)
            return min(int((limit - len(found)) / per_blob) + 2, 1000)

        for _, body in self._blobs(
            log,
            log + u64(first - 1),
            len(log) + 8,
            page=next_page,
            operation="select_notifications",
            datastore=datastore,
        ):
            records = decode_records(body)
            seen[0] += 1
            seen[1] += len(records)
            for r in records:
                nid = r.notification_id
                if nid < first:
                    continue
                if stop is not None and nid > stop:
                    return found
                if wanted and r.topic not in wanted:
                    continue
                found.append(
                    Notification(
                        id=nid,
                        originator_id=r.originator_id,
                        originator_version=r.originator_version,
                        topic=r.topic,
                        state=r.state,
                    )
                )
                if len(found) >= limit:
                    return found
        return found

    def max_notification_id(self) -> int | None:
        self._check_layout()
        key = self.layout.counter
        entry = self.datastore.run("max_notification_id", lambda s: self.datastore.kv_get(s, key))
        return None if entry is None else from_u64(entry.value)

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        from aethyr_immudb_recorder.subscription import ImmudbSubscription

        return ImmudbSubscription(self, gt=gt, topics=topics)

    # -- positions in time (``world --at``, ``history``) -------------------------

    def _counter_at_revision(self, revision: int, ds: ImmudbDatastore) -> tuple[int, int]:
        """``(last id, tx)`` of the counter's ``revision``-th write."""
        key = self.layout.counter
        entry = ds.run("select_counter", lambda s: ds.kv_get(s, key, at_revision=revision))
        if entry is None:  # pragma: no cover (revisions are never removed)
            msg = f"the notification counter has no revision {revision}"
            raise ProgrammingError(msg)
        return from_u64(entry.value), int(entry.tx)

    def _counter_latest(self, ds: ImmudbDatastore) -> tuple[int, int, int] | None:
        key = self.layout.counter
        entry = ds.run("select_counter", lambda s: ds.kv_get(s, key))
        if entry is None:
            return None
        return from_u64(entry.value), int(entry.tx), int(entry.revision)

    def notification_id_at_tx(self, tx: int) -> int:
        """The last notification id committed in immudb transactions ``<= tx`` (0 if none).

        Every batch rewrites the counter once, so its revisions are the log's
        lengths in commit order: a binary search over them (``Get`` with
        ``atRevision``), about log2(batches) reads.
        """
        ds = self.read_datastore()
        latest = self._counter_latest(ds)
        if latest is None or tx <= 0:
            return 0
        value, latest_tx, revisions = latest
        if latest_tx <= tx:
            return value
        lo, hi, best = 1, revisions - 1, 0
        while lo <= hi:
            mid = (lo + hi) // 2
            mid_value, mid_tx = self._counter_at_revision(mid, ds)
            if mid_tx <= tx:
                best, lo = mid_value, mid + 1
            else:
                hi = mid - 1
        return best

    def transaction_ids(self, notification_ids: Sequence[int]) -> dict[int, int]:
        """For each notification id, the immudb transaction that committed it."""
        ds = self.read_datastore()
        latest = self._counter_latest(ds)
        if latest is None:
            return {}
        value, latest_tx, revisions = latest
        found: dict[int, int] = {}
        low = 1
        for nid in sorted(set(notification_ids)):
            if nid < 1 or nid > value:
                continue
            lo, hi, best = low, revisions, revisions
            best_tx = latest_tx
            while lo <= hi:  # the first revision whose counter reaches nid
                mid = (lo + hi) // 2
                mid_value, mid_tx = self._counter_at_revision(mid, ds)
                if mid_value >= nid:
                    best, best_tx, hi = mid, mid_tx, mid - 1
                else:
                    lo = mid + 1
            found[nid] = best_tx
            low = best
        return found


class ImmudbTrackingRecorder(ImmudbRecorder, TrackingRecorder):
    """Positions of processed upstream notifications, strictly increasing per application name.

    Stored under ``{tracking table}:t{name}``. Views that keep their rows in immudb
    SQL tables use :class:`~aethyr_immudb_recorder.sql_tracking.ImmudbSQLTrackingRecorder`
    instead, which keeps tracking in a SQL table of the same transaction as the rows.
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
        self.tracking_layout = Layout(self.tracking_table_name)
        self._layout_tables = (*self._layout_tables, self.tracking_table_name)
        if not hasattr(self, "committer"):
            self.committer = Committer(datastore, self.tracking_layout, with_ids=False)

    def _tracking_entry(self, tracking: Tracking) -> tuple[bytes, int, str]:
        name, notification_id = checked_tracking(tracking)
        key = check_key(self.tracking_layout.tracking_key(name), "application_name")
        return key, notification_id, name

    def insert_tracking(self, tracking: Tracking) -> None:
        pending = Pending([], [], [], self._tracking_entry(tracking))
        self._check_layout()
        self.committer.submit(pending)

    def max_tracking_id(self, application_name: str) -> int | None:
        if not isinstance(application_name, str):
            raise _wrong_type("application_name", "a str", application_name)
        self._check_layout()
        key = self.tracking_layout.tracking_key(application_name)
        entry = self.datastore.run("max_tracking_id", lambda s: self.datastore.kv_get(s, key))
        return None if entry is None else from_u64(entry.value)


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


def _by_version(record: Record) -> int:
    return record.originator_version


def _version_of(key: bytes, base_length: int) -> int:
    return version_from_key(key[base_length - 8 : base_length])


def _wrong_type(field: str, expected: str, value: object) -> DataError:
    """The ``DataError`` for a field of the wrong type (names the type, never the value)."""
    msg = f"{field} must be {expected}, got {type(value).__name__}; nothing was written"
    return DataError(msg)


def _checked_originator_id(originator_id: object) -> tuple[str, bool]:
    if isinstance(originator_id, UUID):
        return str(originator_id), True
    if not isinstance(originator_id, str):
        msg = f"originator_id must be a UUID or a str, got {type(originator_id).__name__}"
        raise DataError(msg)
    if len(originator_id) > MAX_ORIGINATOR_ID_LENGTH:
        msg = (
            f"originator_id longer than {MAX_ORIGINATOR_ID_LENGTH} characters "
            f"({len(originator_id)}); nothing was written"
        )
        raise DataError(msg)
    return originator_id, False


def _checked_int64(field: str, value: object) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) in the signed 64-bit range, else
    ``DataError`` naming ``field``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(field, "an int", value)
    if not -_INT64_LIMIT <= value < _INT64_LIMIT:
        msg = f"{field} {value} is outside the signed 64-bit range; nothing was written"
        raise DataError(msg)
    return int(value)


def checked_tracking(tracking: Tracking) -> tuple[str, int]:
    """The tracking's application name and notification id, refused with ``DataError``
    when of the wrong type, too long, or a negative position."""
    name = tracking.application_name
    if not isinstance(name, str):
        raise _wrong_type("application_name", "a str", name)
    if len(name) > MAX_APPLICATION_NAME_LENGTH:
        msg = f"application name longer than {MAX_APPLICATION_NAME_LENGTH} characters"
        raise DataError(msg)
    position = _checked_int64("notification_id", tracking.notification_id)
    if position < 0:
        msg = f"notification_id {position} is negative; nothing was written"
        raise DataError(msg)
    return name, position
