"""Group commit: batches queued behind a request in flight share the next one.

To make the queue deterministic, the first request is held back for a moment
(a delay around the real ``Set`` call); meanwhile six writer threads submit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from tests.recorder.support import fresh_datastore

pytestmark = pytest.mark.immudb


@pytest.fixture
def datastore() -> Iterator[ImmudbDatastore]:
    store = fresh_datastore()
    yield store
    store.close()


def _batch(originator_id: Any = None, versions: tuple[int, ...] = (1, 2)) -> list[StoredEvent]:
    oid = originator_id or uuid4()
    return [StoredEvent(oid, v, "t", b"%d" % v) for v in versions]


def _race(
    datastore: ImmudbDatastore, recorder: ImmudbApplicationRecorder, batches: list[Any]
) -> list[Any]:
    """Hold the first request 1 s while ``batches`` are submitted; each one's ids or error."""
    real = datastore.kv_set
    held = threading.Event()

    def slow_first(session: Any, request: Any) -> int:
        if not held.is_set():
            held.set()
            time.sleep(1.0)
        return real(session, request)

    datastore.kv_set = slow_first  # type: ignore[method-assign]
    results: list[Any] = [None] * len(batches)

    def write(i: int) -> None:
        try:
            results[i] = recorder.insert_events(batches[i])
        except IntegrityError as exc:
            results[i] = exc

    blocker = threading.Thread(target=recorder.insert_events, args=(_batch(),))
    blocker.start()
    assert held.wait(10)
    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in (blocker, *threads):
        thread.join()
    return results


def test_queued_batches_share_one_request_with_contiguous_ids(datastore: ImmudbDatastore) -> None:
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    batches = [_batch() for _ in range(6)]
    results = _race(datastore, recorder, batches)
    assert recorder.committer.requests == 2  # the held one, then all six together
    assert all(len(ids) == 2 and ids[1] == ids[0] + 1 for ids in results)
    assert sorted(i for ids in results for i in ids) == list(range(3, 15))
    notifications = recorder.select_notifications(None, 100)
    assert [n.id for n in notifications] == list(range(1, 15))
    for batch, ids in zip(batches, results, strict=True):
        stored = recorder.select_notifications(ids[0], 2)
        assert [(n.originator_id, n.originator_version) for n in stored] == [
            (e.originator_id, e.originator_version) for e in batch
        ]


def test_a_duplicate_fails_only_its_own_batch(datastore: ImmudbDatastore) -> None:
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    existing = uuid4()
    assert recorder.insert_events(_batch(existing, (1,))) == [1]
    batches = [_batch() for _ in range(6)]
    batches[3] = [*_batch(), StoredEvent(existing, 1, "t", b"dup")]
    results = _race(datastore, recorder, batches)
    assert isinstance(results[3], IntegrityError)
    ok = [ids for i, ids in enumerate(results) if i != 3]
    assert sorted(i for ids in ok for i in ids) == list(range(4, 14))  # the blocker took 2, 3
    assert recorder.max_notification_id() == 13
    assert [e.state for e in recorder.select_events(existing)] == [b"1"]
