"""The projection's follower: it applies what is ready in batches (up to ``max_batch``),
``batch_wait`` paces its commits, it remembers the position it wrote and the view
refuses a batch that overlaps it, two followers of one view apply each event once,
``start`` returns once it listens, and a failing view is reported while ``stop`` still
ends it promptly. (Split from ``test_projection.py``, so that the two run in parallel.)"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from aethyr_domain.application import World
from aethyr_domain.config import ConfigError, ServerConfig
from aethyr_domain.read.projections.faults import Backoff
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.world_dump import dumps
from tests.projections.conftest import MakeView
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, play
from tests.projections.test_projection import projected_json


class GatedProjection(WorldProjection):
    """The world projection, held at ``gate`` before each write; notes batch sizes."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def _hold(self) -> None:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self._hold()
        super().process_event(domain_event, tracking)
        self.batches.append(1)

    def process_events(
        self, domain_events: list[Any], tracking: Tracking, first: int | None = None
    ) -> None:
        self._hold()
        super().process_events(domain_events, tracking, first)
        self.batches.append(len(domain_events))


def test_following_applies_what_is_ready_in_batches(make_view: MakeView) -> None:
    """Events that arrive while the view is busy are applied together, at most
    ``max_batch`` per view transaction, each exactly once."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    view = make_view()
    service = ProjectionService(world, view, max_batch=3)
    gated = GatedProjection(view)
    service.projection = gated
    with service:
        start = world.recorder.max_notification_id() or 0
        gated.batches.clear()
        gated.gate.clear()
        gated.entered.clear()
        play(world, live, steps=ACTIONS[:1])
        assert gated.entered.wait(10), "the follower never started on the first action"
        play(world, live, steps=ACTIONS[1:])  # all ready while the view is busy
        gated.gate.set()
        service.wait(world.recorder.max_notification_id(), timeout=10)
    assert projected_json(view) == dumps(live)
    assert sum(gated.batches) == (world.recorder.max_notification_id() or 0) - start
    assert max(gated.batches) == 3  # the cap, reached: more than 3 events were ready
    assert view.max_tracking_id(world.name) == world.recorder.max_notification_id()


def _feed(ready: queue.Queue[object], items: list[Any], delay: float) -> threading.Thread:
    """A thread that puts ``items`` on ``ready`` after ``delay`` seconds, 50 ms apart."""

    def arrive() -> None:
        time.sleep(delay)
        for item in items:
            ready.put(item)
            time.sleep(0.05)

    feeder = threading.Thread(target=arrive)
    feeder.start()
    return feeder


@pytest.mark.parametrize("batch_wait", [0.0, 1.0])
def test_batch_wait_gathers_what_arrives_within_it_of_the_last_commit(batch_wait: float) -> None:
    """``batch_wait`` (``projection_batch_wait``) paces the view's commits: events that
    arrive one at a time within ``batch_wait`` of the last commit go into ONE view
    transaction, at ``batch_wait`` after it. Without a wait the follower takes only
    what is ready."""
    service = ProjectionService(World(env=FAST_ENV), MemoryWorldView(), batch_wait=batch_wait)
    ready: queue.Queue[object] = queue.Queue()
    items = [(f"event {n}", Tracking("world", n)) for n in range(1, 6)]
    service._committed = time.monotonic()  # a batch was just committed
    feeder = _feed(ready, items, 0.1)
    try:
        batch, ended = service._next_batch(ready)
    finally:
        feeder.join()
    assert not ended
    if batch_wait:
        assert batch == items
    else:
        assert batch == items[:1]


def test_the_first_event_after_a_quiet_spell_is_applied_at_once() -> None:
    """An event that comes more than ``batch_wait`` after the last commit does not wait
    for company: the read model of a quiet game is as fresh as without the key."""
    service = ProjectionService(World(env=FAST_ENV), MemoryWorldView(), batch_wait=5.0)
    ready: queue.Queue[object] = queue.Queue()
    items = [(f"event {n}", Tracking("world", n)) for n in range(1, 4)]
    service._committed = time.monotonic() - 10.0  # the last commit was long ago
    feeder = _feed(ready, items, 0.2)
    try:
        batch, ended = service._next_batch(ready)
    finally:
        feeder.join()
    assert not ended
    assert batch == items[:1]  # taken alone, not held for the 5 s of the key


def test_batch_wait_is_a_bounded_config_key() -> None:
    assert ServerConfig().projection_batch_wait == 0.25
    assert (
        ServerConfig.load(environ={"AETHYR_PROJECTION_BATCH_WAIT": "0.2"}).projection_batch_wait
        == 0.2
    )
    with pytest.raises(ConfigError, match="projection_batch_wait"):
        ServerConfig(projection_batch_wait=-1.0)
    with pytest.raises(ConfigError, match="projection_batch_wait"):
        ServerConfig(projection_batch_wait=11.0)


def test_the_project_follower_polls_immudb_no_faster_than_it_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On immudb the ``project`` child's World polls the log every
    ``projection_batch_wait`` (when longer than the recorder's 0.05 s): each poll that
    finds a commit costs the server a read. An operator's IMMUDB_POLL_INTERVAL wins."""
    from aethyr_domain.cli.projections import follower_poll_env

    monkeypatch.delenv("IMMUDB_POLL_INTERVAL", raising=False)
    immudb = ServerConfig(event_store="immudb")
    assert follower_poll_env(immudb) == {"IMMUDB_POLL_INTERVAL": "0.25"}
    assert follower_poll_env(ServerConfig(event_store="immudb", projection_batch_wait=2.0)) == {
        "IMMUDB_POLL_INTERVAL": "2.0"
    }
    assert follower_poll_env(ServerConfig(event_store="immudb", projection_batch_wait=0.0)) == {}
    assert follower_poll_env(ServerConfig(event_store="sqlite")) == {}
    monkeypatch.setenv("IMMUDB_POLL_INTERVAL", "0.1")
    assert follower_poll_env(immudb) == {}


