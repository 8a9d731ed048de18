"""Bad input on a real immudb store: typed errors, nothing written.

* every command, every field: missing (None), empty, over-long, wrong type;
* unknown and deleted ids, cycles, unknown slots and directions, duplicates;
* hostile text (quotes, SQL fragments, control characters, 1 MB, lone surrogates as
  left by undecodable bytes) is stored and read back exactly, or refused clearly;
* an outbox entry with missing fields becomes a dead letter, nothing written;
* a stored event that cannot be decoded (unknown topic, corrupted state written
  straight into the immudb table) raises CorruptEventError naming aggregate and version;
* an invalid configuration raises one ConfigError listing every bad key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from aethyr_domain import commands as c
from aethyr_domain.config import ConfigError, ServerConfig
from aethyr_domain.errors import (
    AlreadyExistsError,
    CorruptEventError,
    DomainError,
    InvalidCommandError,
    InvariantViolationError,
    NotFoundError,
    ObjectDeletedError,
    WrongKindError,
)
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_store import iter_events, open_world
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.passwords import hash_password
from aethyr_domain.room import Room
from tests.faults.support import immudb_config
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

#: A valid set of arguments for every command (ids refer to the fixture world).
VALID: dict[type[c.Command], dict[str, Any]] = {
    c.CreateGameObject: {"id": "new-1", "name": "a stone", "generic": "stone"},
    c.UpdateGameObjectAttribute: {"id": "item", "key": "weight", "value": 3},
    c.UpdateGameObjectAttributes: {"id": "item", "attributes": {"weight": 3}},
    c.UpdateGameObjectContainer: {"id": "item", "container_id": "room-b"},
    c.DeleteGameObject: {"id": "item"},
    c.CreatePlayer: {"id": "p-new", "name": "Newbie", "password": "long-enough"},
    c.UpdatePlayerPassword: {"id": "player", "password": "long-enough"},
    c.UpdatePlayerAdminStatus: {"id": "player", "admin": True},
    c.CreateRoom: {"id": "room-new", "name": "Hall", "description": "A hall."},
    c.UpdateRoomDescription: {"id": "room-a", "description": "Changed."},
    c.AddRoomExit: {"id": "room-a", "direction": "up", "target_room_id": "room-b"},
    c.RemoveRoomExit: {"id": "room-a", "direction": "north"},
    c.AddItemToInventory: {"id": "bag", "item_id": "item"},
    c.RemoveItemFromInventory: {"id": "room-a", "item_id": "item"},
    c.EquipItem: {"id": "player", "item_id": "held", "slot": "right_wield"},
    c.UnequipItem: {"id": "player", "item_id": "worn", "slot": "head"},
    c.ImportLegacyPlayer: {"id": "p-old", "name": "Oldie", "password_md5": "0" * 32},
    c.UpdateDoorAttributes: {"id": "item", "attributes": {"open": True}},
}

OVER_LONG = "x" * 1_000_000


def _bad_values(name: str, value: Any) -> list[Any]:
    """Values that must be refused for a field whose valid value is ``value``."""
    if isinstance(value, bool):
        return [None, 1, "yes"]
    if isinstance(value, str):
        bad: list[Any] = [None, 7, b"bytes", OVER_LONG]
        if name != "description":  # an empty description is allowed
            bad.append("")
        return bad
    if isinstance(value, dict):
        return [None, {}, [("k", 1)], {"bad key!": 1}]
    return []


def _matrix() -> list[tuple[str, type[c.Command], dict[str, Any]]]:
    cases = []
    for cls, valid in VALID.items():
        for f in dataclasses.fields(cls):
            if f.name in valid:
                for bad in _bad_values(f.name, valid[f.name]):
                    if bad is None and (f.default is None or f.name == "container_id"):
                        continue  # optional field: None is valid
                    args = dict(valid, **{f.name: bad})
                    cases.append((f"{cls.__name__}.{f.name}={type(bad).__name__}", cls, args))
        missing = [f.name for f in dataclasses.fields(cls) if f.name in valid]
        cases.append((f"{cls.__name__}.missing", cls, {k: valid[k] for k in missing[1:]}))
    return cases


@pytest.fixture(scope="module")
def world():
    srv = server()
    config = immudb_config(srv, fresh_database("bad"), _tmp())
    app = open_world(config)
    for cmd in [
        c.CreateRoom("room-a", "Square", "A square."),
        c.CreateRoom("room-b", "Yard", "A yard."),
        c.AddRoomExit("room-a", "north", "room-b"),
        c.CreateGameObject("item", "a rock", "rock", container_id="room-a"),
        c.CreateGameObject("bag", "a bag", "bag", container_id="room-a"),
        c.CreateGameObject("inner", "a pouch", "pouch", container_id="bag"),
        c.CreateGameObject("gone", "a ghost", "ghost", container_id="room-a"),
        c.DeleteGameObject("gone"),
        c.CreatePlayer("player", "Bob", "bob-password"),
        c.UpdateGameObjectContainer("player", "room-a"),
        c.CreateGameObject("held", "a sword", "sword", container_id="player"),
        c.CreateGameObject("worn", "a cap", "cap", container_id="player"),
        c.EquipItem("player", "worn", "head"),
    ]:
        app.handle(cmd)
    yield app
    app.close()


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="bad-input-"))


@pytest.mark.parametrize(("label", "cls", "args"), _matrix(), ids=[m[0] for m in _matrix()])
def test_every_malformed_field_is_refused_at_construction(label, cls, args):
    if label.endswith(".missing"):
        with pytest.raises(TypeError, match="missing"):
            cls(**args)
        return
    with pytest.raises(InvalidCommandError) as info:
        cls(**args)
    assert "x" * 100 not in str(info.value)  # the message never echoes a huge value


def test_every_valid_baseline_builds():
    for cls, args in VALID.items():
        assert isinstance(cls(**args), cls)


RULE_BREAKERS: list[tuple[c.Command, type[DomainError]]] = [
    (c.UpdateGameObjectAttribute("nope", "k", 1), NotFoundError),
    (c.UpdateGameObjectAttribute("gone", "k", 1), ObjectDeletedError),
    (c.DeleteGameObject("gone"), ObjectDeletedError),
    (c.UpdateGameObjectContainer("item", "nope"), NotFoundError),
    (c.UpdateGameObjectContainer("item", "gone"), ObjectDeletedError),
    (c.UpdateGameObjectContainer("bag", "inner"), InvariantViolationError),  # a cycle
    (c.UpdateGameObjectContainer("bag", "bag"), InvariantViolationError),
    (c.UpdateGameObjectContainer("room-a", "bag"), InvariantViolationError),
    (c.UpdateGameObjectContainer("player", "bag"), InvariantViolationError),
    (c.AddItemToInventory("inner", "bag"), InvariantViolationError),
    (c.RemoveItemFromInventory("room-b", "item"), InvariantViolationError),
    (c.CreateRoom("room-a", "Again", ""), AlreadyExistsError),
    (c.CreateGameObject("item", "dup", "dup"), AlreadyExistsError),
    (c.CreatePlayer("p-2", "BOB", "another-pw"), AlreadyExistsError),
    (c.UpdatePlayerPassword("item", "long-enough"), WrongKindError),
    (c.UpdatePlayerAdminStatus("nope", True), NotFoundError),
    (c.UpdateRoomDescription("item", "x"), WrongKindError),
    (c.AddRoomExit("room-a", "north", "room-b"), AlreadyExistsError),
    (c.AddRoomExit("room-a", "south", "nope"), NotFoundError),
    (c.AddRoomExit("room-a", "south", "item"), WrongKindError),
    (c.RemoveRoomExit("room-a", "west"), InvariantViolationError),
    (c.EquipItem("player", "item", "head"), InvariantViolationError),  # not held
    (c.EquipItem("player", "held", "head"), InvariantViolationError),  # slot taken
    (c.UnequipItem("player", "held", "head"), InvariantViolationError),
    (c.UnequipItem("player", "worn", "neck"), InvariantViolationError),
]


@pytest.mark.parametrize(
    ("command", "error"), RULE_BREAKERS, ids=[type(cmd).__name__ for cmd, _ in RULE_BREAKERS]
)
def test_rule_breaking_commands_are_refused_and_write_nothing(world, command, error):
    before = world.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        world.handle(command)
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    assert world.recorder.max_notification_id() == before


def test_unknown_direction_and_slot_are_refused():
    with pytest.raises(InvalidCommandError, match="direction"):
        c.AddRoomExit("room-a", "sideways", "room-b")
    with pytest.raises(InvalidCommandError, match="slot"):
        c.EquipItem("player", "held", "tail")
    with pytest.raises(InvalidCommandError, match="password"):
        c.CreatePlayer("p-3", "Cat", "pw", password_hash=hash_password("x", n=1024))
    with pytest.raises(InvalidCommandError, match="password_hash"):
        c.UpdatePlayerPassword("player", password_hash="md5$" + "0" * 32)


HOSTILE = [
    'Bob\'s "quoted" `name`',
    "'); DROP TABLE world_events; --",
    "@param :name $1 %s {0} \\x00",
    "Ünïcödé ✓ 漢字 🐉",
    "tab\tand\nnewline",
    "zero\x00byte",
    "bell\x07and\x1bescape",
    "lone surrogate \udcff from bytes",
    "x" * 1_000_000,
    "x" * 8000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_is_stored_exactly_or_refused(world, text):
    before = world.recorder.max_notification_id()
    try:
        world.handle(c.UpdateRoomDescription("room-b", text))
    except InvalidCommandError as exc:
        assert exc.field == "description"
        assert world.recorder.max_notification_id() == before
        return
    fresh = open_world(_config_of(world))  # read back through a new connection
    try:
        room = fresh.get("room-b")
        assert isinstance(room, Room)
        assert room.description == text
    finally:
        fresh.close()
    name = text[:80]
    try:
        world.handle(c.UpdateGameObjectAttribute("item", "note", name))
    except InvalidCommandError:
        assert world.recorder.max_notification_id() == before + 1
        return
    assert world.get("item").attributes["note"] == name


def _config_of(world) -> ServerConfig:
    settings = world.recorder.datastore.settings
    return ServerConfig(
        event_store="immudb",
        immudb_address=settings.host,
        immudb_port=settings.port,
        immudb_database=settings.database,
    )


def test_outbox_entry_with_missing_fields_is_a_dead_letter(world, tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    before = world.recorder.max_notification_id()
    outbox.append("CreateRoom", {"id": "room-x"}, "system")
    outbox.append("EquipItem", {"id": "player", "item_id": "held", "slot": 3}, "system")
    while outbox.backlog():  # command rows (earlier format) are decided one per round
        result = deliver_pending(outbox, world)
        assert result.delivered == 0
    errors = [d["error"] for d in outbox.dead_letters()]
    assert "TypeError" in errors[0] and "missing" in errors[0]
    assert "InvalidCommandError: slot" in errors[1]
    assert world.recorder.max_notification_id() == before
    outbox.close()


def _insert_raw(world, originator_id: str, version: int, topic: str, state: bytes) -> None:
    """Store an event record as given, past the application's transcoder and mapper."""
    world.recorder.insert_events([StoredEvent(originator_id, version, topic, state)])


