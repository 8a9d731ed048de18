"""rebuild_world_state and time travel: real replays of the event log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aethyr_domain import passwords
from aethyr_domain.application import World
from aethyr_domain.events import WorldEvent
from aethyr_domain.game_state import GameState, WorldObject
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.replay import (
    TimeTravelError,
    parse_at,
    rebuild_world_state,
    replay_world,
)
from aethyr_domain.read.world_dump import canonical_json, dumps
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, play

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("snapshot_threshold", [0, 2])
def test_rebuild_world_state_equals_the_live_world(snapshot_threshold: int) -> None:
    world = World(env=FAST_ENV, snapshot_threshold=snapshot_threshold)
    live = play(world)
    if snapshot_threshold:
        assert world.snapshots is not None
        assert list(world.snapshots.get("ada"))  # snapshots were taken and are used
    before = metrics.REPLAY_EVENTS._value.get()
    rebuilt = rebuild_world_state(world)
    assert dumps(rebuilt) == dumps(live)
    assert metrics.REPLAY_EVENTS._value.get() > before
    # the rebuilt players keep their salted hashes: logins work after a boot
    assert passwords.verify_password("ada-secret", rebuilt.players["ada"].password_hash)
    assert passwords.verify_password("new-secret", rebuilt.players["bob"].password_hash)


def test_rebuild_fills_a_given_live_world_in_place() -> None:
    world = World(env=FAST_ENV)
    live = play(world)
    stale = GameState()
    stale.objects["junk"] = WorldObject(id="junk", name="junk", generic="prop")
    stale.inventories["junk"] = ["ghost"]
    assert rebuild_world_state(world, stale) is stale
    assert dumps(stale) == dumps(live)


def test_a_new_process_rebuilds_the_same_world(tmp_path: Path) -> None:
    """Scripted actions, dump, new process, rebuild, dump again: identical."""
    db = tmp_path / "events.db"
    env = {
        **FAST_ENV,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(db),
        "ORIGINATOR_ID_TYPE": "text",
    }
    live = play(World(env=env, snapshot_threshold=3))
    before = dumps(live)
    code = textwrap.dedent(
        f"""
        import sys
        from aethyr_domain.application import World
        from aethyr_domain.read.replay import rebuild_world_state
        from aethyr_domain.read.world_dump import dumps
        world = World(env={env!r})
        sys.stdout.write(dumps(rebuild_world_state(world)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert out.stdout == before


def test_time_travel_to_a_notification_id_and_to_a_time() -> None:
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    earlier = dumps(live)
    earlier_id = world.recorder.max_notification_id()
    assert earlier_id is not None
    last_setup_event = world.mapper.to_domain_event(
        world.recorder.select_notifications(start=earlier_id, limit=1)[0]
    )
    assert isinstance(last_setup_event, WorldEvent)
    moment = last_setup_event.timestamp
    play(world, live, steps=ACTIONS)
    assert dumps(live) != earlier

    by_id = replay_world(world, at=earlier_id)
    assert canonical_json(by_id.world) == earlier
    assert by_id.last_notification_id == earlier_id == by_id.events

    by_time = replay_world(world, at=parse_at(moment.isoformat()))
    assert canonical_json(by_time.world) == earlier

    now = replay_world(world, at=datetime.now(UTC) + timedelta(seconds=1))
    assert canonical_json(now.world) == dumps(live)
    assert canonical_json(replay_world(world).world) == dumps(live)
    before_anything = replay_world(world, at=moment - timedelta(days=1))
    assert before_anything.events == 0 and before_anything.world["objects"] == []


def test_parse_at() -> None:
    assert parse_at(" 17 ") == 17
    assert parse_at("2026-01-02T03:04:05+01:00") == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert parse_at("2026-01-02T03:04:05").tzinfo is UTC  # type: ignore[union-attr]
    with pytest.raises(TimeTravelError, match="expected a notification"):
        parse_at("yesterday")
