"""Random game action sequences (hypothesis, stateful): invariants and live == replay == projection.

A rule-based state machine plays a small world through the real game stack: the
``Actions`` parser, the ``Manager`` and its live world, and a sink that hands every
command straight to a ``World`` (POPO) - the same command objects the outbox would
deliver. After every step it checks the world's invariants on the live world (each
object in exactly one place, both sides of every link agree, no containment cycles,
players only in rooms); at the end of every sequence the live world, a replay of the
event log and the projection (in-memory view, caught up) must print identical JSON.

How the 10,000 sequences are reached: ``AETHYR_RANDOM_SEQUENCES`` sequences in all
(default 10,000; each the opening and at most 5 random actions: hypothesis counts
the opening as one of its ``stateful_step_count=6`` steps), played in :data:`SHARDS` shards of equal
size, one test per shard in its own module (``test_random_sequences.py`` and
``test_shard2_random_sequences.py``, named so that other modules sort between the two):
``scripts/test`` plays them one after the other in its one process, but a run in two
pytest-xdist workers (``-n 2 --dist loadfile``, which keeps a module on one worker) can
play the two at once. Each shard has
its own fixed hypothesis seed (:data:`SEEDS`), so every run plays the same sequences
(reproducible, as with ``derandomize``) and the shards do not repeat each other (in a
2 x 1,000 sample, 3% of one shard's sequences also came up in the other). See
``docs/reliability.md`` for the measured time.
"""

from __future__ import annotations

import os
import pickle

import hypothesis.strategies as st
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

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

#: The number of sequences in all shards together.
SEQUENCES = int(os.environ.get("AETHYR_RANDOM_SEQUENCES", "10000"))
#: The shards' hypothesis seeds, one per shard (and test module).
SEEDS = (1, 2)
SHARDS = len(SEEDS)
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


class Opening:
    """The starting world every sequence plays from, played once per test run.

    The opening (two players, Alice made admin, three objects made by ``acreate``) goes
    through the same stack as every sequence's steps: ``Actions`` -> ``Manager`` ->
    ``WorldSink`` -> a POPO ``World``. It is the same for every sequence, so it is
    played once and each sequence starts from a copy: a fresh POPO ``World`` holding
    the opening's stored events and snapshots, and a copy of the Manager (its Decider's
    aggregates and its game state). Playing it 10,000 times cost about half
    of this test's time and checked nothing new; each sequence's replay and projection
    still start from the opening's events, so the end-of-sequence check covers them.
    """

    def __init__(self) -> None:
        app = new_world()
        manager = Manager(sink=WorldSink(app))
        actions = Actions(manager)
        self.admin = manager.add_player("Alice", "alice-pw-1").id
        manager.set_admin(self.admin, True)
        self.bob = manager.add_player("Bob", "bob-pw-12").id
        for name, cls in zip(ITEMS, ["Sword", "Shirt", "Container"], strict=True):
            actions.perform(self.admin, f"acreate {cls} {name}")
        notifications = app.recorder.select_notifications(start=1, limit=10_000)
        self.events = [as_stored(n) for n in notifications]
        ids = dict.fromkeys(str(n.originator_id) for n in notifications)
        assert app.snapshots is not None
        snapshots = app.snapshots.recorder
        self.snapshots = [s for oid in ids for s in snapshots.select_events(oid)]
        manager.sink = None
        #: The Manager, pickled: unpickling a copy takes a tenth of ``copy.deepcopy``'s time.
        self.manager = pickle.dumps(manager)

    def world(self) -> tuple[World, Manager]:
        """A fresh ``World`` holding the opening's events and a Manager copied for it."""
        app = new_world()
        app.recorder.insert_events(self.events)
        assert app.snapshots is not None
        app.snapshots.recorder.insert_events(self.snapshots)
        manager: Manager = pickle.loads(self.manager)
        manager.sink = WorldSink(app)
        return app, manager


def new_world() -> World:
    """An empty in-memory World snapshotting every 3 events (so snapshots are exercised)."""
    return World(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_threshold=3)


def as_stored(notification: StoredEvent) -> StoredEvent:
    """A notification as the plain stored event an insert takes."""
    return StoredEvent(
        originator_id=notification.originator_id,
        originator_version=notification.originator_version,
        topic=notification.topic,
        state=notification.state,
    )


class GameMachine(RuleBasedStateMachine):
    #: Set by the test before the machine runs (played under its cheap password hash).
    opening: Opening

    @initialize()
    def setup(self) -> None:
        self.app, self.manager = self.opening.world()
        self.actions = Actions(self.manager)
        self.admin = self.opening.admin
        self.bob = self.opening.bob

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
        if not hasattr(self, "manager"):
            return
        live = self.manager.state
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


def shard_size(shard: int, total: int = SEQUENCES) -> int:
    """How many of the ``total`` sequences shard ``shard`` (0-based) plays: an equal
    share, the first shards one more each while a remainder lasts."""
    share, remainder = divmod(total, SHARDS)
    return share + (1 if shard < remainder else 0)


def play_shard(shard: int) -> None:
    """Play shard ``shard`` (0-based) of the sequences: its share of them, with its seed.

    Password hashing is made cheap for the run (the Manager hashes with the production
    cost; the opening creates two players).
    """
    machine: type[GameMachine] = type(f"GameMachineShard{shard + 1}", (GameMachine,), {})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "aethyr_domain.game.accounts.hash_password",
            lambda pw: passwords.hash_password(pw, n=2),
        )
        machine.opening = Opening()
        run_state_machine_as_test(
            seed(SEEDS[shard])(machine),
            settings=settings(
                max_examples=shard_size(shard),
                stateful_step_count=6,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
