"""Random game action sequences (hypothesis, stateful): invariants and live == replay == projection.

A rule-based state machine plays a small world through the real game stack: the
``Actions`` parser, the ``Manager`` and its live world, and a sink that hands every
command straight to a ``World`` (POPO) - the same command objects the outbox would
deliver. After every step it checks the world's invariants on the live world (each
object in exactly one place, both sides of every link agree, no containment cycles,
players only in rooms); at the end of every sequence the live world, a replay of the
event log and the projection (in-memory view, caught up) must print identical JSON.

How the 10,000 sequences are reached: ``AETHYR_RANDOM_SEQUENCES`` examples per run
(default 10,000; sequences of at most 6 actions, a fixed seed via ``derandomize`` so CI
runs are reproducible). See ``docs/reliability.md`` for the measured time.
"""

from __future__ import annotations

import os

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aethyr_domain import passwords
from aethyr_domain.application import World
from aethyr_domain.decision import Decision
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.manager import Manager
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, world_from_dict

SEQUENCES = int(os.environ.get("AETHYR_RANDOM_SEQUENCES", "10000"))
ITEMS = ["blade", "cloak", "box"]
VERBS = ["get", "drop", "wear", "wield", "remove", "unwield", "look at"]


class WorldSink:
    """A CommandSink handing each decided command to a World at once (a refusal there,
    which would be a dead letter, fails the test)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def record(self, decision: Decision) -> None:
        self.world.handle(decision.command)

    def close(self) -> None:
        return None


class GameMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.app = World(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_threshold=3)
        self.manager = Manager(sink=WorldSink(self.app))
        self.actions = Actions(self.manager)
        self.admin = self.manager.add_player("Alice", "alice-pw-1").id
        self.manager.set_admin(self.admin, True)
        self.bob = self.manager.add_player("Bob", "bob-pw-12").id
        for name, cls in zip(ITEMS, ["Sword", "Shirt", "Container"], strict=True):
            self.do(self.admin, f"acreate {cls} {name}")

    def do(self, who: str, text: str) -> None:
        self.actions.perform(who, text)

    @rule(who=st.booleans(), verb=st.sampled_from(VERBS), item=st.sampled_from(ITEMS))
    def act(self, who: bool, verb: str, item: str) -> None:
        self.do(self.admin if who else self.bob, f"{verb} {item}")

    @rule(item=st.sampled_from(ITEMS), into=st.sampled_from(ITEMS))
    def put(self, item: str, into: str) -> None:
        self.do(self.bob, f"put {item} in {into}")

    @rule(item=st.sampled_from(ITEMS))
    def give(self, item: str) -> None:
        self.do(self.bob, f"give {item} to alice")

    @rule(text=st.text(min_size=1, max_size=20).filter(str.strip))
    def describe(self, text: str) -> None:
        self.do(self.admin, f"adesc here {text}")

    @rule(item=st.sampled_from(ITEMS))
    def delete(self, item: str) -> None:
        self.do(self.admin, f"adelete {item}")

    @invariant()
    def one_place_each(self) -> None:
        live = self.manager.state
        if not hasattr(self, "manager"):
            return
        seen: dict[str, str] = {}
        for holder, items in live.inventories.items():
            for item in items:
                assert item not in seen, f"{item} in {seen.get(item)} and {holder}"
                seen[item] = holder
                assert live.objects[item].container == holder
        for holder, slots in live.equipment.items():
            for layers in slots.values():
                for item in layers.values():
                    assert item not in seen
                    seen[item] = holder
                    assert live.objects[item].container == holder
        for oid, obj in live.objects.items():
            if obj.deleted:
                assert oid not in seen
            elif obj.container is not None:
                assert seen.get(oid) == obj.container
                assert not live.contains(oid, obj.container) or oid == obj.container
            if oid in live.players and obj.container is not None:
                assert obj.container in live.rooms

    def teardown(self) -> None:
        if not hasattr(self, "app"):
            return
        live = dumps(self.manager.state)
        assert dumps(rebuild_world_state(self.app)) == live
        view = MemoryWorldView()
        ProjectionService(self.app, view).catch_up(batch_size=50)
        assert dumps(world_from_dict(view.query(world_dict))) == live


@pytest.fixture(autouse=True)
def _cheap_hash(monkeypatch):
    # The Manager hashes with the production cost; a test needs many players quickly.
    monkeypatch.setattr(
        "aethyr_domain.game.accounts.hash_password", lambda pw: passwords.hash_password(pw, n=2)
    )


@pytest.mark.timeout(1500)  # ~4 min on an idle 2-core machine; twice that under load
def test_random_action_sequences():
    GameMachine.TestCase.settings = settings(
        max_examples=SEQUENCES,
        stateful_step_count=6,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    GameMachine.TestCase().runTest()
