"""The Decider runs the World's handlers in memory: same events as World.handle, and a
refusal changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aethyr_domain.application import World
from aethyr_domain.commands import (
    CreateGameObject,
    EquipItem,
    UpdateGameObjectAttribute,
    UpdateGameObjectContainer,
)
from aethyr_domain.decision import Decider
from aethyr_domain.errors import InvariantViolationError, SlotOccupiedError
from aethyr_domain.game_state import GameState
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps
from aethyr_domain.room import Room
from tests.domain.conftest import TEST_ENV
from tests.projections.scenario import SCRIPT, command_of


def _facts(event: Any) -> tuple[Any, ...]:
    state = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in ("timestamp", "password_hash")
    }
    return (type(event).__name__, str(event.originator_id), event.originator_version, state)


def test_the_decider_decides_what_world_handle_stores() -> None:
    world = World(env=TEST_ENV)
    decider = Decider(scrypt_n=1024)
    live = GameState()
    for step in SCRIPT:
        command = command_of(step)
        decision = decider.decide(command)
        recordings = world.handle(command)
        assert [_facts(e) for e in decision.events] == [_facts(r.domain_event) for r in recordings]
        live.update_from(decision.changed)
    assert dumps(live) == dumps(rebuild_world_state(world))
    world.close()


def test_a_refusal_changes_nothing() -> None:
    decider = Decider()
    decider.decide(CreateGameObject("npc", "a guard", "mobile"))
    decider.decide(CreateGameObject("shirt", "a shirt", "shirt", container_id="npc"))
    decider.decide(CreateGameObject("coat", "a coat", "coat", container_id="npc"))
    decider.decide(EquipItem("npc", "shirt", "torso"))
    before = {key: (type(a), a.version) for key, a in decider.aggregates.items()}
    with pytest.raises(SlotOccupiedError):  # layer 0 of the torso is taken
        decider.decide(EquipItem("npc", "coat", "torso"))
    decider.decide(UpdateGameObjectAttribute("coat", "layer", True))
    with pytest.raises(InvariantViolationError, match="invalid layer"):
        decider.decide(EquipItem("npc", "coat", "torso"))
    with pytest.raises(InvariantViolationError, match="inside itself"):
        decider.decide(UpdateGameObjectContainer("npc", "coat"))
    after = {key: (type(a), a.version) for key, a in decider.aggregates.items()}
    before["coat"] = (before["coat"][0], before["coat"][1] + 1)  # only the attribute
    assert after == before
    assert decider.get("coat").slot is None  # type: ignore[union-attr]


def test_a_command_that_changes_nothing_has_no_events() -> None:
    decider = Decider()
    decider.decide(CreateGameObject("box", "a box", "box"))
    decision = decider.decide(UpdateGameObjectContainer("box", None))
    assert decision.events == () and decision.changed == ()


def test_a_private_copy_shares_no_container_the_handlers_change() -> None:
    """What a handler changes in place (inventory, attributes, exits, equipment, pending
    events) is the copy's own; the cached aggregate is untouched."""
    from aethyr_domain.decision import private_copy

    decider = Decider()
    from aethyr_domain import commands as c

    decider.decide(c.CreateRoom("hall", "Hall", "A hall."))
    decider.decide(c.CreateGameObject("cup", "a cup", "cup", container_id="hall"))
    room = decider.aggregates["hall"]
    before = {
        k: (v.copy() if isinstance(v, (list, dict, set)) else v) for k, v in vars(room).items()
    }
    clone = private_copy(room)
    for value in vars(clone).values():
        if isinstance(value, list):
            value.append("x")
        elif isinstance(value, dict):
            value["x"] = "y"
        elif isinstance(value, set):
            value.add("x")
    assert vars(room) == before
    assert isinstance(room, Room) and isinstance(clone, Room)
    assert "x" in clone.inventory and "x" not in room.inventory
