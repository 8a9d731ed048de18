"""What is measured on each backend.

Every scenario takes a :class:`~benchmarks.backends.Backend`, an application
name that is new for this round (so each run starts on empty tables, with
notification ids from 1) and a :class:`Size`, and returns its measurements.
A scenario that cannot run on a backend raises :class:`Skip` with the reason.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from benchmarks.backends import Backend


class Skip(Exception):  # noqa: N818 - reads as "raise Skip(reason)"
    """This scenario cannot run on this backend; the message says why."""


@dataclasses.dataclass(frozen=True)
class Size:
    """How much work one run of each scenario does."""

    rounds: int
    save_1: int  # aggregates saved one by one
    batch_calls: int  # insert_events calls of 100 events
    concurrent_jobs: int  # jobs of 50 events, 4 writer threads
    get_reps: int  # repository.get calls of a 100-event aggregate
    notifications: int  # events in the log that is paged
    subscribe_events: int  # events whose delivery latency is measured
    transcode_events: int  # game events encoded and decoded per transcoder
    replay_events: tuple[int, ...]  # game logs rebuilt by the replay scenario
    lag_rate: int  # game actions per second during projection-lag
    lag_seconds: float  # how long that load lasts
    delivery_commands: int  # outbox entries delivered by game-delivery
    verify_events: int  # events in the store the verify scenario checks
    verify_rounds: int = 99  # rounds that run verify (one proof per row is slow at 100k)
    boot_events: tuple[int, ...] = ()  # game logs booted by the boot scenario
    crash_events: int = 2000  # one-event transactions in the log crash-recovery SIGKILLs
    crash_sql_txs: int = 200  # projection-like SQL transactions crash-recovery times


SIZES = {
    "full": Size(
        5,
        1000,
        50,
        100,
        50,
        20_000,
        400,
        20_000,
        (100_000, 1_000_000),
        50,
        5.0,
        500,
        100_000,
        1,
        boot_events=(100_000, 1_000_000),
        crash_events=5000,
        crash_sql_txs=300,
    ),
    "quick": Size(
        3, 200, 10, 20, 15, 5_000, 150, 5_000, (20_000,), 50, 2.0, 500, 500, boot_events=(20_000,)
    ),
    "tiny": Size(
        2,
        5,
        2,
        2,
        2,
        300,
        5,
        50,
        (300,),
        20,
        0.5,
        10,
        100,
        boot_events=(300,),
        crash_events=100,
        crash_sql_txs=20,
    ),
}


@dataclasses.dataclass(frozen=True)
class Measure:
    """One figure from one run."""

    scenario: str
    value: float
    unit: str


class Thing(Aggregate):
    """A minimal aggregate: a name that can change."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Renamed")
    def rename(self, name: str) -> None:
        self.name = name


@contextmanager
def application(backend: Backend, app_name: str) -> Iterator[Application[UUID]]:
    """A new Application named ``app_name`` on ``backend`` (closed afterwards)."""
    cls: type[Application[UUID]] = type(app_name, (Application,), {"name": app_name})
    app = cls(env=backend.env_for(app_name))
    try:
        yield app
    finally:
        app.close()


def recorder_of(app: Application[UUID]) -> ApplicationRecorder:
    recorder = app.recorder
    assert isinstance(recorder, ApplicationRecorder)
    return recorder


def stored_events(count: int, originator_id: UUID | None = None) -> list[StoredEvent]:
    oid = originator_id or uuid4()
    return [StoredEvent(oid, i + 1, "bench:Event", b'{"n":%d}' % i) for i in range(count)]


