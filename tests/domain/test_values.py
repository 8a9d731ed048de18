"""What an attribute may hold (aethyr_domain.values): one definition, checked at the World.

Property: every value ``values.check`` accepts is stored by the World and read back
unchanged (from the aggregate, from a replay of the log and through JSON). Every value
it refuses is refused by ``World.handle``, the game's Decider and ``migrate`` with
``InvalidCommandError``, and nothing is written. A log that already holds an
out-of-range value (written before these rules) still opens and replays.
"""

from __future__ import annotations

import json
import math
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from aethyr_domain import values
from aethyr_domain.application import World
from aethyr_domain.commands import (
    CreateGameObject,
    UpdateGameObjectAttribute,
    UpdateGameObjectAttributes,
)
from aethyr_domain.decision import Decider
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.game.migrate import migrate_to_event_store
from aethyr_domain.game_state import GameState, WorldObject
from aethyr_domain.read.replay import rebuild_world_state
from tests.domain.conftest import TEST_ENV
from tests.hypothesis_profiles import examples

_longest = st.text(min_size=values.MAX_STRING - 2, max_size=values.MAX_STRING)
_strings = st.text(max_size=40) | _longest
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=values.MIN_INT, max_value=values.MAX_INT)
    | st.sampled_from([values.MIN_INT, values.MAX_INT, 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings
)
#: Values the world accepts (kept small enough for the size rule most of the time).
accepted_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)

REFUSED: list[tuple[Any, str]] = [
    (values.MAX_INT + 1, "signed 64-bit"),
    (values.MIN_INT - 1, "signed 64-bit"),
    (10**30, "signed 64-bit"),
    ([1, {"deep": -(10**19)}], "signed 64-bit"),
    (math.nan, "finite"),
    (math.inf, "finite"),
    ({"x": [-math.inf]}, "finite"),
    ("x" * (values.MAX_STRING + 1), f"longer than {values.MAX_STRING}"),
    ({"k" * (values.MAX_STRING + 1): 1}, "dictionary key"),
    ("bad \udcff bytes", "not valid Unicode"),
    ({1: "non-string key"}, "not a string"),
    ([[[[[[[[["nine levels"]]]]]]]]], "nested more than"),
    (["\U0001d11e" * values.MAX_STRING] * 5, "larger than"),
    ({"a set"}, "type set"),
    (b"bytes", "type bytes"),
]


@pytest.mark.parametrize(("value", "reason"), REFUSED)
def test_refused_values_name_the_rule(value: Any, reason: str) -> None:
    problem = values.problem(value)
    assert problem is not None and reason in problem
    with pytest.raises(InvalidCommandError, match=f"^value: .*{reason[:12]}"):
        values.check(value)


@pytest.mark.parametrize(("value", "reason"), REFUSED)
def test_commands_carrying_them_cannot_be_built(world: World, value: Any, reason: str) -> None:
    """So neither World.handle nor the game's Decider ever sees one: nothing is written."""
    world.handle(CreateGameObject("box", "a box", "box"))
    before = world.recorder.max_notification_id()
    with pytest.raises(InvalidCommandError, match=f"^value: .*{reason[:12]}"):
        UpdateGameObjectAttribute("box", "layer", value)
    with pytest.raises(InvalidCommandError, match=r"^attributes\[layer\]: "):
        UpdateGameObjectAttributes("box", {"layer": value})
    assert world.recorder.max_notification_id() == before
    assert "layer" not in world.get("box").attributes


@pytest.mark.parametrize(("value", "reason"), REFUSED[:7])
def test_migrate_refuses_a_dump_holding_such_a_value_and_writes_nothing(
    value: Any, reason: str
) -> None:
    dump = GameState()
    dump.objects["box"] = WorldObject("box", "a box", "box", attributes={"n": value})
    dump.objects["ok"] = WorldObject("ok", "fine", "thing", attributes={"n": 1})
    world = World(env=TEST_ENV)
    with pytest.raises(InvalidCommandError, match="object 'box'"):
        migrate_to_event_store(world, dump)
    assert not world.recorder.max_notification_id()  # nothing was written


@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
@given(value=accepted_values)
def test_every_accepted_value_is_stored_and_read_back_unchanged(value: Any) -> None:
    if values.problem(value) is not None:  # the size rule, rarely
        return
    world = World(env=TEST_ENV)
    world.handle(CreateGameObject("box", "a box", "box"))
    world.handle(UpdateGameObjectAttribute("box", "v", value))
    world.handle(UpdateGameObjectAttributes("box", {"w": value}))
    decider = Decider()
    decider.decide(CreateGameObject("box", "a box", "box"))
    decided = decider.decide(UpdateGameObjectAttribute("box", "v", value))
    expected = json.loads(json.dumps(value))
    for attributes in (
        world.get("box").attributes,
        rebuild_world_state(world).objects["box"].attributes,
        decided.changed[0].attributes,  # type: ignore[attr-defined]
    ):
        assert attributes["v"] == expected
        assert json.dumps(attributes["v"]) == json.dumps(value)
    assert world.get("box").attributes["w"] == expected
    world.close()


def test_a_log_holding_an_out_of_range_value_still_opens_and_replays(tmp_path) -> None:
    """Written before the rules (straight on the aggregate): boot and replay still work."""
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.game.session import boot
    from aethyr_domain.outbox.event_store import open_world

    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "events.sqlite"),
        outbox_path=str(tmp_path / "outbox.sqlite"),
        projections_enabled=False,
    )
    app = open_world(config)
    app.handle(CreateGameObject("old", "an old thing", "thing"))
    old = app.get("old")
    old.set_attribute("n", 10**30, "system")  # what the unchecked game once stored
    old.set_attribute("layer", True, "system")
    app.save(old)
    app.close()
    manager = boot(config)
    try:
        assert manager.state.objects["old"].attributes["n"] == 10**30
        manager.update_attribute("old", "n", 7, actor="system")  # the game goes on
        assert manager.sink is not None and manager.sink.drain(20)  # type: ignore[attr-defined]
    finally:
        manager.close()
    app = open_world(config)
    try:
        assert rebuild_world_state(app).objects["old"].attributes == {"n": 7, "layer": True}
    finally:
        app.close()
