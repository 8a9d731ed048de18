"""Positions in the event log: notification ids, and immudb transaction ids.

Every store numbers its events with a *notification id* (1, 2, 3 ... in commit
order). immudb also numbers every committed *transaction* of the database
(the tx id its tools and audit trails show); one ``save()`` of the game is one
immudb transaction holding one or more events, and other writes (the read
model's tables, the recorder's schema) take transaction ids too, so the two
numberings differ.

What ``aethyr-es world --at TX`` means therefore depends on the store:

================================  ================================================
store (``event_store``)           ``TX`` is
================================  ================================================
``immudb``                        an immudb transaction id: the world as it was
                                  once that transaction had committed
``sqlite`` / ``popo``             a notification id (these stores have no
                                  transactions of their own to name)
================================  ================================================

On immudb the mapping uses the server's time travel: ``SELECT ... FROM t
UNTIL TX n`` reads the events table as it was after transaction ``n``, so the
highest notification id visible there is where the replay stops
(:func:`notification_id_at`). The reverse, which transaction committed an
event (:func:`transaction_ids`, shown by ``history``), is a binary search over
the same query: the smallest ``n`` whose table already holds the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application

from aethyr_domain.event_store import iter_notifications

if TYPE_CHECKING:
    from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder


def immudb_recorder(app: Application[Any]) -> ImmudbApplicationRecorder | None:
    """The application's recorder if it stores events in immudb, else ``None``."""
    import sys

    module = sys.modules.get("aethyr_immudb_recorder.recorders")
    if module is None:  # never imported: the store is not immudb
        return None
    recorder = app.recorder
    return recorder if isinstance(recorder, module.ImmudbApplicationRecorder) else None


def _max_id_until(recorder: ImmudbApplicationRecorder, tx: int) -> int:
    """The highest notification id committed in transactions ``<= tx`` (0 if none)."""
    sql = (
        f"SELECT notification_id FROM {recorder.events_table_name} "  # noqa: S608 - checked name
        "UNTIL TX @tx ORDER BY notification_id DESC LIMIT 1"
    )
    datastore = recorder.datastore
    rows = datastore.run(
        "select_notification_at_tx", lambda s: datastore.query(s, sql, {"tx": int(tx)})
    )
    return int(rows[0][0]) if rows else 0


def current_transaction_id(app: Application[Any]) -> int | None:
    """The database's latest immudb transaction id, or ``None`` when not on immudb."""
    recorder = immudb_recorder(app)
    return None if recorder is None else recorder.datastore.current_tx_id()


def notification_id_at(app: Application[Any], tx: int) -> int:
    """The last notification id visible once transaction ``tx`` had committed.

    On immudb ``tx`` is an immudb transaction id; on the other stores it is
    already a notification id and is returned unchanged. A ``tx`` beyond the
    database's latest transaction means "now".
    """
    if tx < 0:
        msg = f"a transaction id is never negative, got {tx}"
        raise ValueError(msg)
    recorder = immudb_recorder(app)
    if recorder is None:
        return tx
    if tx == 0:
        return 0
    return _max_id_until(recorder, min(tx, recorder.datastore.current_tx_id()))


def transaction_ids(app: Application[Any], notification_ids: Iterable[int]) -> dict[int, int]:
    """For each notification id, the immudb transaction that committed it.

    Empty on stores other than immudb. Each id costs a binary search of
    ``log2(transactions)`` small time-travel queries; ids are searched in
    ascending order, each search starting where the previous one ended.
    """
    recorder = immudb_recorder(app)
    if recorder is None:
        return {}
    found: dict[int, int] = {}
    low = 1
    high = recorder.datastore.current_tx_id()
    for notification_id in sorted(set(notification_ids)):
        lo, hi = low, high
        if _max_id_until(recorder, hi) < notification_id:
            continue  # not committed (yet)
        while lo < hi:  # smallest tx whose table holds notification_id
            mid = (lo + hi) // 2
            if _max_id_until(recorder, mid) >= notification_id:
                hi = mid
            else:
                lo = mid + 1
        found[notification_id] = lo
        low = lo
    return found


def stream_positions(app: Application[Any], object_id: str) -> dict[int, int]:
    """``{originator_version: notification_id}`` of the events of one stream."""
    recorder = immudb_recorder(app)
    if recorder is not None:
        sql = (
            "SELECT originator_version, notification_id "  # noqa: S608 - checked name
            f"FROM {recorder.events_table_name} WHERE originator_id = @id"
        )
        datastore = recorder.datastore
        rows = datastore.run(
            "select_stream_positions", lambda s: datastore.query(s, sql, {"id": object_id})
        )
        return {int(version): int(nid) for version, nid in rows}
    # The other stores: one pass over the log (small demo and test stores).
    return {
        notification.originator_version: notification.id
        for notification in iter_notifications(app)
        if str(notification.originator_id) == object_id
    }
