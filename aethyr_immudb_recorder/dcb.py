"""Dynamic consistency boundaries (eventsourcing's ``DCBRecorder``) on immudb's KV store.

The key layout is in :mod:`aethyr_immudb_recorder.dcb_keys`: a position counter
``s``, the log ``n`` (one blob per append), and a tag index ``g`` and type index
``y`` (one blob per tag and per type per append, holding copies of the events).

**Append.** One append is one immudb transaction (one ``Set``): the log blob, one
index blob per distinct tag and type, and the counter ``s`` guarded by
``KeyNotModifiedAfterTX`` at the transaction in which this writer last saw it.
Positions are taken from that counter, so they are dense, start at 1 and follow
commit order across threads and processes; a writer whose counter is stale is
refused by immudb (nothing is written) and tries again with the fresh value.

**The append condition is checked atomically.** The same guard that keeps
positions dense says "no event at all was appended after the transaction at
which I read the counter". So the condition (``fail_if_events_match`` after
``after``) only has to hold in the state the counter describes:

* counter ``<= after`` (the usual case: the writer read up to the head and
  appends after it): nothing can match, no read is needed, the append is one
  round trip;
* counter ``> after``: the events after ``after`` that could match are read
  through the tag index (or type index, or log for a query without tags), stopping
  at the first match; a match refuses the append with ``IntegrityError``.

If another writer appended meanwhile, immudb refuses the request on the counter
guard, and the writer re-reads the counter and checks the condition again. A match
is final (the matching event is committed); a refused guard is never reported as
a condition failure, so a condition that matches nothing never fails spuriously.
Of N writers racing on the same condition exactly one wins: every other one is
refused by the guard and then finds the winner's event.

**Group commit.** Appends of one recorder from several threads are combined into
one request while one is in flight. Each batch's condition is then also checked
against the batches before it in the same request; a batch refused for that reason
gets its ``IntegrityError`` only once the request committed.

**Reads** scan the index of the query items' first tag (an item without tags:
the type index of each type; an item with neither, or no items: the log) from the
first blob after ``after``, filter by the item on the client, and merge the items
in position order. A read by tag touches only blobs of that tag
(:attr:`ImmudbDCBRecorder.entries_scanned` counts them). Reads that merge several
indexes are capped at the counter read first, so they never skip an event that
another writer was committing meanwhile.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any
from uuid import uuid4

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBQueryItem,
    DCBReadResponse,
    DCBRecorder,
    DCBSequencedEvent,
)
from eventsourcing.dcb.persistence import DCBListenNotifySubscription
from eventsourcing.dcb.popo import SimpleDCBReadResponse
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    PersistenceError,
    ProgrammingError,
)
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.committer import GROUP_BYTES
from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.dcb_keys import (
    HEADER,
    MAX_NAME_BYTES,
    DCBLayout,
    decode_events,
    encode_event,
    from_u64,
    u64,
    with_position,
)
from aethyr_immudb_recorder.errors import BatchTooLargeError, StaleCounterError
from aethyr_immudb_recorder.keys import MAX_VALUE, SCAN_LIMIT
from aethyr_immudb_recorder.recorders import ImmudbRecorder, table_identifier
from aethyr_immudb_recorder.subscription import TxPoller, local_bus

logger = logging.getLogger(__name__)

_KeyValue = schema_pb2.KeyValue
_Precondition = schema_pb2.Precondition
_MustNotExist = _Precondition.KeyMustNotExistPrecondition
_NotModifiedAfter = _Precondition.KeyNotModifiedAfterTXPrecondition
_ScanRequest = schema_pb2.ScanRequest

_REMEMBERED = 1024
"""How many (position, tx) pairs a recorder remembers for tag guards."""

Counter = tuple[int, int]
"""``(last position, tx that wrote it)``."""


def matches(item: DCBQueryItem, event: DCBEvent) -> bool:
    """Whether ``event`` matches ``item``: its type is one of the item's types (or the
    item has none), and it carries every tag of the item."""
    if item.types and event.type not in item.types:
        return False
    return all(tag in event.tags for tag in item.tags)


def query_matches(query: DCBQuery, event: DCBEvent) -> bool:
    """Whether ``event`` matches any item of ``query`` (a query without items matches all)."""
    return not query.items or any(matches(item, event) for item in query.items)


@dataclass(eq=False)
class _Append:
    """One caller's append waiting in the queue."""

    events: Sequence[DCBEvent]
    records: list[bytes]
    condition: DCBAppendCondition | None
    size: int
    done: threading.Event = field(default_factory=threading.Event)
    position: int = 0
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def finish(self, position: int = 0, error: BaseException | None = None) -> None:
        self.position = position
        self.error = error
        self.done.set()

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return self.position


