"""The projection builds a read model that prints exactly what the live world prints."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from aethyr_domain.application import World
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.projection import WorldProjection, apply_event
from aethyr_domain.read.projections.queries import (
    carried_by,
    equipped_on,
    in_room,
    where_is,
    world_dict,
)
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.world_dump import canonical_json, dumps
from tests.projections.conftest import MakeView
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, command_of, play


def projected_json(view: object) -> str:
    with view.read() as rows:  # type: ignore[attr-defined]
        return canonical_json(world_dict(rows))


def test_catch_up_equals_the_live_world(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    live = play(world)
    view = make_view()
    applied = ProjectionService(world, view).catch_up()
    assert applied == world.recorder.max_notification_id()
    assert projected_json(view) == dumps(live)
    assert view.max_tracking_id(world.name) == applied


def test_following_live_writes_in_a_thread(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    view = make_view()
    before = metrics.EVENTS_PROCESSED.labels(WorldProjection.name)._value.get()
    with ProjectionService(world, view) as service:
        play(world, live, steps=ACTIONS)
        service.wait(world.recorder.max_notification_id(), timeout=10)
        assert projected_json(view) == dumps(live)
        assert service.update_lag() == (0, 0.0)
    after = metrics.EVENTS_PROCESSED.labels(WorldProjection.name)._value.get()
    assert after - before == world.recorder.max_notification_id()


def test_sqlite_event_store_is_followed_by_polling(tmp_path: Path, make_view: MakeView) -> None:
    env = {
        **FAST_ENV,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.db"),
        "ORIGINATOR_ID_TYPE": "text",
    }
    world = World(env=env)
    live = play(world, steps=SETUP)
    view = make_view()
    with ProjectionService(world, view, poll_interval=0.02) as service:
        play(world, live, steps=ACTIONS)
        service.wait(world.recorder.max_notification_id(), timeout=10)
    assert projected_json(view) == dumps(live)


def test_redelivered_events_are_not_applied_twice(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = make_view()
    ProjectionService(world, view).catch_up()
    once = projected_json(view)
    notification = world.recorder.select_notifications(start=1, limit=1)[0]
    event = world.mapper.to_domain_event(notification)
    with pytest.raises(Exception, match="not after"):
        WorldProjection(view).process_event(event, Tracking(world.name, notification.id))
    assert projected_json(view) == once


def test_password_hashes_never_reach_the_read_model(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    play(world)
    view = make_view()
    ProjectionService(world, view).catch_up()
    for table in ("players", "game_objects"):
        text = repr(view.rows(table))
        assert "scrypt" not in text and "secret" not in text
    assert view.rows("players") == [
        {"id": "ada", "name": "Ada", "admin": True},
        {"id": "bob", "name": "Bob", "admin": False},
    ]


def test_queries(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    play(world)
    view = make_view()
    ProjectionService(world, view).catch_up()
    with view.read() as rows:
        sword = where_is(rows, "sword")
        assert sword is not None
        assert (sword.holder_id, sword.slot, sword.layer) == ("ada", "right_wield", 0)
        dagger = where_is(rows, "dagger")
        assert dagger is not None and dagger.holder_id == "bag" and dagger.slot is None
        assert where_is(rows, "nothing") is None
        statue = where_is(rows, "statue")
        assert statue is not None and statue.holder_id is None
        assert [r["id"] for r in carried_by(rows, "library")] == ["bob", "bag"]
        assert equipped_on(rows, "ada") == {"right_wield": {0: "sword"}}
        assert in_room(rows, "library") == {
            "description": "Books.",
            "exits": {"east": "garden", "south": "hall"},
            "contents": ["bob", "bag"],
        }
        assert in_room(rows, "nowhere") == {"description": None, "exits": {}, "contents": []}


def test_unknown_events_only_move_the_tracking_position(make_view: MakeView) -> None:
    class SomethingElse:
        originator_id = "x"

    view = make_view()
    handled: list[bool] = []
    view.apply(
        Tracking("World", 9), lambda rows: handled.append(apply_event(rows, SomethingElse()))
    )
    assert handled == [False]
    assert view.max_tracking_id("World") == 9
    assert view.rows("game_objects") == []


def test_every_original_command_is_projected() -> None:
    names = {type(command_of(step)).__name__ for step in SETUP + ACTIONS}
    assert len(names) == 16


@pytest.mark.immudb
def test_library_projection_runner_on_immudb_store_and_view() -> None:
    """eventsourcing's own ProjectionRunner drives the projection: view built by the
    immudb factory, events followed through the recorder's subscribe()."""
    from eventsourcing.projection import ProjectionRunner

    from aethyr_domain.read.projections import view_class_for
    from tests import immudb_harness
    from tests.recorder.support import env_for

    env = {**env_for(immudb_harness.fresh_database("p")), **FAST_ENV}
    world = World(env=env)
    live = play(world, steps=SETUP)
    view_class = view_class_for(env)
    with ProjectionRunner(
        application_class=World,
        projection_class=WorldProjection,
        view_class=view_class,
        env=env,
    ) as runner:
        play(world, live, steps=ACTIONS)
        runner.wait(world.recorder.max_notification_id(), timeout=20)
        assert projected_json(runner.view) == dumps(live)
        assert [m.version for m in runner.view.applied_migrations()] == [1, 2]
    world.close()


def test_an_event_saved_while_the_subscription_starts_is_not_missed(make_view: MakeView) -> None:
    """Regression: the POPO subscription (eventsourcing 9.5) starts its first read
    before it registers its listener, so an event committed in between woke
    nobody and the follower stalled until the next insert. Here that event is
    saved exactly in that window; the follower must still apply it."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    recorder = world.recorder
    first_read = threading.Event()
    saved = threading.Event()
    real_select = recorder.select_notifications
    real_listen = recorder.listen  # type: ignore[attr-defined]

    def select(*args: Any, **kwargs: Any) -> Any:
        result = real_select(*args, **kwargs)
        if "_loop_on_pull" in threading.current_thread().name:
            first_read.set()
        return result

    def listen(event: threading.Event) -> None:
        assert first_read.wait(5), "the subscription never read the log"
        play(world, live, steps=ACTIONS[:1])  # committed before anyone listens
        saved.set()
        real_listen(event)

    recorder.select_notifications = select  # type: ignore[method-assign]
    recorder.listen = listen  # type: ignore[attr-defined]
    view = make_view()
    with ProjectionService(world, view) as service:
        assert saved.wait(5)
        service.wait(world.recorder.max_notification_id(), timeout=5)
    assert projected_json(view) == dumps(live)


def test_catch_up_raises_a_refusal_that_is_not_a_race(make_view: MakeView) -> None:
    """An IntegrityError while the view's position stays put is re-raised after one
    re-read instead of being retried forever."""
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    service = ProjectionService(world, make_view())
    attempts: list[int] = []

    def refuse(_event: Any, tracking: Tracking) -> None:
        attempts.append(tracking.notification_id)
        raise IntegrityError("tracking row already exists")

    service.projection.process_event = refuse  # type: ignore[method-assign, assignment]
    with pytest.raises(IntegrityError, match="tracking row already exists"):
        service.catch_up()
    assert attempts == [1, 1]  # the first event, tried once more after a re-read
    assert service.view.max_tracking_id(world.name) is None
