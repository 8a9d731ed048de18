"""The ``projection-lag`` scenario: how far the world read model trails a game under load.

A :class:`~aethyr_domain.application.World` on the backend is played by the seeded
game of :mod:`benchmarks.game_log` at a steady rate (``Size.lag_rate`` actions per
second for ``Size.lag_seconds``), while the game's own
:class:`~aethyr_domain.read.projections.runner.ProjectionService` keeps the world view
(the backend's :class:`~aethyr_domain.read.projections.view.WorldView`) up to date in
its thread: through ``subscribe()`` on POPO and immudb, by polling on SQLite
(every 0.2 s, the service's default; the view in the events' own file, as
``aethyr-es`` keeps it). The follower applies what is ready in batches (one
view transaction per batch).

The lag of one action is the time from ``World.handle`` (its ``save()``) returning
to the projection having written the action's last notification into the view
(the view transaction that records its tracking position has committed); 0 if the
projection was faster than the return. The set-up commands (rooms, exits,
players) are played first, unpaced and unmeasured.
"""

from __future__ import annotations

import bisect
import statistics
import threading
import time
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.utils import Environment

from aethyr_domain.read.projections import UnsupportedStoreError, view_class_for
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.view import WorldView
from benchmarks.backends import Backend
from benchmarks.game_log import play_actions, setup_size
from benchmarks.replay_child import world_class
from benchmarks.scenarios import Measure, Size, Skip, percentile

ROOMS = 8
CATCH_UP_TIMEOUT = 120.0


class TimedProjection(WorldProjection):
    """The world projection, noting when each tracking position was committed."""

    def __init__(self, view: WorldView) -> None:
        super().__init__(view)
        self.ids: list[int] = []
        self.times: list[float] = []
        self._lock = threading.Lock()

    def _done(self, tracking: Tracking) -> None:
        with self._lock:
            self.ids.append(tracking.notification_id)
            self.times.append(time.perf_counter())

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        super().process_event(domain_event, tracking)
        self._done(tracking)

    def process_events(
        self, domain_events: list[Any], tracking: Tracking, first: int | None = None
    ) -> None:
        super().process_events(domain_events, tracking, first)
        self._done(tracking)

    def covered_at(self, notification_id: int) -> float | None:
        """When the view first covered ``notification_id`` (positions only grow)."""
        with self._lock:
            index = bisect.bisect_left(self.ids, notification_id)
            return self.times[index] if index < len(self.ids) else None


def open_view(env: dict[str, str]) -> WorldView:
    """The backend's world view, opened as the game opens it (projection-name prefix)."""
    try:
        cls = view_class_for(env)
    except UnsupportedStoreError as exc:
        raise Skip(str(exc)) from exc
    factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(
        Environment(WorldProjection.name, env)
    )
    view = factory.tracking_recorder(cls)
    assert isinstance(view, WorldView)
    return view


def projection_lag(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """p50/p99 lag (ms) of the world view behind ``World.handle`` under a steady load."""
    env = {**backend.env_for(app_name), "ORIGINATOR_ID_TYPE": "text", "SCRYPT_N": "1024"}
    view = open_view(env)  # on SQLite: in the events' file, as aethyr-es runs it
    world = world_class(app_name)(env=env)
    service = ProjectionService(world, view)
    timed = TimedProjection(view)
    service.projection = timed
    # ids carry the application name: runs on one server share the view's tables
    game = play_actions(world, rooms=ROOMS, prefix=f"{app_name}-")
    sent: list[tuple[int, float]] = []
    try:
        service.start()
        for _ in range(setup_size(ROOMS)):
            next(game)
        actions = max(1, round(size.lag_rate * size.lag_seconds))
        started = time.perf_counter()
        for i in range(actions):
            delay = started + i / size.lag_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            recordings = next(game)
            returned = time.perf_counter()
            if recordings:
                sent.append((recordings[-1].notification.id, returned))
        elapsed = time.perf_counter() - started
        service.wait(sent[-1][0], timeout=CATCH_UP_TIMEOUT)
    finally:
        service.stop()
        world.close()
    lags = []
    for notification_id, returned in sent:
        covered = timed.covered_at(notification_id)
        assert covered is not None, notification_id
        lags.append(max(covered - returned, 0.0) * 1000)
    lags.sort()
    return [
        Measure("projection-lag p50", statistics.median(lags), "ms"),
        Measure("projection-lag p99", percentile(lags, 99), "ms"),
        Measure("projection-lag load", actions / elapsed, "actions/s"),
    ]
