"""Two processes writing to one database never interleave; subscribers see their events.

Also prints the subscription's delivery latency (local wake-up and cross-process
polling); latency is reported, never asserted.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from aethyr_immudb_recorder.settings import ImmudbSettings
from tests import immudb_harness
from tests.recorder.support import env_for

pytestmark = pytest.mark.immudb  # slow: set by path (tests/conftest.py)

ROUNDS = 5
BATCH = 200


def _writer(env: dict[str, str], barrier: Any, results: Any, tag: str) -> None:
    """Child process: write ROUNDS batches of BATCH events; report ids and commit times."""
    datastore = ImmudbDatastore(ImmudbSettings.from_env(Environment(env=env)))
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    batches = []
    barrier.wait()
    for _ in range(ROUNDS):
        originator_id = f"{tag}-{uuid.uuid4()}"
        stack = [
            StoredEvent(originator_id=originator_id, originator_version=v, topic=tag, state=b"{}")
            for v in range(BATCH)
        ]
        ids = list(recorder.insert_events(stack) or [])
        batches.append((originator_id, ids, time.time()))
    datastore.close()
    results.put(batches)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_two_processes_do_not_interleave_and_subscription_polls_them() -> None:
    env = env_for(immudb_harness.fresh_database("m"))
    datastore = ImmudbDatastore(ImmudbSettings.from_env(Environment(env=env)))
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    recorder.create_table()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_writer, args=(env, barrier, results, tag)) for tag in ("left", "right")
    ]
    received: dict[int, float] = {}
    total = 2 * ROUNDS * BATCH
    try:
        with recorder.subscribe(gt=None) as subscription:
            for child in children:
                child.start()
            for notification in subscription:
                received[notification.id] = time.time()
                if len(received) == total:
                    break
        batches = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(timeout=60)
            assert child.exitcode == 0
    finally:
        for child in children:
            if child.is_alive():
                child.kill()

    all_ids: list[int] = []
    for originator_id, ids, _committed in (b for per_child in batches for b in per_child):
        assert ids == list(range(ids[0], ids[0] + BATCH))  # contiguous batch
        stored = recorder.select_notifications(start=ids[0], limit=BATCH)
        assert {n.originator_id for n in stored} == {originator_id}  # nobody in between
        all_ids.extend(ids)
    assert sorted(all_ids) == list(range(1, total + 1))
    assert sorted(received) == list(range(1, total + 1))

    lags = [received[ids[-1]] - committed for per in batches for _, ids, committed in per]
    print(
        f"\ncross-process delivery (poll {datastore.settings.poll_interval * 1000:.0f} ms): "
        f"p50 {percentile(lags, 0.5) * 1000:.1f} ms, p99 {percentile(lags, 0.99) * 1000:.1f} ms"
    )
    datastore.close()


def test_local_delivery_latency_is_reported() -> None:
    env = env_for(immudb_harness.fresh_database("m"))
    datastore = ImmudbDatastore(ImmudbSettings.from_env(Environment(env=env)))
    recorder = ImmudbApplicationRecorder(datastore=datastore)
    recorder.create_table()
    lags = []
    with recorder.subscribe() as subscription:
        for i in range(50):
            started = time.perf_counter()
            oid = uuid.uuid4()
            new = StoredEvent(originator_id=oid, originator_version=1, topic="t", state=b"")
            (nid,) = recorder.insert_events([new]) or [0]
            notification = next(subscription)
            lags.append(time.perf_counter() - started)
            assert notification.id == nid == i + 1
    datastore.close()
    print(
        f"\nlocal insert-to-delivery: p50 {percentile(lags, 0.5) * 1000:.2f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.2f} ms"
    )
