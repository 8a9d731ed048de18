"""Snapshots, upcasting, passwords, retries and SQLite string ids."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from aethyr_domain import commands as c
from aethyr_domain.application import World
from aethyr_domain.errors import ConcurrencyConflictError
from aethyr_domain.events import GameObjectContainerUpdated
from aethyr_domain.passwords import hash_password, needs_upgrade, verify_password
from aethyr_domain.player import Player

from .conftest import TEST_ENV

# ---------------------------------------------------------------- snapshots


def test_snapshots_every_threshold_events_and_loading_uses_them() -> None:
    world = World(env=TEST_ENV, snapshot_threshold=3)
    world.handle(c.CreateGameObject("rock", "rock", "rock"))
    for i in range(7):
        world.handle(c.UpdateGameObjectAttribute("rock", "n", i))
    assert world.snapshots is not None
    snaps = list(world.snapshots.get("rock"))
    assert [s.originator_version for s in snaps] == [3, 6]
    # Prove loading starts from the latest snapshot: corrupt nothing, but
    # check the repository reads the v6 snapshot then only event 7+.
    read: list[int] = []
    original = world.events.get

    def spy(originator_id: Any, gt: int | None = None, **kw: Any) -> Any:
        read.append(gt or 0)
        return original(originator_id, gt=gt, **kw)

    world.events.get = spy  # type: ignore[method-assign]
    rock = world.get("rock")
    assert read == [6]
    assert rock.version == 8 and rock.attributes == {"n": 6}
    world.events.get = original  # type: ignore[method-assign]
    assert world.repository.get("rock", version=8) == rock


def test_snapshots_off_with_zero() -> None:
    world = World(env={**TEST_ENV, "SNAPSHOT_THRESHOLD": "0"})
    world.handle(c.CreateRoom("r", "R", ""))
    assert world.snapshots is not None
    assert list(world.snapshots.get("r")) == []


def test_snapshot_of_every_aggregate_kind_round_trips() -> None:
    world = World(env=TEST_ENV, snapshot_threshold=1)
    world.handle(c.CreateRoom("r", "R", "d"))
    world.handle(c.CreatePlayer("p", "Pat", "secret-1"))
    world.handle(c.UpdateGameObjectContainer("p", "r"))
    world.handle(c.CreateGameObject("i", "i", "i", container_id="p"))
    world.handle(c.AddItemToInventory("r", "i", position=(1, 2)))
    for object_id in ("r", "p", "i"):
        from_snapshot = world.get(object_id)
        from_events: object = world.repository.get(object_id, version=from_snapshot.version)
        assert from_snapshot == from_events


# ---------------------------------------------------------------- upcasting


def test_v1_container_event_is_read_as_v2() -> None:
    """A v1 GameObjectContainerUpdated (the original's fields) written by hand."""
    world = World(env=TEST_ENV)
    world.handle(c.CreateRoom("r", "R", ""))
    world.handle(c.CreateGameObject("i", "i", "i"))
    transcoder = world.mapper.transcoder
    v1_state = {
        "originator_id": "i",
        "originator_version": 2,
        "timestamp": world.get("i").modified_on,
        "actor": "system",
        "container_id": "r",
    }  # no class_version key: that is how v1 events are stored
    stored = StoredEvent(
        originator_id="i",
        originator_version=2,
        topic="aethyr_domain.events:GameObjectContainerUpdated",
        state=transcoder.encode(v1_state),
    )
    world.recorder.insert_events([stored])
    event = world.mapper.to_domain_event(stored)
    assert isinstance(event, GameObjectContainerUpdated)
    assert (event.container_id, event.position, event.slot) == ("r", None, None)
    assert world.get("i").container_id == "r"
    # new events are stored as v2
    world.handle(c.CreateGameObject("j", "j", "j", container_id="r"))
    raw = list(world.recorder.select_events("j"))[-1]
    assert transcoder.decode(raw.state)["class_version"] == 2


# ---------------------------------------------------------------- passwords


def test_scrypt_hashes_are_salted_and_verify() -> None:
    one, two = hash_password("secret-1", n=1024), hash_password("secret-1", n=1024)
    assert one != two
    assert verify_password("secret-1", one) and not verify_password("secret-2", one)
    assert needs_upgrade(one)  # weaker than the default policy
    assert not needs_upgrade(hash_password("secret-1"))
    for bad in ("bcrypt$x", "scrypt$nonsense", "scrypt$n=1,r=1$a$b", ""):
        assert not verify_password("secret-1", bad)
        assert needs_upgrade(bad)


def test_legacy_md5_import_is_upgraded_at_next_successful_check(world: World) -> None:
    md5 = hashlib.md5(b"old-secret").hexdigest()
    world.handle(c.ImportLegacyPlayer("p", "Old", md5, admin=True))
    player = world.get("p")
    assert isinstance(player, Player) and player.admin
    assert player.password_hash == "md5$" + md5
    before = world.recorder.max_notification_id()
    assert not world.check_password("p", "wrong-one")
    assert world.recorder.max_notification_id() == before  # failure changes nothing
    assert world.check_password("p", "old-secret")
    upgraded = world.get("p")
    assert isinstance(upgraded, Player)
    assert upgraded.password_hash.startswith("scrypt$n=1024,")
    assert world.check_password("p", "old-secret")
    after = world.recorder.max_notification_id()
    assert world.check_password("p", "old-secret")
    assert world.recorder.max_notification_id() == after  # no needless re-hash


# ---------------------------------------------------------------- concurrency


def test_version_conflict_is_retried_with_fresh_state(world: World) -> None:
    world.handle(c.CreateRoom("r", "R", ""))
    world.handle(c.CreateGameObject("i", "i", "i"))
    real_save = world.save
    calls = {"n": 0}

    def racing_save(*objs: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # another writer changes the item first
            world.save = real_save  # type: ignore[method-assign]
            world.handle(c.UpdateGameObjectAttribute("i", "touched", True))
            world.save = racing_save  # type: ignore[method-assign]
        return real_save(*objs, **kw)

    world.save = racing_save  # type: ignore[method-assign]
    world.handle(c.AddItemToInventory("r", "i"))
    assert calls["n"] == 2
    item = world.get("i")
    assert item.container_id == "r" and item.attributes == {"touched": True}


def test_persistent_conflict_raises_concurrency_error(world: World) -> None:
    world.handle(c.CreateGameObject("i", "i", "i"))
    real_save = world.save
    counter = {"n": 0}

    def always_racing(*objs: Any, **kw: Any) -> Any:
        counter["n"] += 1
        world.save = real_save  # type: ignore[method-assign]
        world.handle(c.UpdateGameObjectAttribute("i", "k", counter["n"]))
        world.save = always_racing  # type: ignore[method-assign]
        return real_save(*objs, **kw)

    world.save = always_racing  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyConflictError):
        world.handle(c.UpdateGameObjectAttribute("i", "mine", 1))
    world.save = real_save  # type: ignore[method-assign]
    assert counter["n"] == World.MAX_ATTEMPTS
    assert "mine" not in world.get("i").attributes


def test_concurrent_same_name_player_creation_one_wins(world: World) -> None:
    """Two players named Bob/bob racing: the name index lets only one in."""
    real_save = world.save
    state = {"first": True}

    def racing_save(*objs: Any, **kw: Any) -> Any:
        if state["first"]:
            state["first"] = False
            world.save = real_save  # type: ignore[method-assign]
            world.handle(c.CreatePlayer("p-2", "bob", "secret-2"))
            world.save = racing_save  # type: ignore[method-assign]
        return real_save(*objs, **kw)

    world.save = racing_save  # type: ignore[method-assign]
    with pytest.raises(Exception) as info:
        world.handle(c.CreatePlayer("p-1", "Bob", "secret-1"))
    world.save = real_save  # type: ignore[method-assign]
    assert type(info.value).__name__ == "AlreadyExistsError"
    assert world.find_player_id("BOB") == "p-2"
    assert "p-1" not in world.repository


# ---------------------------------------------------------------- SQLite


def test_sqlite_in_memory_round_trips_string_ids() -> None:
    env = {
        **TEST_ENV,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": ":memory:",
        "ORIGINATOR_ID_TYPE": "text",
    }
    world = World(env=env, snapshot_threshold=2)
    world.handle(c.CreateRoom("start-room", "Start", "Here."))
    world.handle(c.CreatePlayer("9f2c1e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "Zed", "secret-1"))
    world.handle(c.UpdateGameObjectContainer("9f2c1e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "start-room"))
    world.handle(c.CreateGameObject("lamp", "a lamp", "lamp", container_id="start-room"))
    room = world.get("start-room")
    assert set(room.inventory) == {"9f2c1e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "lamp"}
    notes = world.recorder.select_notifications(start=1, limit=100)
    assert all(isinstance(n.originator_id, str) for n in notes)
    assert world.find_player_id("zed") == "9f2c1e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    assert world.check_password("9f2c1e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "secret-1")
    world.close()