class RecordingProjection(WorldProjection):
    """The world projection, noting the notification ids of each batch it committed."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self.committed: list[list[int]] = []

    def process_events(
        self, domain_events: list[Any], tracking: Tracking, first: int | None = None
    ) -> None:
        super().process_events(domain_events, tracking, first)
        ids = list(range(first or tracking.notification_id, tracking.notification_id + 1))
        self.committed.append(ids)


def _items(world: World) -> list[tuple[Any, Tracking]]:
    notifications = world.recorder.select_notifications(start=1, limit=10_000)
    return [(world.mapper.to_domain_event(n), Tracking(world.name, n.id)) for n in notifications]


def test_a_batch_that_overlaps_the_view_position_is_refused(make_view: MakeView) -> None:
    """Given its first event's id, the view refuses (nothing written) a batch whose
    start it already applied, checked inside the view transaction: the last id alone
    would let another process's events in between be applied twice."""
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    items = _items(world)
    view = make_view()
    projection = WorldProjection(view)
    projection.process_events([e for e, _ in items[:5]], items[4][1], first=1)
    before = projected_json(view)
    with pytest.raises(IntegrityError, match="#4-#8 is not after the view's position #5"):
        projection.process_events([e for e, _ in items[3:8]], items[7][1], first=4)
    assert projected_json(view) == before
    assert view.max_tracking_id(world.name) == 5
    projection.process_events([e for e, _ in items[5:8]], items[7][1], first=6)
    assert view.max_tracking_id(world.name) == 8