class ImmudbDCBRecorder(ImmudbRecorder, DCBRecorder):
    """A ``DCBRecorder`` on immudb's KV store (see the module docstring)."""

    def __init__(
        self, *, datastore: ImmudbDatastore, events_table_name: str = "dcb_dcb_events"
    ) -> None:
        super().__init__(datastore=datastore)
        self.events_table_name = table_identifier(events_table_name)
        self.layout = DCBLayout(self.events_table_name)
        self.bus_key = (*datastore.database_key, "dcb", self.events_table_name)
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._queue: list[_Append] = []
        self._counter: Counter | None = None
        self._counter_known = False
        self._tx_of: dict[int, int] = {}  # position -> the tx that wrote it as the last one
        self.entries_scanned = 0
        """Entries returned by every ``Scan`` so far (a measure of read work, for tests)."""
        self.requests = 0
        """``Set`` requests sent (a measure of grouping and retries, for tests)."""

    # -- reads -----------------------------------------------------------------

    def read(
        self,
        query: DCBQuery | None = None,
        *,
        after: int | None = None,
        limit: int | None = None,
    ) -> DCBReadResponse:
        query = _checked_query(query)
        after = _checked_position("after", after)
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            msg = f"limit must be a non-negative int or None, got {limit!r}"
            raise ProgrammingError(msg)
        if limit == 0:
            return SimpleDCBReadResponse(iter(()), None)
        streams = self._streams(query)
        counter: Counter | None = None
        if limit is None or len(streams) > 1:
            counter = self._read_counter()
        cap = None if counter is None or len(streams) == 1 else counter[0]
        since = 0 if counter is None else counter[1]
        found = list(islice(self._merged(streams, after, cap, since, limit), limit))
        if counter is not None:
            self._remember(*counter)
            self._see(counter)
        if limit is None:
            head = counter[0] if counter is not None else None
            if found and (head is None or found[-1].position > head):
                head = found[-1].position
        else:
            head = found[-1].position if found else None
        return SimpleDCBReadResponse(iter(found), head)

    def _streams(self, query: DCBQuery) -> list[tuple[bytes, Callable[[DCBEvent], bool]]]:
        """``(key prefix, filter)`` of each index to scan for ``query``."""
        if not query.items or any(not i.tags and not i.types for i in query.items):
            return [(self.layout.log, lambda e: query_matches(query, e))]
        streams: list[tuple[bytes, Callable[[DCBEvent], bool]]] = []
        for item in query.items:
            if item.tags:
                prefixes = [self.layout.tag_prefix(item.tags[0])]
            else:
                prefixes = [self.layout.type_prefix(t) for t in dict.fromkeys(item.types)]
            streams.extend((prefix, _matcher(item)) for prefix in prefixes)
        return streams

    def _merged(
        self,
        streams: list[tuple[bytes, Callable[[DCBEvent], bool]]],
        after: int,
        cap: int | None,
        since: int,
        limit: int | None,
    ) -> Iterator[DCBSequencedEvent]:
        """Matching events of every stream after ``after`` (and up to ``cap``), merged."""
        iterators = [
            self._scan_stream(prefix, pred, after, cap, since, limit) for prefix, pred in streams
        ]
        if len(iterators) == 1:
            yield from iterators[0]
            return
        last = after
        for event in heapq.merge(*iterators, key=_position):
            if event.position > last:
                last = event.position
                yield event

    def _scan_stream(
        self,
        prefix: bytes,
        pred: Callable[[DCBEvent], bool],
        after: int,
        cap: int | None,
        since: int,
        limit: int | None,
    ) -> Iterator[DCBSequencedEvent]:
        """The events of one index after ``after`` that pass ``pred``, page by page."""
        seek = prefix + u64(after)
        size = SCAN_LIMIT if limit is None else max(1, min(SCAN_LIMIT, limit + 1))
        while True:
            request = _ScanRequest(seekKey=seek, prefix=prefix, limit=size, sinceTx=since)
            entries = self.datastore.run("dcb_read", partial(self._scan, request=request))
            self.entries_scanned += len(entries)
            for entry in entries:
                for event in decode_events(entry.value):
                    if cap is not None and event.position > cap:
                        return
                    if event.position > after and pred(event.event):
                        yield event
            if len(entries) < size:
                return
            seek = entries[-1].key
            size = SCAN_LIMIT

    def _scan(self, session: Any, *, request: Any) -> list[Any]:
        return self.datastore.kv_scan(session, request)

    def _exists(self, query: DCBQuery, after: int, since: int) -> bool:
        """Whether any event after ``after`` matches ``query`` (stops at the first)."""
        for prefix, pred in self._streams(query):
            for _ in self._scan_stream(prefix, pred, after, None, since, 1):
                return True
        return False

    def _remember(self, position: int, tx: int) -> None:
        """Remember that ``position`` was the last one after ``tx`` (see :meth:`_guards`)."""
        with self._queue_lock:
            if len(self._tx_of) >= _REMEMBERED:
                self._tx_of.pop(next(iter(self._tx_of)))
            self._tx_of[position] = tx

    def _see(self, counter: Counter) -> None:
        """Cache a counter a read saw, if newer: the next append's guard is then current."""
        with self._queue_lock:
            cached = self._counter
            if cached is None or counter[1] > cached[1]:
                self._counter = counter
                self._counter_known = True

    def _read_counter(self) -> Counter | None:
        key = self.layout.counter
        entry = self.datastore.run("dcb_head", lambda s: self.datastore.kv_get(s, key))
        return None if entry is None else (from_u64(entry.value), int(entry.tx))

    # -- appends ---------------------------------------------------------------

    def append(
        self, events: Sequence[DCBEvent], condition: DCBAppendCondition | None = None
    ) -> int:
        if not isinstance(events, Sequence) or isinstance(events, (str, bytes)):
            msg = f"events must be a sequence of DCBEvent, got {type(events).__name__}"
            raise DataError(msg)
        if len(events) == 0:
            msg = "append needs at least one event"
            raise ProgrammingError(msg)
        records = [encode_event(_checked_event(i, e)) for i, e in enumerate(events)]
        if condition is not None:
            if not isinstance(condition, DCBAppendCondition):
                msg = f"condition must be a DCBAppendCondition, got {type(condition).__name__}"
                raise DataError(msg)
            _checked_query(condition.fail_if_events_match)
            _checked_position("condition.after", condition.after)
        pending = _Append(
            events=list(events),
            records=records,
            condition=condition,
            size=sum(len(r) for r in records),
        )
        self._check_fits([pending])
        with self._queue_lock:
            self._queue.append(pending)
        while not pending.finished:
            with self._commit_lock:
                if pending.finished:
                    break
                group = self._take()
                try:
                    self._commit(group)
                except BaseException as exc:
                    for other in group:
                        if not other.finished:
                            other.finish(error=exc)
                    raise
        return pending.result()

    def _take(self) -> list[_Append]:
        """The longest prefix of the queue that fits one request (at least one append)."""
        settings = self.datastore.settings
        with self._queue_lock:
            group = [self._queue.pop(0)]
            if settings.group_commit:
                size = group[0].size
                while self._queue:
                    nxt = self._queue[0]
                    if size + nxt.size > GROUP_BYTES or not self._fits([*group, nxt]):
                        break
                    group.append(self._queue.pop(0))
                    size += nxt.size
            return group

    def _fits(self, group: list[_Append]) -> bool:
        return self._entries(group) <= self.datastore.max_tx_entries

    @staticmethod
    def _entries(group: list[_Append]) -> int:
        tags: set[str] = set()
        types: set[str] = set()
        for pending in group:
            for event in pending.events:
                tags.update(event.tags)
                types.add(event.type)
        return 3 + 2 * len(tags) + len(types)

    def _check_fits(self, group: list[_Append]) -> None:
        entries = self._entries(group)
        if entries > self.datastore.max_tx_entries:
            msg = (
                f"an append with its distinct tags and types needs {entries} "
                f"entries in one immudb transaction, more than its maxTxEntries "
                f"({self.datastore.max_tx_entries}); nothing was written"
            )
            raise BatchTooLargeError(msg)
        if sum(p.size for p in group) + len(HEADER) > MAX_VALUE:
            msg = "an append larger than one immudb value (32 MB); nothing was written"
            raise BatchTooLargeError(msg)

    def _commit(self, group: list[_Append]) -> None:
        attempts = 0
        retries = self.datastore.settings.conflict_retries
        optimistic = True
        while True:
            counter = self._cached_counter()
            last, since = counter if counter is not None else (0, 0)
            live: list[_Append] = []
            refused: list[_Append] = []  # conflict with an earlier append of this request
            written: list[DCBSequencedEvent] = []
            guards: dict[bytes, int] = {}
            for pending in group:
                if pending.finished:
                    continue
                pending_guards = self._guards(pending, last) if optimistic else None
                if pending_guards is not None:  # checked by immudb in the write itself
                    for key, tx in pending_guards.items():
                        guards[key] = min(tx, guards.get(key, tx))
                verdict = self._check_condition(
                    pending, last, since, written, read=pending_guards is None
                )
                if verdict == "store":
                    continue
                if verdict == "group":
                    refused.append(pending)
                    continue
                first = last + 1 + len(written)
                written.extend(DCBSequencedEvent(e, p) for p, e in enumerate(pending.events, first))
                live.append(pending)
            if not live:
                for pending in refused:  # pragma: no cover (needs a live one before it)
                    pending.finish(error=IntegrityError("append condition failed"))
                return
            receipt = self.layout.receipt_key(uuid4().bytes)
            request, positions = self._request(live, last, counter, guards, receipt)
            sends: list[int] = []
            try:
                tx = self.datastore.run(
                    "dcb_append",
                    partial(self._send, request=request, sends=sends),
                    write=True,
                    lock=False,
                )
            except (StaleCounterError, IntegrityError) as exc:
                if len(sends) > 1 and self._committed(receipt):
                    # A reply was lost and the retry was refused: the first send
                    # committed. Report it once, never append it twice.
                    self._forget()
                    self._finish(live, positions, refused)
                    return
                # The counter moved (or appeared) since it was read, or a tag guard
                # failed (immudb does not say which key): nothing was written; read
                # the counter again and re-check every condition by reading.
                self._forget()
                optimistic = False
                attempts += 1
                if attempts > retries:
                    for pending in [*live, *refused]:
                        pending.finish(error=_stale(exc))
                    return
                self.datastore.metrics.retries.labels(reason="modified").inc()
                if attempts > 2:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempts)))  # noqa: S311
                continue
            except PersistenceError as exc:
                self._forget()
                if sends and self._committed(receipt):
                    self._finish(live, positions, refused)
                    return
                for pending in [*live, *refused]:
                    pending.finish(error=exc)
                return
            self._counter = (positions[-1], tx)
            self._counter_known = True
            self._remember(positions[-1], tx)
            self._finish(live, positions, refused)
            return

    def _finish(self, live: list[_Append], positions: list[int], refused: list[_Append]) -> None:
        for pending, position in zip(live, positions, strict=True):
            pending.finish(position=position)
        for pending in refused:
            pending.finish(error=IntegrityError(pending.condition))
        local_bus.notify(self.bus_key)

    def _committed(self, receipt: bytes) -> bool:
        """Whether the request that wrote ``receipt`` committed."""
        entry = self.datastore.run("dcb_receipt", lambda s: self.datastore.kv_get(s, receipt))
        return entry is not None

    def _guards(self, pending: _Append, last: int) -> dict[bytes, int] | None:
        """Tag guards that check ``pending``'s condition inside the write, or ``None``.

        Every append rewrites ``{t}:l <tag>`` for each of its tags, so "no event
        with tag X after position P" is "``l X`` not modified after the transaction
        that wrote position P": a ``KeyNotModifiedAfterTX`` precondition (for P = 0,
        ``KeyMustNotExist``). Possible when every item of the condition has a tag
        (an item's events all carry its first tag) and P's transaction is known
        (P was the last position of a read or of this recorder's own append).
        Conservative for items with several tags or with types: a guard that fails
        sends the append down the reading path, never to an ``IntegrityError``.
        ``{}`` when nothing needs checking (P is at or after the counter).
        """
        condition = pending.condition
        if condition is None:
            return {}
        after = condition.after or 0
        if last <= after:
            return {}
        items = condition.fail_if_events_match.items
        if not items or any(not item.tags for item in items):
            return None
        with self._queue_lock:
            tx = 0 if after == 0 else self._tx_of.get(after)
        if tx is None:
            return None
        return {self.layout.last_prefix(item.tags[0]): tx for item in items}

    def _check_condition(
        self,
        pending: _Append,
        last: int,
        since: int,
        written: list[DCBSequencedEvent],
        *,
        read: bool,
    ) -> str:
        """``"ok"``, ``"store"`` (a committed event matches: finished with
        ``IntegrityError``) or ``"group"`` (an earlier append of this request matches).

        ``read`` is false when tag guards check the store inside the write."""
        condition = pending.condition
        if condition is None:
            return "ok"
        after = condition.after or 0
        query = condition.fail_if_events_match
        if read and last > after:
            try:
                found = not query.items or self._exists(query, after, since)
            except PersistenceError as exc:
                pending.finish(error=exc)
                return "store"
            if found:
                pending.finish(error=IntegrityError(condition))
                return "store"
        if any(e.position > after and query_matches(query, e.event) for e in written):
            return "group"
        return "ok"

    def _cached_counter(self) -> Counter | None:
        if not self._counter_known:
            self._counter = self._read_counter()
            self._counter_known = True
        return self._counter

    def _forget(self) -> None:
        self._counter_known = False
        self._counter = None

    def _send(self, session: Any, *, request: Any, sends: list[int]) -> int:
        sends.append(1)
        self.requests += 1
        return self.datastore.kv_set(session, request)

    def _request(
        self,
        live: list[_Append],
        last: int,
        counter: Counter | None,
        guards: dict[bytes, int],
        receipt: bytes,
    ) -> tuple[Any, list[int]]:
        """The ``SetRequest`` writing ``live`` after ``last``; each append's last position."""
        records: list[bytes] = []
        positions: list[int] = []
        by_tag: dict[str, list[int]] = {}
        by_type: dict[str, list[int]] = {}
        position = last
        for pending in live:
            for record, event in zip(pending.records, pending.events, strict=True):
                position += 1
                index = len(records)
                records.append(with_position(record, position))
                for tag in dict.fromkeys(event.tags):
                    by_tag.setdefault(tag, []).append(index)
                by_type.setdefault(event.type, []).append(index)
            positions.append(position)
        kvs = [(self.layout.log + u64(position), HEADER + b"".join(records))]
        for prefix, indexes in _index_blobs(self.layout.tag_prefix, by_tag):
            kvs.append((prefix + u64(last + 1 + indexes[-1]), _blob(records, indexes)))
        for tag, indexes in by_tag.items():
            kvs.append((self.layout.last_prefix(tag), u64(last + 1 + indexes[-1])))
        for prefix, indexes in _index_blobs(self.layout.type_prefix, by_type):
            kvs.append((prefix + u64(last + 1 + indexes[-1]), _blob(records, indexes)))
        kvs.append((self.layout.counter, u64(position)))
        kvs.append((receipt, b""))
        key = self.layout.counter
        guard = (
            _Precondition(keyMustNotExist=_MustNotExist(key=key))
            if counter is None
            else _Precondition(keyNotModifiedAfterTX=_NotModifiedAfter(key=key, txID=counter[1]))
        )
        preconditions = [guard]
        for tag_key, tx in guards.items():
            if tx == 0:
                preconditions.append(_Precondition(keyMustNotExist=_MustNotExist(key=tag_key)))
            else:
                preconditions.append(
                    _Precondition(keyNotModifiedAfterTX=_NotModifiedAfter(key=tag_key, txID=tx))
                )
        request = schema_pb2.SetRequest(
            KVs=[_KeyValue(key=k, value=v) for k, v in kvs], preconditions=preconditions
        )
        return request, positions

    # -- subscriptions -----------------------------------------------------------

    def subscribe(
        self,
        query: DCBQuery | None = None,
        *,
        after: int | None = None,
    ) -> ImmudbDCBSubscription:
        return ImmudbDCBSubscription(self, query=_checked_query(query), after=after)


