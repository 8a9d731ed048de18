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

On immudb the mapping uses the history of the recorder's notification counter:
every batch rewrites it once, so its revisions are the log's lengths in commit
order, each with the transaction that wrote it. The highest id committed by
transaction ``n`` is where the replay stops (:func:`notification_id_at`); the
reverse, which transaction committed an event (:func:`transaction_ids`, shown
by ``history``), is the first revision that reaches the id (both binary searches
in the recorder).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application

from aethyr_domain.outbox.event_store import iter_notifications

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
    return recorder.notification_id_at_tx(tx)


def transaction_ids(app: Application[Any], notification_ids: Iterable[int]) -> dict[int, int]:
    """For each notification id, the immudb transaction that committed it.

    Empty on stores other than immudb. Each id costs a binary search of
    ``log2(batches)`` reads of the counter's revisions; ids are searched in
    ascending order, each search starting where the previous one ended.
    """
    recorder = immudb_recorder(app)
    if recorder is None:
        return {}
    return recorder.transaction_ids(list(notification_ids))


def stream_positions(app: Application[Any], object_id: str) -> dict[int, int]:
    """``{originator_version: notification_id}`` of the events of one stream."""
    recorder = immudb_recorder(app)
    if recorder is not None:
        return {
            record.originator_version: record.notification_id
            for record, _ in recorder.select_records(object_id)
        }
    # The other stores: one pass over the log (small demo and test stores).
    return {
        notification.originator_version: notification.id
        for notification in iter_notifications(app)
        if str(notification.originator_id) == object_id
    }
