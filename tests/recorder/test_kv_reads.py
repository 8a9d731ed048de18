"""Reads of the KV layout on random data, against the events as written.

Batches put several versions of an aggregate in one blob (keyed by the highest),
with gaps and out-of-order versions inside a batch, so blob ranges overlap.
``select_events`` must give the events in version order (like the library's SQL
recorders), filtered and limited; ``select_notifications`` must give what
eventsourcing's POPO recorder gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from tests.recorder.support import fresh_datastore

pytestmark = pytest.mark.immudb


@pytest.fixture
def datastore() -> Iterator[ImmudbDatastore]:
    store = fresh_datastore()
    yield store
    store.close()


def test_random_batches_read_back_like_popo(datastore: ImmudbDatastore) -> None:
    rng = random.Random(1234)
    immudb = ImmudbApplicationRecorder(datastore=datastore)
    popo = POPOApplicationRecorder()
    aggregates: list[UUID | str] = [uuid4(), "str-id", "\u00e9t\u00e9", uuid4()]
    unused: dict[UUID | str, list[int]] = {
        a: rng.sample(range(-5, 60), 40) for a in aggregates
    }  # every aggregate's versions, in random order
    topics = ["t:A", "t:B", "t:C"]
    written: list[StoredEvent] = []
    while any(unused.values()):
        batch = []
        for aggregate in rng.sample(aggregates, rng.randint(1, len(aggregates))):
            for _ in range(rng.randint(0, 4)):
                if unused[aggregate]:
                    version = unused[aggregate].pop()
                    state = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20)))
                    batch.append(StoredEvent(aggregate, version, rng.choice(topics), state))
        if batch:
            assert immudb.insert_events(batch) == popo.insert_events(batch)
            written.extend(batch)

    for aggregate in aggregates:
        for _ in range(40):
            gt = rng.choice([None, *range(-6, 61, 7)])
            lte = rng.choice([None, *range(-6, 61, 5)])
            desc = rng.random() < 0.5
            limit = rng.choice([None, 1, 2, 5, 100])
            args = {"gt": gt, "lte": lte, "desc": desc, "limit": limit}
            want = sorted(
                (
                    e
                    for e in written
                    if e.originator_id == aggregate
                    and (gt is None or e.originator_version > gt)
                    and (lte is None or e.originator_version <= lte)
                ),
                key=lambda e: e.originator_version,
                reverse=desc,
            )[:limit]
            assert immudb.select_events(aggregate, **args) == want, args
    last = popo.max_notification_id()
    assert immudb.max_notification_id() == last
    for _ in range(60):
        start = rng.choice([None, *range(0, (last or 0) + 3, 9)])
        limit = rng.choice([1, 3, 10, 50, 1000])
        stop = rng.choice([None, *range(0, (last or 0) + 3, 13)])
        chosen = rng.sample(topics, rng.randint(0, 2))
        inclusive = rng.random() < 0.5
        got = immudb.select_notifications(start, limit, stop, chosen, inclusive_of_start=inclusive)
        expected = popo.select_notifications(
            start, limit, stop, chosen, inclusive_of_start=inclusive
        )
        assert got == expected, (start, limit, stop, chosen, inclusive)