def test_the_follower_keeps_its_position_and_reads_it_only_after_a_refusal(
    make_view: MakeView,
) -> None:
    """A batch costs the view transaction only: the follower remembers the position
    it wrote, instead of reading it before every batch. When another process moved the
    position meanwhile, the view refuses the overlapping batch, the follower reads the
    position and applies only the events after it: each event once."""
    world = World(env=FAST_ENV)
    play(world)  # the whole script
    items = _items(world)
    assert len(items) >= 25
    view = make_view()
    service = ProjectionService(world, view)
    service.projection = recording = RecordingProjection(view)
    reads = 0
    read = view.max_tracking_id

    def counted(application_name: str) -> int | None:
        nonlocal reads
        reads += 1
        return read(application_name)

    view.max_tracking_id = counted  # type: ignore[method-assign]
    service._apply_batch(items[0:5])
    assert reads == 1  # the first batch: the position is not known yet
    service._apply_batch(items[5:10])
    service._apply_batch(items[10:15])
    assert reads == 1
    WorldProjection(view).process_events([e for e, _ in items[15:20]], items[19][1], first=16)
    service._apply_batch(items[15:25])  # 16-20 were applied by "another process"
    assert reads == 2
    assert recording.committed == [
        list(range(1, 6)),
        list(range(6, 11)),
        list(range(11, 16)),
        list(range(21, 26)),
    ]
    assert read(world.name) == 25


def test_two_followers_of_one_view_apply_each_event_once(make_view: MakeView) -> None:
    """Batches refused because another follower moved the position are re-read,
    not applied twice (the tracking record is written with the rows)."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    view = make_view()
    with ProjectionService(world, view) as first, ProjectionService(world, view) as second:
        play(world, live, steps=ACTIONS)
        first.wait(world.recorder.max_notification_id(), timeout=20)
        second.wait(world.recorder.max_notification_id(), timeout=20)
    assert projected_json(view) == dumps(live)


def test_start_returns_once_the_follower_listens(make_view: MakeView) -> None:
    """After ``start()`` the follower's listener is registered, so the caller can write at
    once: eventsourcing 9.5's in-memory recorder iterates its listener set while it inserts
    (no lock, no copy), and a listener added during an insert broke that insert (seen in
    the test above: ``RuntimeError: Set changed size during iteration``)."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    listeners = world.recorder._listeners  # type: ignore[attr-defined]  # the library's set
    before = len(listeners)
    with ProjectionService(world, make_view()) as service:
        assert len(listeners) == before + 1  # registered by the time start() returned
        play(world, live, steps=ACTIONS)
        service.wait(world.recorder.max_notification_id(), timeout=20)
    assert len(listeners) == before


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ProjectionService(World(env=FAST_ENV), MemoryWorldView(), max_batch=0)


class BrokenViewError(RuntimeError):
    """A fault of the view that is not transient."""


def test_a_failing_view_is_reported_and_stop_still_ends_the_follower_promptly(
    make_view: MakeView,
) -> None:
    """With the follower's queue full (tiny batches, many ready events) a view error is
    reported instead of ending the follower (see test_faults.py), and ``stop()`` still
    ends the thread promptly, from its backoff wait, without raising."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    view = make_view()
    service = ProjectionService(world, view, max_batch=1, backoff=Backoff(60.0, 60.0))
    gated = GatedProjection(view)
    service.projection = gated
    service.start()
    gated.gate.clear()
    gated.entered.clear()
    play(world, live, steps=ACTIONS[:1])
    assert gated.entered.wait(10)
    play(world, live, steps=ACTIONS[1:])  # more events than the queue holds (4)

    def broken(*_: Any) -> None:
        raise BrokenViewError("disk on fire")

    gated.process_event = broken  # type: ignore[method-assign, assignment]
    gated.process_events = broken  # type: ignore[method-assign, assignment]
    gated.gate.set()
    deadline = time.monotonic() + 10  # the fault is reported, then the wait says so
    while service.fault is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(TimeoutError, match=r"stuck: .*BrokenViewError: disk on fire"):
        service.wait(world.recorder.max_notification_id(), timeout=0.1)
    assert service.fault is not None and service.fault.retry_in == 60.0
    started = time.monotonic()
    service.stop()  # wakes the 60 s backoff wait
    assert time.monotonic() - started < 10
    assert service._thread is not None and not service._thread.is_alive()
