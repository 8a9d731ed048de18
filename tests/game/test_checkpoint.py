"""Checkpoint boot: checkpoint + tail == full replay; every unusable checkpoint falls back.

On the SQLite store (a real file that outlives the process, so restarts and restored
backups are real); ``World.handle`` writes the logs the checkpoints are checked against.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from aethyr_domain import commands as c
from aethyr_domain.cli.world import load_game_state
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.checkpoint import (
    CheckpointError,
    load_world_from_checkpoint,
    log_mark,
    read_checkpoint,
    write_checkpoint,
)
from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.replay import final_aggregates, rebuild_world_state
from aethyr_domain.read.world_dump import dumps
from tests.game.outbox_support import outbox_sink


def _config(tmp_path: Path, name: str = "events", **changes) -> ServerConfig:
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / f"{name}.sqlite"),
        outbox_path=str(tmp_path / f"{name}-outbox.sqlite"),
        outbox_poll_interval=0.01,
        projections_enabled=False,
        **changes,
    )


def _rooms(app, prefix: str, count: int) -> None:
    for i in range(count):
        app.handle(c.CreateRoom(f"{prefix}-{i}", f"Room {prefix} {i}", "A room."))
        if i:
            app.handle(c.AddRoomExit(f"{prefix}-{i - 1}", "east", f"{prefix}-{i}"))


def _checkpoint_now(app, path) -> int:
    """Write a checkpoint of ``app``'s log as it is; returns its position."""
    aggregates, _ = final_aggregates(app)
    position = app.recorder.max_notification_id()
    mark = log_mark(app, position)
    assert mark is not None
    write_checkpoint(path, app, aggregates, mark)
    return position


@pytest.fixture
def store(tmp_path):
    app = open_world(_config(tmp_path))
    yield app
    app.close()


def test_checkpoint_plus_tail_equals_a_full_replay(store, tmp_path):
    app = store
    _rooms(app, "a", 5)
    path = tmp_path / "world.checkpoint"
    position = _checkpoint_now(app, path)
    _rooms(app, "b", 4)  # the tail
    app.handle(c.UpdateRoomDescription("a-0", "Changed after the checkpoint."))
    aggregates, live, loaded = load_world_from_checkpoint(app, path)
    assert loaded.from_checkpoint and loaded.position == position
    assert loaded.tail_events == app.recorder.max_notification_id() - position
    assert dumps(live) == dumps(rebuild_world_state(app))
    assert set(aggregates) == set(final_aggregates(app)[0])


def _fell_back(app, path, caplog, reason: str) -> None:
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.game.checkpoint"):
        _, live, loaded = load_world_from_checkpoint(app, path)
    assert not loaded.from_checkpoint
    assert reason in loaded.reason
    assert any(reason in r.getMessage() and "replaying" in r.getMessage() for r in caplog.records)
    assert dumps(live) == dumps(rebuild_world_state(app))


def test_a_missing_checkpoint_falls_back(store, tmp_path, caplog):
    app = store
    _rooms(app, "a", 3)
    _fell_back(app, tmp_path / "nothing-here", caplog, "no checkpoint at")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]),  # a flipped bit in the body
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: b"not a checkpoint\n" + data,  # a foreign header
        lambda data: b"",
    ],
)
def test_a_corrupt_checkpoint_falls_back(store, tmp_path, caplog, damage):
    app = store
    _rooms(app, "a", 3)
    path = tmp_path / "world.checkpoint"
    _checkpoint_now(app, path)
    path.write_bytes(damage(path.read_bytes()))
    _fell_back(app, path, caplog, "corrupt")


def test_a_checkpoint_beyond_the_end_of_the_log_is_stale(tmp_path, caplog):
    config = _config(tmp_path)
    app = open_world(config)
    _rooms(app, "a", 3)
    app.close()
    shutil.copy(config.sqlite_path, tmp_path / "backup.sqlite")
    app = open_world(config)
    _rooms(app, "b", 3)
    path = tmp_path / "world.checkpoint"
    _checkpoint_now(app, path)
    app.close()
    shutil.copy(tmp_path / "backup.sqlite", config.sqlite_path)  # the log restored, shorter
    app = open_world(config)
    try:
        _fell_back(app, path, caplog, "stale: it is at notification")
    finally:
        app.close()


