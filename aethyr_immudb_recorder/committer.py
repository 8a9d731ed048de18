"""Group commit: the batches of concurrent writers go to immudb in as few ``Set`` requests
as the contract allows, each request one atomic transaction with preconditions.

One :class:`Committer` serves one recorder table (one notification counter). A
writer hands it a :class:`Pending` batch and blocks. The first writer to find no
request in flight becomes the *leader*: it takes the queued batches in arrival
order (its own first), as many as fit one transaction, sends them as one request,
hands each writer its result, then passes the lead to the next queued writer.
So one request is in flight per table and process, and batches that arrive
meanwhile share the next one.

A request holds, for its batches in order (see :mod:`aethyr_immudb_recorder.keys`):
every ``e`` key with ``KeyMustNotExist`` (a version clash fails the request and
writes nothing), one ``a`` blob per aggregate and batch, one ``n`` blob for the
whole group, the counter ``s`` with ``KeyNotModifiedAfterTX`` at the transaction
where this writer last saw it (``KeyMustNotExist`` before the first batch), and
tracking keys with the same kind of precondition plus a client-side check that
the new position is greater. Ids are assigned from the cached counter before the
request is sent, so they are dense and follow commit order across threads and
processes: a writer whose counter is stale is refused by immudb and retries with
the fresh value (``IMMUDB_CONFLICT_RETRIES`` times, jittered after the second).

A group refused with ``KeyMustNotExist`` is retried one batch per request, so a
duplicate in one writer's batch fails only that writer (``IntegrityError``). A batch
holding an event key that this committer has itself written (it remembers the newest
:data:`WRITTEN_KEYS`) fails at once with the ``IntegrityError`` immudb would give it,
without a request: an event key, once written, is never removed, so the answer is known
(writers racing on one aggregate, as in the library's fast-forward test, no longer queue
a doomed request each). The memory is dropped whenever the datastore loses a session
(a server restart), so a server that lost acknowledged writes is asked again.
Batches whose keys overlap never share a request (immudb refuses a key twice in
one transaction); neither do batches beyond the database's ``maxTxEntries``.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from eventsourcing.persistence import IntegrityError, PersistenceError
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.datastore import ImmudbDatastore, Session
from aethyr_immudb_recorder.errors import StaleCounterError
from aethyr_immudb_recorder.keys import Layout, concat, from_u64, split_value, u64, with_id

_KeyValue = schema_pb2.KeyValue
_Precondition = schema_pb2.Precondition
_MustNotExist = _Precondition.KeyMustNotExistPrecondition
_NotModifiedAfter = _Precondition.KeyNotModifiedAfterTXPrecondition

GROUP_BYTES = 16 * 1024 * 1024
"""Batches are grouped only while the request stays below this size."""

_SHARED_ENTRIES = 3  # counter, log blob (and a spare for a split log blob)

WRITTEN_KEYS = 4096
"""How many of the event keys it wrote a committer remembers (the newest)."""


@dataclass(eq=False)
class Pending:
    """One writer's batch: events (encoded, ids to be assigned) and/or a tracking position."""

    records: list[bytes]
    aggregates: list[tuple[bytes, list[int]]]
    """Per aggregate: its ``a`` key and the indexes of its records (version order)."""
    uniques: list[bytes]
    tracking: tuple[bytes, int, str] | None = None
    """The tracking key, the new position and the upstream application's name."""
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    size: int = 0

    def __post_init__(self) -> None:
        self.size = sum(len(r) for r in self.records) * 2 + 64 * len(self.uniques)

    @property
    def entries(self) -> int:
        return len(self.uniques) + len(self.aggregates) + (1 if self.tracking else 0)

    def keys(self) -> set[bytes]:
        keys = set(self.uniques)
        if self.tracking is not None:
            keys.add(self.tracking[0])
        return keys

    def finish(self, ids: list[int] | None = None, error: BaseException | None = None) -> None:
        self.ids = ids or []
        self.error = error
        self.finished = True


class NotGreaterError(IntegrityError):
    """A tracking position not above the recorded one; nothing was written."""


def not_greater_message(name: str, position: int, current: int) -> str:
    return (
        f"Tracking notification ID {position} for {name!r} is not greater than the "
        f"current max tracking ID {current}; nothing was written"
    )


