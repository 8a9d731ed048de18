"""``aethyr-es store upgrade``: copy a store from the SQL layout into the KV layout.

Earlier versions kept events in immudb SQL tables (``{name}_events``,
``{name}_snapshots``: one row per event with an ``AUTO_INCREMENT`` notification
id) and tracking in ``{name}_tracking`` tables. The recorders now refuse such a
database (:class:`~aethyr_immudb_recorder.errors.StoreNeedsUpgradeError`) until
:func:`upgrade_store` has copied it, in the same database, into the KV keys of
:mod:`aethyr_immudb_recorder.keys`:

* Events are read in notification-id order, in chunks, and each chunk is written
  as one ``Set``: its ``e`` keys (``KeyMustNotExist``), one ``a`` blob per
  aggregate, one ``n`` blob and the counter ``s``, with the **same notification
  ids, order and versions**, plus a progress key ``{t}:p`` (the last copied id)
  guarded by ``KeyNotModifiedAfterTX``. The copy is therefore **resumable**: an
  interrupted run leaves whole chunks behind, and the next run starts after the
  last copied id (with the same chunk boundaries).
* Then it **checks**: the number of rows and an order-independent hash (the sum
  of a SHA-256 per event, modulo 2**256) of the SQL table must equal those of the
  copied notification log (``n`` blobs) and of the per-aggregate blobs (``a``).
  Only then is the marker ``{t}:u`` written; from then on the recorders open the
  table. A failed check raises :class:`UpgradeError` and writes no marker.
* Tracking tables: every ``(application_name, notification_id)`` row becomes a
  ``t`` key, with the marker, in one ``Set``.

The SQL tables stay where they are (immudb never forgets data); they are simply no
longer read. The copy gets new immudb transaction ids, so ``world --at TX`` after an
upgrade names transactions of the copy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import PersistenceError, StoredEvent
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.errors import StaleCounterError
from aethyr_immudb_recorder.keys import (
    SCAN_LIMIT,
    WHOLE,
    Layout,
    Record,
    concat,
    decode_records,
    encode_record,
    from_u64,
    join_entries,
    oid_key,
    split_value,
    u64,
    version_key,
)
from aethyr_immudb_recorder.recorders import existing_tables, table_identifier

logger = logging.getLogger(__name__)

CHUNK = 500
"""Events copied per transaction (fewer when the database's ``maxTxEntries`` is small)."""

_COLUMNS = "notification_id, originator_id, originator_id_is_uuid, originator_version, topic, state"
_P = schema_pb2.Precondition


class UpgradeError(Exception):
    """The copy does not match its SQL source (the message says how); no marker was written."""


@dataclass
class TableReport:
    """What happened to one SQL table."""

    table: str
    kind: str  # "events", "snapshots" or "tracking"
    rows: int = 0
    copied: int = 0
    already_done: bool = False
    digest: str = ""


@dataclass
class UpgradeReport:
    """Every table found in the SQL layout and what the upgrade did to it."""

    database: str
    tables: list[TableReport] = field(default_factory=list)

    def summary(self) -> str:
        if not self.tables:
            return f"database {self.database!r} holds no table in the SQL layout: nothing to do"
        lines = [f"database {self.database!r}:"]
        for t in self.tables:
            state = "already upgraded" if t.already_done else f"copied {t.copied} now"
            check = f", sha256-sum {t.digest[:16]}..." if t.digest else ""
            lines.append(f"  {t.table} ({t.kind}): {t.rows} row(s), {state}{check}")
        return "\n".join(lines)


def row_digest(
    notification_id: int, originator_id: str, version: int, topic: str, state: bytes
) -> int:
    """The SHA-256 of one event as an integer (the upgrade's check sums these)."""
    h = hashlib.sha256()
    for part in (str(notification_id), originator_id, str(version), topic):
        raw = part.encode()
        h.update(len(raw).to_bytes(4, "big") + raw)
    h.update(state)
    return int.from_bytes(h.digest(), "big")


def upgrade_store(
    datastore: ImmudbDatastore,
    *,
    chunk: int = CHUNK,
    progress: Callable[[str, int], None] | None = None,
) -> UpgradeReport:
    """Copy every table of ``datastore``'s database still in the SQL layout (see the module).

    ``progress(table, copied_so_far)`` is called after each chunk (an exception it
    raises stops the upgrade there; running it again resumes).
    """
    report = UpgradeReport(database=datastore.settings.database)
    tables = sorted(datastore.run("select_tables", lambda s: existing_tables(datastore, s)))
    for table in tables:
        kind = _kind(datastore, table)
        if kind is None:
            continue
        table_identifier(table)
        if kind == "tracking":
            report.tables.append(_upgrade_tracking(datastore, table))
        else:
            report.tables.append(_upgrade_events(datastore, table, kind, chunk, progress))
    return report


def _kind(datastore: ImmudbDatastore, table: str) -> str | None:
    """``events`` / ``snapshots`` / ``tracking`` for a table of the old layout, else ``None``."""
    try:
        columns = {
            str(row[1])
            for row in datastore.run(
                "select_columns",
                lambda s: datastore.query(s, f"SELECT * FROM COLUMNS('{table}')"),  # noqa: S608
            )
        }
    except PersistenceError:
        return None
    if {"notification_id", "originator_id", "originator_id_is_uuid", "state"} <= columns:
        return "snapshots" if table.endswith("_snapshots") else "events"
    if columns == {"application_name", "notification_id"} and table.endswith("_tracking"):
        return "tracking"
    return None


def _marker(datastore: ImmudbDatastore, layout: Layout) -> bool:
    return (
        datastore.run("select_marker", lambda s: datastore.kv_get(s, layout.upgraded)) is not None
    )


def _sql_rows(datastore: ImmudbDatastore, table: str, after: int, limit: int) -> list[Any]:
    sql = (
        f"SELECT {_COLUMNS} FROM {table} WHERE notification_id > @after "  # noqa: S608
        "ORDER BY notification_id LIMIT @limit"
    )
    params = {"after": after, "limit": limit}
    return datastore.run("upgrade_select", lambda s: datastore.query(s, sql, params))


def _upgrade_events(
    datastore: ImmudbDatastore,
    table: str,
    kind: str,
    chunk: int,
    progress: Callable[[str, int], None] | None,
) -> TableReport:
    layout = Layout(table)
    progress_key = table.encode() + b":p"
    report = TableReport(table=table, kind=kind)
    if _marker(datastore, layout):
        report.already_done = True
        report.rows, digest = _sql_digest(datastore, table, with_ids=kind == "events")
        report.digest = f"{digest:064x}"
        return report
    chunk = max(1, min(chunk, (datastore.max_tx_entries - 4) // 2))
    with_log = kind == "events"
    while True:
        entry = datastore.run("select_progress", lambda s: datastore.kv_get(s, progress_key))
        last, last_tx = (0, None) if entry is None else (from_u64(entry.value), int(entry.tx))
        rows = _sql_rows(datastore, table, last, chunk)
        if not rows:
            break
        request = _chunk_request(layout, progress_key, rows, last_tx, with_log=with_log)
        try:
            datastore.set(request, "upgrade_insert")
        except StaleCounterError:  # another upgrade runs at the same time: read again
            continue
        report.copied += len(rows)
        if progress is not None:
            progress(table, int(rows[-1][0]))
    report.rows, digest = _sql_digest(datastore, table, with_ids=with_log)
    _check(datastore, layout, report.rows, digest, with_log=with_log)
    report.digest = f"{digest:064x}"
    datastore.run(
        "upgrade_marker",
        lambda s: datastore.kv_set(
            s,
            schema_pb2.SetRequest(
                KVs=[schema_pb2.KeyValue(key=layout.upgraded, value=b"sql-layout copied")]
            ),
        ),
    )
    logger.info("upgraded %s: %d event(s)", table, report.rows)
    return report


def _chunk_request(
    layout: Layout, progress_key: bytes, rows: list[Any], last_tx: int | None, *, with_log: bool
) -> Any:
    kvs: list[tuple[bytes, bytes]] = []
    preconditions = []
    records: list[bytes] = []
    aggregates: dict[bytes, list[tuple[int, bytes]]] = {}
    for nid, oid, is_uuid, version, topic, state in rows:
        event = StoredEvent(oid, int(version), str(topic), bytes(state))
        record = encode_record(int(nid) if with_log else 0, event, str(oid), bool(is_uuid))
        records.append(record)
        okey = oid_key(str(oid))
        unique = layout.uniques + okey + version_key(int(version))
        kvs.append((unique, b""))
        preconditions.append(_P(keyMustNotExist=_P.KeyMustNotExistPrecondition(key=unique)))
        aggregates.setdefault(okey, []).append((int(version), record))
    for okey, versions in aggregates.items():
        versions.sort(key=lambda pair: pair[0])
        key = layout.aggregates + okey + version_key(versions[-1][0])
        kvs.extend(split_value(key, concat(r for _, r in versions)))
    last_id = int(rows[-1][0])
    if with_log:
        kvs.extend(split_value(layout.log_key(last_id), concat(records)))
        kvs.append((layout.counter, u64(last_id)))
    kvs.append((progress_key, u64(last_id)))
    if last_tx is None:
        guard = _P(keyMustNotExist=_P.KeyMustNotExistPrecondition(key=progress_key))
    else:
        guard = _P(
            keyNotModifiedAfterTX=_P.KeyNotModifiedAfterTXPrecondition(
                key=progress_key, txID=last_tx
            )
        )
    preconditions.append(guard)
    return schema_pb2.SetRequest(
        KVs=[schema_pb2.KeyValue(key=k, value=v) for k, v in kvs], preconditions=preconditions
    )


def _sql_digest(datastore: ImmudbDatastore, table: str, *, with_ids: bool) -> tuple[int, int]:
    """Rows and hash sum of the SQL table (ids counted as 0 for snapshots, as copied)."""
    count, total, after = 0, 0, 0
    while True:
        rows = _sql_rows(datastore, table, after, 1000)
        for nid, oid, _, version, topic, state in rows:
            shown = int(nid) if with_ids else 0
            total += row_digest(shown, str(oid), int(version), str(topic), bytes(state))
            count += 1
        if len(rows) < 1000:
            return count, total % 2**256
        after = int(rows[-1][0])


def _records(
    datastore: ImmudbDatastore, prefix: bytes, base_length: Callable[[bytes], int]
) -> Iterator[Record]:
    """Every record of the blobs under ``prefix``, read as the recorders read them."""
    seek = prefix
    while True:
        request = schema_pb2.ScanRequest(seekKey=seek, prefix=prefix, limit=SCAN_LIMIT)
        page = datastore.scan(request, "upgrade_scan")
        for entry in page:
            key = bytes(entry.key)
            base = base_length(key)
            if len(key) != base:
                continue  # a later piece of a split blob: read with its first piece
            if entry.value[:1] == WHOLE:
                yield from decode_records(entry.value[1:])
            else:
                yield from decode_records(_read_split(datastore, key, base))
        if len(page) < SCAN_LIMIT:
            return
        seek = page[-1].key


def _check(
    datastore: ImmudbDatastore, layout: Layout, rows: int, digest: int, *, with_log: bool
) -> None:
    """Compare counts and hash sums of the SQL table with the copied log and aggregates."""
    start = len(layout.aggregates)

    def aggregate_base(key: bytes) -> int:
        return start + 2 + int.from_bytes(key[start : start + 2], "big") + 8

    sources = [("aggregate blobs", _records(datastore, layout.aggregates, aggregate_base))]
    if with_log:
        log_base = len(layout.log) + 8
        sources.insert(0, ("notification log", _records(datastore, layout.log, lambda _: log_base)))
    for name, records in sources:
        count, total = 0, 0
        for r in records:
            total += row_digest(
                r.notification_id, str(r.originator_id), r.originator_version, r.topic, r.state
            )
            count += 1
        if count != rows or total % 2**256 != digest:
            msg = (
                f"the copy of {layout.table!r} does not match its SQL table: {rows} row(s) "
                f"there, {count} in the {name}"
                + (" with a different hash sum" if count == rows else "")
                + "; the marker was not written (run the upgrade again)"
            )
            raise UpgradeError(msg)


def _read_split(datastore: ImmudbDatastore, key: bytes, base: int) -> bytes:
    request = schema_pb2.ScanRequest(seekKey=key[:-1], prefix=key, limit=SCAN_LIMIT)
    entries = datastore.scan(request, "upgrade_scan")
    ((_, body),) = join_entries(entries, base)
    return body


def _upgrade_tracking(datastore: ImmudbDatastore, table: str) -> TableReport:
    layout = Layout(table)
    report = TableReport(table=table, kind="tracking")
    sql = f"SELECT application_name, notification_id FROM {table}"  # noqa: S608
    rows = datastore.run("upgrade_select", lambda s: datastore.query(s, sql))
    report.rows = len(rows)
    if _marker(datastore, layout):
        report.already_done = True
        return report
    kvs = [(layout.tracking_key(str(name)), u64(int(position))) for name, position in rows]
    kvs.append((layout.upgraded, b"sql-layout copied"))
    request = schema_pb2.SetRequest(
        KVs=[schema_pb2.KeyValue(key=k, value=v) for k, v in kvs],
        preconditions=[_P(keyMustNotExist=_P.KeyMustNotExistPrecondition(key=layout.upgraded))],
    )

    def write(session: Session) -> int:
        return datastore.kv_set(session, request)

    datastore.run("upgrade_tracking", write)
    report.copied = len(rows)
    return report