def test_a_checkpoint_of_a_rewritten_log_is_stale(tmp_path, caplog):
    config = _config(tmp_path)
    app = open_world(config)
    _rooms(app, "a", 3)
    app.close()
    shutil.copy(config.sqlite_path, tmp_path / "backup.sqlite")
    app = open_world(config)
    _rooms(app, "b", 3)
    path = tmp_path / "world.checkpoint"
    _checkpoint_now(app, path)
    app.close()
    shutil.copy(tmp_path / "backup.sqlite", config.sqlite_path)
    app = open_world(config)
    try:
        _rooms(app, "c", 6)  # same start, other history, longer than the checkpoint
        _fell_back(app, path, caplog, "differs from it")
    finally:
        app.close()


def test_a_checkpoint_from_another_store_is_refused(store, tmp_path, caplog):
    app = store
    _rooms(app, "a", 3)
    other = open_world(_config(tmp_path, "other"))
    try:
        _rooms(other, "a", 6)
        path = tmp_path / "other.checkpoint"
        _checkpoint_now(other, path)
    finally:
        other.close()
    _rooms(app, "more", 4)
    _fell_back(app, path, caplog, "another store")


def test_read_checkpoint_says_why(store, tmp_path):
    app = store
    _rooms(app, "a", 2)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_checkpoint(tmp_path / "missing", app)


def _play(manager, lines):
    actions = Actions(manager)
    admin = manager.add_player("Alice", "alice-pw-1").id
    manager.set_admin(admin, True)
    for line in lines:
        actions.perform(admin, line)
    return admin


def test_the_game_boots_from_its_checkpoint_and_equals_world_source_replay(tmp_path):
    config = _config(tmp_path, checkpoint_interval=5)
    manager = boot(config)
    assert not manager.boot_load.from_checkpoint
    _play(manager, ["acroom north The Hall", "acdoor north", "open door", "acprop fountain"])
    manager.close()  # saves the last checkpoint
    assert Path(config.checkpoint_file).exists()

    manager = boot(config)
    try:
        assert manager.boot_load.from_checkpoint
        assert manager.boot_load.tail_events == 0
        assert dumps(manager.state) == dumps(load_game_state(config, "replay"))
        actions = Actions(manager)
        player = manager.state.find_player_by_name("Alice")
        assert player is not None
        alice = player.id
        manager.connect_player(alice)
        assert "[The Hall]" in actions.perform(alice, "north")[-1][1]
        actions.perform(alice, "close south")
        actions.perform(alice, "acprop bench")
    finally:
        manager.close()
    manager = boot(config)
    try:
        assert manager.boot_load.from_checkpoint
        assert dumps(manager.state) == dumps(load_game_state(config, "replay"))
    finally:
        manager.close()


def test_checkpoints_are_saved_every_interval_while_playing(tmp_path):
    config = _config(tmp_path, checkpoint_interval=6)
    manager = boot(config)
    try:
        admin = _play(manager, ["acprop one", "acprop two", "acprop three"])
        checkpointer = manager.checkpointer
        assert checkpointer.due()
        sink = outbox_sink(manager.sink)
        assert sink.drain(30)
        Actions(manager).perform(admin, "acprop four")  # the next command saves first
        checkpointer.wait()
        assert checkpointer.saved == 1 and checkpointer.since > 0
        assert sink.drain(30)  # "acprop four" is after the checkpoint
        app = sink.world
        assert app is not None  # delivery connected: it drained
        _aggregates, position = read_checkpoint(config.checkpoint_file, app)
        last = app.recorder.max_notification_id()
        assert last is not None and position < last
    finally:
        manager.close()
    manager = boot(config)
    try:
        assert manager.boot_load.from_checkpoint and manager.boot_load.tail_events == 0
        names = {o.name for o in manager.state.objects.values()}
        assert {"a one", "a two", "a three", "a four"} <= names
    finally:
        manager.close()


def test_checkpoint_interval_zero_always_replays(tmp_path):
    config = _config(tmp_path, checkpoint_interval=0)
    manager = boot(config)
    _play(manager, ["acprop one"])
    manager.close()
    assert not Path(config.checkpoint_file).exists()
    manager = boot(config)
    try:
        assert not manager.boot_load.from_checkpoint
        assert manager.boot_load.reason == "checkpoints are off"
    finally:
        manager.close()
