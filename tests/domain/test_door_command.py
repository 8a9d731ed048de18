"""``UpdateDoorAttributes``: a door and its other side change in one atomic save."""

from __future__ import annotations

from aethyr_domain import commands as c
from aethyr_domain.errors import NotFoundError
from tests.domain.conftest import refuse


def _doors(world):
    world.handle(c.CreateRoom("a", "Room A", ""))
    world.handle(c.CreateRoom("b", "Room B", ""))
    for door, room, other in (("d1", "a", "d2"), ("d2", "b", "d1")):
        world.handle(c.CreateGameObject(door, "a door", "door", "a" if room == "a" else "b"))
        world.handle(c.UpdateGameObjectAttributes(door, {"door": True, "connected_to": other}))


def test_both_sides_change_in_one_save(world):
    _doors(world)
    before = world.recorder.max_notification_id()
    world.handle(c.UpdateDoorAttributes("d1", {"open": True}, actor="p1"))
    new = world.recorder.select_notifications(start=before + 1, limit=10)
    assert sorted(n.originator_id for n in new) == ["d1", "d2"]
    assert world.repository.get("d1").attributes["open"] is True
    assert world.repository.get("d2").attributes["open"] is True


def test_an_object_without_a_counterpart_changes_alone(world):
    world.handle(c.CreateRoom("a", "Room A", ""))
    world.handle(c.CreateGameObject("chest", "a chest", "chest", "a"))
    world.handle(c.UpdateDoorAttributes("chest", {"open": True}))
    assert world.repository.get("chest").attributes["open"] is True


def test_unknown_door_is_refused_and_nothing_written(world):
    refuse(world, c.UpdateDoorAttributes("ghost", {"open": True}), NotFoundError)