class ImmudbDCBSubscription(DCBListenNotifySubscription[ImmudbDCBRecorder]):
    """Events matching a query after a position, then new ones as they are appended.

    Woken at once by appends of this process (the local bus), and by appends of
    other processes through a poll of immudb's current transaction id every
    ``IMMUDB_POLL_INTERVAL`` seconds (as :class:`~aethyr_immudb_recorder.ImmudbSubscription`).
    """

    def __init__(
        self,
        recorder: ImmudbDCBRecorder,
        query: DCBQuery | None = None,
        after: int | None = None,
    ) -> None:
        # Before the base constructor starts the pull thread (its first read).
        self._poller = TxPoller(recorder.datastore, self._wake, "immudb-dcb-subscription-poll")
        super().__init__(recorder=recorder, query=query, after=after)
        local_bus.listen(recorder.bus_key, self._has_been_notified.set)
        self._poller.start()

    def _wake(self) -> None:
        self._has_been_notified.set()  # (made by the base constructor)

    def stop(self) -> None:
        super().stop()
        self._poller.stop()
        local_bus.unlisten(self._recorder.bus_key, self._has_been_notified.set)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poller.join()


def _matcher(item: DCBQueryItem) -> Callable[[DCBEvent], bool]:
    return lambda event: matches(item, event)


