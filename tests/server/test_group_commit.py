"""Group commit (:mod:`aethyr_domain.game.group_commit`): the actions of one group are
decided in order and written in ONE transaction before their replies.

Flag on, the writes go to a real outbox file (its delivery thread is not started, so
the entries stay there to be read); flag off, to a real storage file. A failed write
is a real SQLite error: a trigger in the file refuses one row of the group.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

import pytest

from aethyr_domain import commands, passwords
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.group_commit import UNSAVED_MESSAGE, GroupCommit, perform_group
from aethyr_domain.game.manager import Manager
from aethyr_domain.game.storage import WorldStorage, load_aggregates
from aethyr_domain.game_state import GameState
from aethyr_domain.object_classes import lookup
from aethyr_domain.outbox.delivery import Deliverer
from aethyr_domain.outbox.event_sink import OutboxSink, default_mapper
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.read.world_dump import dumps

NAMES = ("ann", "bob", "cyd")
HASH = passwords.hash_password("group-pw", n=2**4)


def _ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def seed(manager: Manager) -> dict[str, str]:
    """Three players in the start room, each with a pebble; name -> player id."""
    prop = lookup("Prop")
    assert prop is not None
    players = {}
    for name in NAMES:
        pid = manager.new_id()
        manager._change(commands.CreatePlayer, "system", id=pid, name=name, password_hash=HASH)
        manager.connect_player(pid)
        manager.create_object(
            prop,
            manager.ensure_start_room().id,
            name=f"pebble-{name}",
            vars={"movable": True},
        )
        players[name] = pid
    return players


class OnGame:
    """Flag on: a Manager writing to a real outbox (delivery not started)."""

    def __init__(self, path: Any) -> None:
        self.outbox = Outbox(path)
        config = ServerConfig(event_sourcing_enabled=True)
        mapper = default_mapper()
        # Never started, so no World is ever opened: the factory is never called.
        deliverer = Deliverer(self.outbox, config, lambda: None)  # type: ignore[arg-type,return-value]
        self.sink = OutboxSink(self.outbox, deliverer, mapper)
        self.manager = Manager(config=config, sink=self.sink, new_id=_ids())
        self.actions = Actions(self.manager)
        self.players = seed(self.manager)

    def entries(self) -> list[tuple[str, str, tuple[tuple[str, int, str], ...]]]:
        """Every pending entry: command, actor and its events' (id, version, topic)."""
        return [
            (
                e.command,
                e.actor,
                tuple((v.originator_id, v.originator_version, v.topic) for v in e.events or ()),
            )
            for e in self.outbox.pending(10_000)
        ]

    def requests(self, script: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(self.players[name], line) for name, line in script]


def refuse_rows(path: Any, table: str, column: str, value: str) -> sqlite3.Connection:
    """A trigger that makes SQLite refuse to insert a row whose ``column`` is ``value``."""
    db = sqlite3.connect(path, isolation_level=None)
    name = "refuse_" + "".join(c if c.isalnum() else "_" for c in value)
    db.execute(
        f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN NEW.{column} = '{value}'"
        " BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
    )
    return db


SCRIPT = [
    ("ann", "look"),
    ("ann", "get pebble-ann"),
    ("bob", "get pebble-ann"),  # refused: ann took it
    ("cyd", "get pebble-cyd"),
    ("bob", "inventory"),
    ("ann", "drop pebble-ann"),
    ("bob", "get pebble-ann"),
    ("cyd", "north"),  # refused: no exit
]


def test_a_group_writes_what_one_by_one_writes_in_the_same_order(tmp_path):
    grouped, single = OnGame(tmp_path / "grouped.sqlite"), OnGame(tmp_path / "single.sqlite")
    assert grouped.entries() == single.entries()  # the same seeded world
    before = len(grouped.entries())
    replies = perform_group(grouped.manager, grouped.actions, grouped.requests(SCRIPT))
    outputs = [single.actions.perform(pid, line) for pid, line in single.requests(SCRIPT)]
    assert [r.output for r in replies] == outputs
    assert all(r.error is None for r in replies)
    assert grouped.entries() == single.entries()
    new = grouped.entries()[before:]
    # one entry per accepted action, in the order of the actions; refusals wrote nothing
    assert [actor for _c, actor, _e in new] == [
        grouped.players[name] for name in ("ann", "cyd", "ann", "bob")
    ]
    assert "There is no pebble-ann here." in replies[2].output[0][1]
    assert dumps(grouped.manager.state) == dumps(single.manager.state)


def test_refused_and_read_only_actions_write_nothing_and_are_answered_at_once(tmp_path):
    game = OnGame(tmp_path / "outbox.sqlite")
    before = game.entries()
    seen: list[Any] = []
    script = [("ann", "look"), ("bob", "get nothing"), ("cyd", "north"), ("ann", "inventory")]
    replies = perform_group(
        game.manager,
        game.actions,
        game.requests(script),
        ready=lambda index, reply: seen.append(index),
        after_commit=lambda n: seen.append("flushed"),
    )
    assert game.entries() == before
    assert seen == [0, 1, 2, 3]  # nothing to flush: every reply went out at once
    assert "There is no nothing here." in replies[1].output[0][1]


def test_replies_after_the_first_change_wait_for_the_flush(tmp_path):
    game = OnGame(tmp_path / "outbox.sqlite")
    seen: list[Any] = []
    script = [("bob", "look"), ("ann", "get pebble-ann"), ("bob", "look"), ("cyd", "inventory")]
    perform_group(
        game.manager,
        game.actions,
        game.requests(script),
        ready=lambda index, reply: seen.append(index),
        after_commit=lambda n: seen.append(("flushed", n)),
    )
    assert seen == [0, ("flushed", 4), 1, 2, 3]