def save_1(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """``app.save`` of a new aggregate with one event, one writer (events/s)."""
    with application(backend, app_name) as app:
        for _ in range(5):  # warm up: pools, prepared statements, table creation
            app.save(Thing("warm-up"))
        things = [Thing(f"thing {i}") for i in range(size.save_1)]
        started = time.perf_counter()
        for thing in things:
            app.save(thing)
        elapsed = time.perf_counter() - started
    return [Measure("save-1", size.save_1 / elapsed, "events/s")]


def save_batch_100(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """One ``insert_events`` of 100 events for a new originator (events/s)."""
    with application(backend, app_name) as app:
        recorder = recorder_of(app)
        recorder.insert_events(stored_events(100))
        batches = [stored_events(100) for _ in range(size.batch_calls)]
        started = time.perf_counter()
        for batch in batches:
            recorder.insert_events(batch)
        elapsed = time.perf_counter() - started
    return [Measure("save-batch-100", 100 * size.batch_calls / elapsed, "events/s")]


def concurrent(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """The shape of the library's ``test_concurrent_throughput``: 4 writers, 50-event jobs."""
    workers, per_job = 4, 50
    with application(backend, app_name) as app:
        recorder = recorder_of(app)

        def job() -> None:
            recorder.insert_events(stored_events(per_job))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(job) for _ in range(workers)]:
                future.result()
            started = time.perf_counter()
            for future in [pool.submit(job) for _ in range(size.concurrent_jobs)]:
                future.result()
            elapsed = time.perf_counter() - started
    return [Measure("concurrent", size.concurrent_jobs * per_job / elapsed, "events/s")]


def get_100(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """``repository.get`` of a 100-event aggregate, no cache, no snapshot (ms per get)."""
    with application(backend, app_name) as app:
        thing = Thing("start")
        for i in range(99):
            thing.rename(f"name {i}")
        app.save(thing)
        app.repository.get(thing.id)
        copy: Thing | None = None
        started = time.perf_counter()
        for _ in range(size.get_reps):
            copy = app.repository.get(thing.id)
        elapsed = time.perf_counter() - started
        assert copy is not None and copy.version == 100
    return [Measure("get-100", elapsed / size.get_reps * 1000, "ms")]


def notifications(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Paging the whole notification log in pages of 500 (notifications/s)."""
    with application(backend, app_name) as app:
        recorder = recorder_of(app)
        for _ in range(size.notifications // 100):
            recorder.insert_events(stored_events(100))
        total = 0
        last = 0
        started = time.perf_counter()
        while True:
            page = recorder.select_notifications(last, 500, inclusive_of_start=False)
            total += len(page)
            if len(page) < 500:
                break
            last = page[-1].id
        elapsed = time.perf_counter() - started
        assert total == size.notifications // 100 * 100, total
    return [Measure("notifications", total / elapsed, "notifications/s")]


def subscribe_latency(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Insert-to-delivery latency through ``subscribe()`` (p50 and p99, ms).

    One event is inserted every 5 ms; the clock starts when ``insert_events`` is
    called and stops when the subscriber's iterator yields the notification.
    """
    with application(backend, app_name) as app:
        recorder = recorder_of(app)
        try:
            subscription = recorder.subscribe(gt=recorder.max_notification_id())
        except NotImplementedError as exc:
            raise Skip(f"{type(recorder).__name__} has no subscribe()") from exc
        received: dict[int, float] = {}
        sent: dict[int, float] = {}

        def consume() -> None:
            for notification in subscription:
                received[notification.id] = time.perf_counter()
                if len(received) >= size.subscribe_events:
                    break

        with subscription:
            reader = threading.Thread(target=consume, daemon=True)
            reader.start()
            for _ in range(size.subscribe_events):
                before = time.perf_counter()
                ids = recorder.insert_events(stored_events(1))
                assert ids
                sent[ids[0]] = before
                time.sleep(0.005)
            reader.join(timeout=30)
        if reader.is_alive() or len(received) < size.subscribe_events:
            raise Skip(f"only {len(received)} of {size.subscribe_events} delivered within 30 s")
    latencies = sorted((received[i] - sent[i]) * 1000 for i in sent)
    return [
        Measure("subscribe-latency p50", statistics.median(latencies), "ms"),
        Measure("subscribe-latency p99", percentile(latencies, 99), "ms"),
    ]


def percentile(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def replay(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """``rebuild_world_state`` over a game log (events/s, peak RSS): :mod:`benchmarks.replay`."""
    from benchmarks.replay import replay as run

    return run(backend, app_name, size)


def projection_lag(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Lag of the world projection under game load (ms): :mod:`benchmarks.projection_lag`."""
    from benchmarks.projection_lag import projection_lag as run

    return run(backend, app_name, size)


def concurrent_processes(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """4 writer processes on one store (events/s): :mod:`benchmarks.processes`."""
    from benchmarks.processes import concurrent_processes as run

    return run(backend, app_name, size)


def game_delivery(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Outbox -> World -> store (commands/s): :mod:`benchmarks.game_delivery`."""
    from benchmarks.game_delivery import game_delivery as run

    return run(backend, app_name, size)


def verify(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Verify a store against immudb's proofs (events/s): :mod:`benchmarks.verify`."""
    from benchmarks.verify import verify as run

    return run(backend, app_name, size)


def dcb(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """DCB append, conditional append and read by tag (events/s): :mod:`benchmarks.dcb`."""
    from benchmarks.dcb import dcb as run

    return run(backend, app_name, size)


def replicated(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """No / async / sync replica: save-1, concurrent, replica lag: :mod:`benchmarks.replicated`."""
    from benchmarks.replicated import replicated as run

    return run(backend, app_name, size)


def crash_recovery(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Reads after a SIGKILL restart, per index setting: :mod:`benchmarks.crash_recovery`."""
    from benchmarks.crash_recovery import crash_recovery as run

    return run(backend, app_name, size)


def boot(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Seconds to a playable world, full replay vs checkpoint + tail: :mod:`benchmarks.boot`."""
    from benchmarks.boot import boot as run

    return run(backend, app_name, size)


Scenario = Callable[[Backend, str, Size], list[Measure]]

SCENARIOS: dict[str, Scenario] = {
    "save-1": save_1,
    "save-batch-100": save_batch_100,
    "concurrent": concurrent,
    "concurrent-processes": concurrent_processes,
    "get-100": get_100,
    "notifications": notifications,
    "subscribe-latency": subscribe_latency,
    "replay": replay,
    "projection-lag": projection_lag,
    "game-delivery": game_delivery,
    "verify": verify,
    "dcb": dcb,
    "replicated": replicated,
    "boot": boot,
    "crash-recovery": crash_recovery,
}


def runs_in_round(scenario: str, size: Size, round_index: int) -> bool:
    """Whether ``scenario`` is measured in round ``round_index`` (0-based) at ``size``."""
    if scenario == "crash-recovery":
        return round_index < 3  # three servers per round; each mode leads once
    return scenario != "verify" or round_index < size.verify_rounds