def _position(event: DCBSequencedEvent) -> int:
    return event.position


def _blob(records: list[bytes], indexes: list[int]) -> bytes:
    return HEADER + b"".join(records[i] for i in indexes)


def _index_blobs(
    prefix_of: Callable[[str], bytes], groups: dict[str, list[int]]
) -> Iterable[tuple[bytes, list[int]]]:
    return ((prefix_of(name), indexes) for name, indexes in groups.items())


def _stale(exc: PersistenceError) -> PersistenceError:
    if isinstance(exc, StaleCounterError):
        return exc
    msg = "other writers kept moving the DCB position counter; nothing was written"
    return StaleCounterError(msg)


def _checked_name(what: str, value: object) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a str, got {type(value).__name__}"
        raise DataError(msg)
    if len(value.encode()) > MAX_NAME_BYTES:
        msg = f"{what} is longer than {MAX_NAME_BYTES} UTF-8 bytes; nothing was written"
        raise DataError(msg)
    return value


def _checked_event(index: int, event: object) -> DCBEvent:
    if not isinstance(event, DCBEvent):
        msg = f"events[{index}] must be a DCBEvent, got {type(event).__name__}"
        raise DataError(msg)
    _checked_name(f"events[{index}].type", event.type)
    if not isinstance(event.data, (bytes, bytearray, memoryview)):
        msg = f"events[{index}].data must be bytes, got {type(event.data).__name__}"
        raise DataError(msg)
    if not isinstance(event.tags, (list, tuple)):
        msg = f"events[{index}].tags must be a list of str, got {type(event.tags).__name__}"
        raise DataError(msg)
    if len(event.tags) > 0xFFFF:
        msg = f"events[{index}] has more than 65535 tags"
        raise DataError(msg)
    for j, tag in enumerate(event.tags):
        _checked_name(f"events[{index}].tags[{j}]", tag)
    return event


def _checked_query(query: object) -> DCBQuery:
    if query is None:
        return DCBQuery()
    if not isinstance(query, DCBQuery):
        msg = f"query must be a DCBQuery, got {type(query).__name__}"
        raise DataError(msg)
    for i, item in enumerate(query.items):
        if not isinstance(item, DCBQueryItem):
            msg = f"query.items[{i}] must be a DCBQueryItem, got {type(item).__name__}"
            raise DataError(msg)
        for j, type_ in enumerate(item.types):
            _checked_name(f"query.items[{i}].types[{j}]", type_)
        for j, tag in enumerate(item.tags):
            _checked_name(f"query.items[{i}].tags[{j}]", tag)
    return query


def _checked_position(what: str, value: object) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        msg = f"{what} must be a non-negative int or None, got {value!r}"
        raise DataError(msg)
    return value
