"""Stored topics keep resolving after issue 17's moves.

Events and snapshots are stored with the topic of their class
(``aethyr_domain.events:RoomCreated``, ...), and the game's storage and checkpoints
name aggregate classes the same way. Issue 17 moved the modules with I/O into
subpackages but kept every stored class in the model (the top-level modules), so no
topic changed and none needs ``register_topic``. ``fixtures/stored_before_moves.json``
holds the stored events and snapshots of a small world written by the code *before*
the moves (state bytes base64-encoded); these tests load it with the current code.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from aethyr_domain.application import World
from aethyr_domain.game_object import GameObject
from aethyr_domain.player import Player
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.room import Room

from .conftest import TEST_ENV

FIXTURE = Path(__file__).parent / "fixtures" / "stored_before_moves.json"


def _stored(rows: list[dict[str, Any]]) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=base64.b64decode(row["state"]),
        )
        for row in rows
    ]


def _fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def _loaded_world(*, with_snapshots: bool) -> World:
    data = _fixture()
    world = World(env=TEST_ENV, snapshot_threshold=0)
    world.recorder.insert_events(_stored(data["events"]))
    if with_snapshots:
        snapshots = World(env=TEST_ENV, snapshot_threshold=2)
        snapshots.recorder.insert_events(_stored(data["events"]))
        assert snapshots.snapshots is not None
        snapshots.snapshots.recorder.insert_events(_stored(data["snapshots"]))
        return snapshots
    return world


def test_every_stored_topic_resolves_to_a_class_of_the_model() -> None:
    data = _fixture()
    topics = {row["topic"] for row in data["events"] + data["snapshots"]}
    assert len(topics) > 5
    for topic in topics:
        cls = resolve_topic(topic)
        # the class still lives where the topic says: new writes store the same topic
        assert get_topic(cls) == topic
        assert cls.__module__ == "aethyr_domain.events"


def test_the_aggregate_topics_of_storage_and_checkpoints_are_unchanged() -> None:
    for cls, topic in [
        (GameObject, "aethyr_domain.game_object:GameObject"),
        (Player, "aethyr_domain.player:Player"),
        (Room, "aethyr_domain.room:Room"),
    ]:
        assert get_topic(cls) == topic
        assert resolve_topic(topic) is cls


def test_a_store_written_before_the_moves_loads_event_by_event() -> None:
    world = _loaded_world(with_snapshots=False)
    try:
        hall, player, sword = world.get("hall"), world.get("p1"), world.get("sword")
        assert isinstance(hall, Room) and isinstance(player, Player)
        assert hall.exits == {"north": "yard"}
        assert player.name == "Alice" and player.container_id == "hall"
        assert sword.container_id == "p1" and sword.attributes == {"position": "wield"}
        assert "sword" in player.inventory
        state = rebuild_world_state(world)
        assert state.room_of("sword") == "hall"
        assert state.find_player_by_name("alice") is not None
    finally:
        world.close()


def test_a_store_written_before_the_moves_loads_from_its_snapshots() -> None:
    world = _loaded_world(with_snapshots=True)
    try:
        assert world.snapshots is not None
        assert list(world.snapshots.get("p1")), "the fixture has snapshots of p1"
        player = world.get("p1")
        assert isinstance(player, Player)
        assert player.name == "Alice" and player.container_id == "hall"
        assert player.id == "p1" and not isinstance(player.id, UUID)
    finally:
        world.close()