def test_undecodable_stored_events_name_aggregate_and_version():
    srv = server()
    app = open_world(immudb_config(srv, fresh_database("corrupt"), _tmp()))
    try:
        app.handle(c.CreateRoom("room-1", "Cellar", "Damp."))
        app.handle(c.CreateRoom("room-2", "Attic", "Dusty."))
        _insert_raw(app, "room-1", 3, "aethyr_domain.events:NoSuchEvent", b"{}")
        _insert_raw(app, "room-2", 3, "aethyr_domain.events:RoomDescriptionUpdated", b"\xff{")
        _insert_raw(app, "room-3", 1, "aethyr_domain.events:RoomDescriptionUpdated", b"{}")
        with pytest.raises(CorruptEventError) as info:
            app.get("room-1")
        assert (info.value.aggregate_id, info.value.version) == ("room-1", 3)
        assert "unknown topic 'aethyr_domain.events:NoSuchEvent'" in str(info.value)
        with pytest.raises(CorruptEventError, match=r"event 3 of aggregate 'room-2'"):
            app.get("room-2")
        with pytest.raises(CorruptEventError, match=r"event 1 of aggregate 'room-3'.*missing"):
            app.get("room-3")
        with pytest.raises(CorruptEventError, match="room-1"):
            list(iter_events(app))
    finally:
        app.close()


def test_invalid_configuration_lists_every_bad_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'event_store = "mongo"\nimmudb_port = 0\noutbox_batch_size = 0\ncolour = "red"\n'
        'immudb_password = ""\nretry_base_delay = -1.0\n'
    )
    with pytest.raises(ConfigError) as info:
        ServerConfig.load(path, environ={"AETHYR_METRICS_PORT": "many"})
    text = str(info.value)
    for key in ("event_store", "immudb_port", "outbox_batch_size", "colour", "metrics_port"):
        assert key in text, key
    assert len(info.value.problems) >= 5
