"""history: every event of one object, with time, actor and what changed."""

from __future__ import annotations

import orjson
import pytest

from aethyr_domain.application import World
from aethyr_domain.read.history import NoHistoryError, history_json, history_text, object_history
from tests.projections.scenario import FAST_ENV, play


def test_history_of_an_item_tells_who_moved_it() -> None:
    world = World(env=FAST_ENV)
    play(world)
    entries = object_history(world, "bag")
    assert [(e.version, e.event, e.actor) for e in entries] == [
        (1, "GameObjectCreated", "ada"),
        (2, "GameObjectContainerUpdated", "ada"),
        (3, "GameObjectContainerUpdated", "bob"),
        (4, "GameObjectAttributeUpdated", "ada"),
        (5, "ItemAddedToInventory", "bob"),
        (6, "GameObjectContainerUpdated", "bob"),
    ]
    assert entries[0].changes == {
        "name": "bag",
        "generic": "container",
        "container_id": None,
        "attributes": {},
    }
    assert entries[2].changes == {"container_id": "bob", "position": [1, 2], "slot": None}
    assert entries[4].changes == {"item_id": "dagger", "position": None}
    assert entries[5].changes["container_id"] == "library"
    times = [e.time for e in entries]
    assert times == sorted(times)
    text = history_text(world, "bag")
    assert len(text.splitlines()) == 6
    assert "GameObjectAttributeUpdated" in text and "'colour'" in text


def test_history_never_shows_password_hashes() -> None:
    world = World(env=FAST_ENV)
    play(world)
    data = history_json(world, "bob")
    text = orjson.dumps(data).decode() + history_text(world, "bob")
    assert "scrypt" not in text and "secret" not in text
    events = [e["event"] for e in data["events"]]
    assert "PlayerPasswordUpdated" in events
    assert data["events"][events.index("PlayerPasswordUpdated")]["changes"] == {
        "password_hash": "<redacted>"
    }


def test_unknown_id_is_a_clear_error() -> None:
    with pytest.raises(NoHistoryError, match="no events recorded for object 'ghost'"):
        object_history(World(env=FAST_ENV), "ghost")