def _state(game: Any) -> tuple[str, dict[str, Any], set[str]]:
    return (
        dumps(game.manager.state),
        dict(game.manager.decider.aggregates),
        set(game.manager.online),
    )


def test_a_failed_write_tells_no_one_success_and_undoes_the_group(tmp_path):
    path = tmp_path / "outbox.sqlite"
    game = OnGame(path)
    refuse_rows(path, "entries", "actor", game.players["cyd"]).close()
    entries_before = game.entries()
    world_before, aggregates_before, online_before = _state(game)
    script = [
        ("bob", "look"),  # before any change: answered at once, from the durable state
        ("ann", "get pebble-ann"),
        ("bob", "get pebble-bob"),
        ("cyd", "get pebble-cyd"),  # its entry is refused: the whole group is not written
        ("ann", "quit"),
    ]
    replies = perform_group(game.manager, game.actions, game.requests(script))
    assert "[The Starting Room]" in replies[0].output[0][1]
    for reply, (name, _line) in zip(replies[1:], script[1:], strict=True):
        assert reply.output == [(game.players[name], UNSAVED_MESSAGE)]
    assert game.entries() == entries_before  # one transaction: none of the group's entries
    world_after, aggregates_after, online_after = _state(game)
    assert world_after == world_before
    assert online_after == online_before
    assert aggregates_after.keys() == aggregates_before.keys()
    assert all(aggregates_after[k] is aggregates_before[k] for k in aggregates_before)
    rebuilt = GameState()
    rebuilt.update_from(game.manager.decider.aggregates.values())
    assert dumps(rebuilt) == world_after
    # The game goes on from the durable state: the same actions without cyd's now
    # write exactly what a game that never saw the failed group writes.
    fresh = OnGame(tmp_path / "fresh.sqlite")
    again = [("ann", "get pebble-ann"), ("bob", "get pebble-bob")]
    perform_group(game.manager, game.actions, game.requests(again))
    perform_group(fresh.manager, fresh.actions, fresh.requests(again))
    assert game.entries() == fresh.entries()
    assert dumps(game.manager.state) == dumps(fresh.manager.state)


def test_a_failed_write_undoes_objects_the_group_created(tmp_path):
    path = tmp_path / "outbox.sqlite"
    game = OnGame(path)
    game.manager.set_admin(game.players["ann"], True)
    refuse_rows(path, "entries", "actor", game.players["bob"]).close()
    world_before, _aggregates, _online = _state(game)
    script = [("ann", "acreate Prop lantern"), ("ann", "acroom east Cellar"), ("bob", "get x")]
    replies = perform_group(game.manager, game.actions, game.requests(script))
    # bob's refusal wrote nothing, so ann's creations are written: no failure here
    assert "Created lantern" in replies[0].output[0][1]
    refuse_rows(path, "entries", "actor", game.players["ann"]).close()  # now ann's fail
    world_mid, aggregates_mid, _online = _state(game)
    assert world_mid != world_before
    replies = perform_group(
        game.manager, game.actions, game.requests([("ann", "acroom west Attic")])
    )
    assert replies[0].output == [(game.players["ann"], UNSAVED_MESSAGE)]
    world_after, aggregates_after, _online = _state(game)
    assert world_after == world_mid
    assert aggregates_after == aggregates_mid
    assert game.manager.state.find_room("Attic") is None


def test_flag_off_a_group_is_one_storage_transaction_or_nothing(tmp_path):
    path = tmp_path / "world.sqlite"
    storage = WorldStorage(path)
    manager = Manager(config=ServerConfig(storage_path=str(path)), new_id=_ids())
    manager.storage = storage
    actions = Actions(manager)
    players = seed(manager)
    pebble = {n: manager.find(f"pebble-{n}", [manager.ensure_start_room().id]) for n in NAMES}
    script = [(players["ann"], "get pebble-ann"), (players["cyd"], "get pebble-cyd")]
    replies = perform_group(manager, actions, script)
    assert "You take pebble-ann." in replies[0].output[0][1]
    stored = load_aggregates(path)
    assert list(stored[players["ann"]].inventory) == [pebble["ann"].id]  # type: ignore[union-attr]
    # A refused row fails the whole group: nothing of it is in the file or in memory.
    refuse_rows(path, "aggregates", "id", players["bob"]).close()
    world_before = dumps(manager.state)
    script = [(players["ann"], "drop pebble-ann"), (players["bob"], "get pebble-bob")]
    replies = perform_group(manager, actions, script)
    assert [r.output[0][1] for r in replies] == [UNSAVED_MESSAGE] * 2
    assert dumps(manager.state) == world_before
    reloaded = Manager(config=manager.config)
    reloaded.decider.aggregates.update(load_aggregates(path))
    reloaded.state.update_from(reloaded.decider.aggregates.values())
    assert dumps(reloaded.state) == world_before
    storage.close()


def test_group_commit_run_writes_one_call_or_undoes_it(tmp_path):
    path = tmp_path / "outbox.sqlite"
    game = OnGame(path)
    before = len(game.entries())
    GroupCommit(game.manager).run(game.manager.set_admin, game.players["bob"], True)
    assert len(game.entries()) == before + 1
    refuse_rows(path, "entries", "actor", "system").close()
    world_before = dumps(game.manager.state)
    with pytest.raises(sqlite3.IntegrityError, match="injected write failure"):
        GroupCommit(game.manager).run(game.manager.set_admin, game.players["cyd"], True)
    assert dumps(game.manager.state) == world_before
    assert not game.manager.is_admin(game.players["cyd"])
    assert len(game.entries()) == before + 1
