"""The SQLite world view in the events' own file, followed while the game writes.

What ``aethyr-es`` does with ``event_store: sqlite``: the read model lives in
the same SQLite file as the events, opened by the projection's own factory
(its own connections). The view's write transactions read rows before they
write; started as plain (deferred) ``BEGIN`` they could not upgrade to a write
lock while the game's connection was writing, and SQLite refused at once with
"database is locked" instead of waiting. They now start with ``BEGIN
IMMEDIATE``, which takes the write lock first and waits (busy timeout) for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import Environment

from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.read.projections.view import Transaction
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, world_from_dict
from benchmarks.game_log import play_actions
from benchmarks.replay_child import world_class

T = TypeVar("T")

SECONDS = 3.0


class WatchedView(SQLiteWorldView):
    """The SQLite view, noting every error its transactions raise (the polling
    follower retries transient ones silently, so the test watches here)."""

    errors: list[BaseException]

    def _run(self, *, write: bool, body: Callable[[Transaction], T]) -> T:
        try:
            return super()._run(write=write, body=body)
        except Exception as exc:
            self.errors.append(exc)
            raise


def test_following_in_the_events_file_while_the_game_writes(tmp_path: Path) -> None:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "game.sqlite"),
        "ORIGINATOR_ID_TYPE": "text",
        "SCRYPT_N": "1024",
    }
    world = world_class("shared")(env=env)
    factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(
        Environment(WorldProjection.name, env)
    )
    WatchedView.errors = []
    view = factory.tracking_recorder(WatchedView)
    assert isinstance(view, WatchedView)
    assert isinstance(world.recorder, SQLiteApplicationRecorder)
    assert view.datastore is not world.recorder.datastore  # two connection pools, one file
    game = play_actions(world, rooms=4)
    actions = 0
    try:
        # poll as often as the game writes, so the two really contend for the lock
        with ProjectionService(world, view, poll_interval=0.001) as service:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                next(game)
                actions += 1
                assert service.error is None, service.error
            service.wait(world.recorder.max_notification_id(), timeout=30)
        projected = world_from_dict(view.query(world_dict))
        assert actions > 50
        assert view.errors == []
        assert dumps(projected) == dumps(rebuild_world_state(world))
    finally:
        world.close()
