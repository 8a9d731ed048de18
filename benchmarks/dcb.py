"""The ``dcb`` scenario: eventsourcing's DCB recorder API on each backend.

PostgreSQL runs the library's own DCB module (``eventsourcing.dcb.postgres_tt``,
selected by replacing ``PERSISTENCE_MODULE``); immudb runs
``aethyr_immudb_recorder``'s ``ImmudbDCBRecorder`` through the same factory call
(``DCBInfrastructureFactory.construct(env).dcb_recorder()``). Figures:

* ``dcb-append``: ``append`` of one event with two tags, no condition (events/s);
* ``dcb-append-cond``: ``append`` of one event whose condition is "no event with
  this entity's tag after the position I last saw", the position being the one
  the previous append returned: the usual decide-then-append cycle (events/s);
* ``dcb-append-cond-read``: the same with ``after=0`` on a tag no event carries,
  so the store must look for a matching event (immudb reads the tag index before
  its write; PostgreSQL's function always does) (events/s);
* ``dcb-read-tag``: ``read`` of one entity's events by its tag in a store where
  it holds 1 in 100 of the events (events/s read);
* ``dcb-append-4t`` and ``dcb-append-cond-4t``: ``append`` of one event from
  4 threads at once (one recorder), without a condition and with the claim
  "no event with this new tag yet" (``after=0``, as a player-name registration
  would), released together by a barrier (events/s). Side figures: the issue's
  targets are on the three single-writer operations above.

POPO and SQLite are skipped (no DCB module in the library for SQLite).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBQueryItem,
    DCBRecorder,
)
from eventsourcing.dcb.persistence import DCBInfrastructureFactory
from eventsourcing.utils import Environment

from benchmarks.backends import Backend
from benchmarks.scenarios import Measure, Size, Skip

ENTITIES = 100
"""Entities in the read-by-tag store; each holds 1 in ``ENTITIES`` of its events."""

THREADS = 4
"""Writer threads of the ``-4t`` figures."""

DCB_MODULES = {
    "postgres": "eventsourcing.dcb.postgres_tt",
    "immudb": "aethyr_immudb_recorder",
    "immudb-synced": "aethyr_immudb_recorder",
}


@contextmanager
def dcb_recorder(backend: Backend, app_name: str) -> Iterator[DCBRecorder]:
    """The backend's DCB recorder for a new application ``app_name`` (closed afterwards)."""
    module = DCB_MODULES.get(backend.name)
    if module is None:
        raise Skip(f"no DCB persistence module for {backend.name}")
    env = dict(backend.env_for(app_name))
    env["PERSISTENCE_MODULE"] = module
    factory = DCBInfrastructureFactory.construct(Environment(app_name, env))
    try:
        yield factory.dcb_recorder()
    finally:
        factory.close()


def _event(*tags: str) -> DCBEvent:
    return DCBEvent(type="Moved", data=b'{"to":"hall"}', tags=list(tags))


def _concurrent(recorder: DCBRecorder, count: int, *, conditional: bool) -> float:
    """``count`` one-event appends from :data:`THREADS` threads (see the module docstring)."""
    per_thread = max(1, count // THREADS)
    tags = [[f"player-{uuid4()}" for _ in range(per_thread)] for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []

    def write(mine: list[str]) -> None:
        barrier.wait()
        try:
            for tag in mine:
                condition = (
                    DCBAppendCondition(DCBQuery([DCBQueryItem(tags=[tag])]), after=0)
                    if conditional
                    else None
                )
                recorder.append([_event(tag)], condition)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(mine,)) for mine in tags]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return THREADS * per_thread / elapsed


def dcb(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Unconditional, conditional and read-by-tag DCB operations (see the module docstring)."""
    count = size.save_1
    with dcb_recorder(backend, app_name) as recorder:
        for _ in range(5):  # warm up: pools, prepared statements, table creation
            recorder.append([_event("warm-up", "player-0")])

        events = [_event(f"player-{uuid4()}", "zone-1") for _ in range(count)]
        started = time.perf_counter()
        for event in events:
            recorder.append([event])
        append = count / (time.perf_counter() - started)

        tags = [f"player-{uuid4()}" for _ in range(count)]
        head = recorder.append([_event("warm-up")])
        started = time.perf_counter()
        for tag in tags:
            query = DCBQuery([DCBQueryItem(tags=[tag])])
            head = recorder.append([_event(tag)], DCBAppendCondition(query, after=head))
        append_cond = count / (time.perf_counter() - started)

        tags = [f"player-{uuid4()}" for _ in range(count)]
        started = time.perf_counter()
        for tag in tags:
            query = DCBQuery([DCBQueryItem(tags=[tag])])
            recorder.append([_event(tag)], DCBAppendCondition(query, after=0))
        append_cond_read = count / (time.perf_counter() - started)

        entities = [f"entity-{uuid4()}" for _ in range(ENTITIES)]
        per_entity = max(10, count // 10)
        for _ in range(per_entity):  # batches of one event per entity
            recorder.append([_event(e) for e in entities])
        reads = entities * max(1, count // (2 * ENTITIES))
        started = time.perf_counter()
        read = 0
        for entity in reads:
            read += len(list(recorder.read(DCBQuery([DCBQueryItem(tags=[entity])]))))
        read_tag = read / (time.perf_counter() - started)
        assert read == per_entity * len(reads)

        append_4t = _concurrent(recorder, count, conditional=False)
        append_cond_4t = _concurrent(recorder, count, conditional=True)
    return [
        Measure("dcb-append", append, "events/s"),
        Measure("dcb-append-cond", append_cond, "events/s"),
        Measure("dcb-append-cond-read", append_cond_read, "events/s"),
        Measure("dcb-read-tag", read_tag, "events/s"),
        Measure("dcb-append-4t", append_4t, "events/s"),
        Measure("dcb-append-cond-4t", append_cond_4t, "events/s"),
    ]