class Committer:
    """Sends batches for one table, grouping concurrent ones (see the module docstring)."""

    def __init__(self, datastore: ImmudbDatastore, layout: Layout, *, with_ids: bool) -> None:
        self.datastore = datastore
        self.layout = layout
        self.with_ids = with_ids
        self._lock = threading.Lock()
        self._queue: deque[Pending] = deque()
        self._busy = False
        self._counter: tuple[int, int] | None = None  # (last id, tx that wrote it)
        self._counter_known = False
        self._tracking: dict[bytes, tuple[int, int]] = {}  # key -> (position, tx)
        self._written: dict[bytes, None] = {}  # event keys written, oldest first
        self._written_epoch = datastore.sessions_lost
        self.requests = 0
        """Requests sent (a measure of grouping, for tests and profiling)."""

    # -- the queue -------------------------------------------------------------

    def submit(self, pending: Pending) -> list[int]:
        """Write ``pending`` (possibly together with other writers' batches); its ids."""
        with self._lock:
            self._queue.append(pending)
            if self._busy:
                lead = False
            else:
                self._busy = lead = True
        if not lead:
            pending.done.wait()
            if not pending.lead:
                return self._result(pending)
        self._lead()
        return self._result(pending)

    @staticmethod
    def _result(pending: Pending) -> list[int]:
        if pending.error is not None:
            raise pending.error
        return pending.ids

    def _lead(self) -> None:
        with self._lock:
            group = self._take()
        try:
            self._commit(group)
        except BaseException as exc:
            for pending in group:
                if not pending.finished:
                    pending.finish(error=exc)
            raise
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._busy = False
            for pending in group:
                pending.lead = False
                pending.done.set()

    def _take(self) -> list[Pending]:
        """The longest prefix of the queue that fits one request (at least one batch)."""
        first = self._queue.popleft()
        group = [first]
        if not self.datastore.settings.group_commit:
            return group
        keys = first.keys()
        entries = first.entries + _SHARED_ENTRIES
        size = first.size
        limit = self.datastore.max_tx_entries
        while self._queue:
            nxt = self._queue[0]
            nxt_keys = nxt.keys()
            if (
                entries + nxt.entries > limit
                or size + nxt.size > GROUP_BYTES
                or not keys.isdisjoint(nxt_keys)
            ):
                break
            self._queue.popleft()
            group.append(nxt)
            keys |= nxt_keys
            entries += nxt.entries
            size += nxt.size
        return group

    # -- one request -----------------------------------------------------------

    def _commit(self, group: list[Pending]) -> None:
        attempts = 0
        retries = self.datastore.settings.conflict_retries
        while True:
            live = self._refuse_written(self._check_tracking(group))
            if not live:
                return
            counter = self._read_counter() if self._needs_counter(live) else None
            request, ids, last = self._request(live, counter)
            try:
                tx = self.datastore.run(
                    "insert_events", partial(self._send, request), write=True, lock=False
                )
            except StaleCounterError as exc:
                attempts += 1
                if attempts > retries:
                    for pending in live:
                        pending.finish(error=exc)
                    return
                self._forget(live)
                self.datastore.metrics.retries.labels(reason="modified").inc()
                if attempts > 2:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempts)))  # noqa: S311
                continue
            except IntegrityError as exc:
                if len(live) > 1:
                    for pending in live:
                        self._commit([pending])
                    return
                if self._assumed_absent_appeared(live, counter):
                    continue
                live[0].finish(error=exc)
                return
            except PersistenceError as exc:
                self._forget(live)
                for pending in live:
                    pending.finish(error=exc)
                return
            if last is not None:
                self._counter = (last, tx)
                self._counter_known = True
            self._remember_written(live)
            for pending, pending_ids in zip(live, ids, strict=True):
                if pending.tracking is not None:
                    self._tracking[pending.tracking[0]] = (pending.tracking[1], tx)
                pending.finish(ids=pending_ids)
            return

    def _send(self, request: object, session: Session) -> int:
        self.requests += 1
        return self.datastore.kv_set(session, request)

    def _needs_counter(self, live: list[Pending]) -> bool:
        return self.with_ids and any(p.records for p in live)

    def _read_counter(self) -> tuple[int, int] | None:
        if not self._counter_known:
            key = self.layout.counter
            entry = self.datastore.run("select_counter", lambda s: self.datastore.kv_get(s, key))
            self._counter = None if entry is None else (from_u64(entry.value), int(entry.tx))
            self._counter_known = True
        return self._counter

    def _forget(self, live: list[Pending]) -> None:
        """Drop cached counter and tracking states: the next attempt reads them again."""
        self._counter_known = False
        self._counter = None
        for pending in live:
            if pending.tracking is not None:
                self._tracking.pop(pending.tracking[0], None)

    def _tracking_state(self, key: bytes) -> tuple[int, int] | None:
        state = self._tracking.get(key)
        if state is None:
            entry = self.datastore.run("max_tracking_id", lambda s: self.datastore.kv_get(s, key))
            if entry is not None:
                state = (from_u64(entry.value), int(entry.tx))
                self._tracking[key] = state
        return state

    def _check_tracking(self, group: list[Pending]) -> list[Pending]:
        """The batches whose tracking (if any) is above the recorded position."""
        live = []
        for pending in group:
            if pending.tracking is not None:
                key, position, name = pending.tracking
                state = self._tracking_state(key)
                if state is not None and position <= state[0]:
                    message = not_greater_message(name, position, state[0])
                    pending.finish(error=NotGreaterError(message))
                    continue
            live.append(pending)
        return live

    def _refuse_written(self, group: list[Pending]) -> list[Pending]:
        """The batches with no event key this committer wrote; the others fail at once.

        Their write would be refused by ``KeyMustNotExist`` (an event key is never
        removed), so they get that ``IntegrityError``, counted in the metrics as
        immudb's would be, and nothing is sent.
        """
        written = self._written
        if self._written_epoch != self.datastore.sessions_lost:
            written.clear()  # the server may have restarted: ask it again
            self._written_epoch = self.datastore.sessions_lost
        if not written:
            return group
        live = []
        for pending in group:
            if any(key in written for key in pending.uniques):
                self.datastore.count_integrity_error()
                message = (
                    "a record with the same key already exists; nothing was written during "
                    "insert_events [this recorder wrote the key before]"
                )
                pending.finish(error=IntegrityError(message))
            else:
                live.append(pending)
        return live

    def _remember_written(self, live: list[Pending]) -> None:
        written = self._written
        for pending in live:
            for key in pending.uniques:
                written[key] = None
        excess = len(written) - WRITTEN_KEYS
        if excess > 0:
            for key in list(itertools.islice(written, excess)):
                del written[key]

    def _assumed_absent_appeared(
        self, live: list[Pending], counter: tuple[int, int] | None
    ) -> bool:
        """After ``KeyMustNotExist`` failed: did the counter or a tracking key that was
        absent when the request was built appear meanwhile (then retry, not a clash)?"""
        appeared = False
        if self._needs_counter(live) and counter is None:
            self._counter_known = False
            appeared = self._read_counter() is not None
        for pending in live:
            if pending.tracking is not None:
                key = pending.tracking[0]
                if key not in self._tracking:
                    appeared = self._tracking_state(key) is not None or appeared
        return appeared

    def _request(
        self, live: list[Pending], counter: tuple[int, int] | None
    ) -> tuple[object, list[list[int]], int | None]:
        """The ``SetRequest`` for ``live``, each batch's ids and the new last id."""
        kvs: list[tuple[bytes, bytes]] = []
        preconditions = []
        next_id = (counter[0] if counter is not None else 0) + 1
        log: list[bytes] = []
        all_ids: list[list[int]] = []
        for pending in live:
            records = pending.records
            ids: list[int] = []
            if records and self.with_ids:
                ids = list(range(next_id, next_id + len(records)))
                next_id += len(records)
                records = [with_id(r, i) for r, i in zip(records, ids, strict=True)]
                log.extend(records)
            for key, indexes in pending.aggregates:
                kvs.extend(split_value(key, concat(records[i] for i in indexes)))
            for key in pending.uniques:
                kvs.append((key, b""))
                preconditions.append(_Precondition(keyMustNotExist=_MustNotExist(key=key)))
            if pending.tracking is not None:
                key, position, _ = pending.tracking
                kvs.append((key, u64(position)))
                state = self._tracking.get(key)
                preconditions.append(_guard(key, None if state is None else state[1]))
            all_ids.append(ids)
        last = None
        if log:
            last = next_id - 1
            kvs.extend(split_value(self.layout.log_key(last), concat(log)))
            kvs.append((self.layout.counter, u64(last)))
            preconditions.append(
                _guard(self.layout.counter, None if counter is None else counter[1])
            )
        request = schema_pb2.SetRequest(
            KVs=[_KeyValue(key=k, value=v) for k, v in kvs], preconditions=preconditions
        )
        return request, all_ids, last


def _guard(key: bytes, tx: int | None) -> object:
    """``KeyNotModifiedAfterTX`` at ``tx``, or ``KeyMustNotExist`` when the key was absent."""
    if tx is None:
        return _Precondition(keyMustNotExist=_MustNotExist(key=key))
    return _Precondition(keyNotModifiedAfterTX=_NotModifiedAfter(key=key, txID=tx))
