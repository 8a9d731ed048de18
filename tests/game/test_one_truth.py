"""Issue 12's proof of "one rule set": random play, including admins typing arbitrary
values into every attribute a rule reads, never makes the game and its event log disagree.

A hypothesis state machine plays the whole event path the way ``aethyr-es play`` does:
:func:`~aethyr_domain.game.session.boot` with event sourcing on (the Decider and the live
world loaded from the store, the real outbox and its delivery thread, the in-process
projection), then the ``Actions`` parser as players and an admin type. The admin's
``aset``, ``acreate`` and ``adesc`` put arbitrary text on ``layer``, ``position``,
``movable``, ``is_container`` and the other attributes the verbs read: integers of any
size, booleans, decimals, ``nan``/``inf`` and overflowing ``1e400``, long and unusual
Unicode strings, slot names real and made up. After every sequence:

* zero dead letters (one writer: everything the game decided, the store accepted), and
* the live world, a replay of the event log and the projection print the same JSON,
  and so does the world loaded from the checkpoint the game saved at shutdown.

POPO by default (:data:`SEQUENCES` examples, ``AETHYR_ONE_TRUTH_SEQUENCES``); a shorter
run of the same machine on a real immudb (:data:`IMMUDB_SEQUENCES`,
``AETHYR_ONE_TRUTH_IMMUDB_SEQUENCES``), each example on a fresh database. ``derandomize``
keeps CI runs reproducible.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from aethyr_domain import values
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.checkpoint import load_world_from_checkpoint
from aethyr_domain.game.manager import Manager
from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import canonical_json, dumps

SEQUENCES = int(os.environ.get("AETHYR_ONE_TRUTH_SEQUENCES", "40"))
IMMUDB_SEQUENCES = int(os.environ.get("AETHYR_ONE_TRUTH_IMMUDB_SEQUENCES", "5"))

#: The objects every sequence starts with (class, name) and the words that find them.
OBJECTS = [
    ("Shirt", "a tunic"),
    ("Sword", "a blade"),
    ("Container", "a box"),
    ("Prop", "a statue"),
    ("Glove", "gloves"),
]
WORDS = ["tunic", "blade", "box", "statue", "gloves", "shirt", "sword", "thing", "me"]
#: Attributes a rule reads (the handlers: ``layer``; the verbs: the others).
RULE_KEYS = ["@layer", "@position", "@movable", "@is_container"]
#: Every attribute the machine sets: the rules', and some no rule reads.
KEYS = [
    *RULE_KEYS,
    "@alt_names",
    "@short_desc",
    "@long_desc",
    "@object_class",
    "@attack",
    "feel",
]
VERBS = ["get", "drop", "wear", "wield", "remove", "unwield", "look at", "aput", "adelete"]
#: Issue 14's verbs: doors (both sides in one command), posture, building.
WORLD_VERBS = [
    "open door",
    "close north",
    "shut south",
    "lock door",
    "unlock door",
    "north",
    "south",
    "sit",
    "stand",
    "pose leaning",
    "pose none",
    "gait strides",
    "gait none",
    "set desc A traveller.",
    "say hello",
]
ADMIN_VERBS = [
    "acdoor north",
    "acdoor east The Hall",
    "ahide {word}",
    "ashow {word}",
    "acomment {word} note",
    "ainfo set {word} stats.hp {value}",
    "ainfo delete {word} stats.hp",
    "terrain type {value}",
    "acprop fountain",
    "aset {word} @sittable true",
    "sit on {word}",
]

#: What an admin might type as a value (everything ``aset`` turns into a value).
typed_values = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats().map(repr),  # includes nan, inf, -0.0, 1e+300
    st.sampled_from(
        [
            "true",
            "false",
            "TRUE",
            "nan",
            "-inf",
            "Infinity",
            "1e400",
            "0",
            "1",
            "2",
            "4",
            "5",
            "-1",
            "2.0",
            str(values.MAX_INT),
            str(values.MAX_INT + 1),
            str(values.MIN_INT - 1),
            "1" * 5000,
            "torso",
            "hand",
            "wield",
            "head",
            "left_hand",
            "wing",
            "bad\udcffbytes",
        ]
    ),
    st.text(min_size=1, max_size=30),
    st.integers(min_value=values.MAX_STRING - 1, max_value=values.MAX_STRING + 1).map(
        lambda n: "\U0001d11e" * n
    ),
)
#: Names and descriptions an admin might type.
typed_text = st.one_of(
    st.text(min_size=1, max_size=40),
    st.integers(min_value=values.MAX_STRING - 1, max_value=values.MAX_STRING + 1).map(
        lambda n: "\u00e9" * n
    ),
)


class OneTruth(RuleBasedStateMachine):
    """The game on a fresh store; :meth:`open_store` says which."""

    #: Returns (config, World) for a fresh store in ``directory``.
    open_store: Callable[[str], tuple[ServerConfig, Any]]

    @initialize()
    def setup(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="one-truth-", dir=_MEMORY_DIR)
        self.config, self.app = type(self).open_store(self.directory)
        self.manager: Manager = boot(self.config, world=self.app)
        self.actions = Actions(self.manager)
        self.admin = self.manager.add_player("Alice", "alice-pw-1").id
        self.manager.set_admin(self.admin, True)
        self.bob = self.manager.add_player("Bob", "bob-pw-12").id
        for cls, name in OBJECTS:
            self.do(self.admin, f"acreate {cls} {name}")
        self.do(self.admin, "acroom north The Hall")

    def do(self, who: str, text: str) -> None:
        self.actions.perform(who, text)  # refusals are messages; a bug would raise

    @rule(who=st.booleans(), verb=st.sampled_from(VERBS), word=st.sampled_from(WORDS))
    def act(self, who: bool, verb: str, word: str) -> None:
        if verb == "aput":
            self.do(self.admin, f"aput {word} in {'here' if who else 'me'}")
        else:
            self.do(self.admin if who else self.bob, f"{verb} {word}")

    @rule(who=st.booleans(), text=st.sampled_from(WORLD_VERBS))
    def world_verb(self, who: bool, text: str) -> None:
        self.do(self.admin if who else self.bob, text)

    @rule(text=st.sampled_from(ADMIN_VERBS), word=st.sampled_from(WORDS), value=typed_values)
    def admin_verb(self, text: str, word: str, value: str) -> None:
        self.do(self.admin, text.format(word=word, value=value))

    @rule(word=st.sampled_from(WORDS), into=st.sampled_from(WORDS))
    def put(self, word: str, into: str) -> None:
        self.do(self.bob, f"put {word} in {into}")

    @rule(word=st.sampled_from(WORDS))
    def give(self, word: str) -> None:
        self.do(self.bob, f"give {word} to alice")

    @rule(word=st.sampled_from(WORDS), key=st.sampled_from(KEYS), value=typed_values)
    def aset(self, word: str, key: str, value: str) -> None:
        self.do(self.admin, f"aset {word} {key} {value}")

    @rule(word=st.sampled_from(WORDS[:5]), key=st.sampled_from(RULE_KEYS), value=typed_values)
    def aset_then_use(self, word: str, key: str, value: str) -> None:
        """Set an attribute a rule reads, then have both players use the object every
        way that reads it."""
        self.do(self.admin, f"aset {word} {key} {value}")
        for who in (self.admin, self.bob):
            for verb in ("get", "wear", "wield", "remove", "unwield"):
                self.do(who, f"{verb} {word}")
            self.do(who, f"put blade in {word}")
            self.do(who, f"get blade from {word}")
            self.do(who, f"drop {word}")

    @rule(cls=st.sampled_from([cls for cls, _ in OBJECTS]), name=typed_text)
    def acreate(self, cls: str, name: str) -> None:
        self.do(self.admin, f"acreate {cls} {name}")

    @rule(word=st.sampled_from(["here", *WORDS]), text=typed_text)
    def adesc(self, word: str, text: str) -> None:
        self.do(self.admin, f"adesc {word} {text}")

    def teardown(self) -> None:
        if not hasattr(self, "manager"):
            return
        try:
            sink: Any = self.manager.sink
            assert sink.drain(60), sink.deliverer.last_error
            assert dead_letters(self.manager) == []
            live = dumps(self.manager.state)
            assert dumps(rebuild_world_state(self.app)) == live
            service = self.manager.projection
            service.wait(self.app.recorder.max_notification_id(), timeout=60)
            assert canonical_json(service.view.query(world_dict)) == live
            # The checkpoint saved at shutdown is the same world again.
            self.manager.close()
            _aggregates, from_checkpoint, loaded = load_world_from_checkpoint(
                self.app, self.config.checkpoint_file
            )
            assert loaded.from_checkpoint, loaded.reason
            assert dumps(from_checkpoint) == live
        finally:
            self.manager.close()
            self.app.close()
            shutil.rmtree(self.directory, ignore_errors=True)


#: The outbox's files in memory when the system has a tmpfs (its fsyncs cost nothing there).
_MEMORY_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def dead_letters(manager: Manager) -> list[Any]:
    """The outbox's dead letters (what the store refused of what the game decided)."""
    sink: Any = manager.sink
    return list(sink.outbox.dead_letters())


def _run(machine: type[OneTruth], examples: int, steps: int) -> None:
    machine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()


def _game_config(directory: str, **store: Any) -> ServerConfig:
    return ServerConfig(
        event_sourcing_enabled=True,
        outbox_path=os.path.join(directory, "outbox.sqlite"),
        outbox_poll_interval=0.01,
        outbox_drain_timeout=60.0,
        **store,
    )


@pytest.fixture(autouse=True)
def _cheap_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Manager hashes with the production cost; every example adds two players.
    from aethyr_domain import passwords

    monkeypatch.setattr(
        "aethyr_domain.game.accounts.hash_password", lambda pw: passwords.hash_password(pw, n=2)
    )


def test_random_play_on_popo_keeps_the_game_and_the_log_in_step() -> None:
    class OnPopo(OneTruth):
        @staticmethod
        def open_store(directory: str) -> tuple[ServerConfig, Any]:
            config = _game_config(directory, event_store="popo")
            return config, open_world(config)

    _run(OnPopo, SEQUENCES, steps=10)


@pytest.mark.immudb
def test_random_play_on_immudb_keeps_the_game_and_the_log_in_step(immudb_server) -> None:
    from tests.immudb_harness import fresh_database

    class OnImmudb(OneTruth):
        @staticmethod
        def open_store(directory: str) -> tuple[ServerConfig, Any]:
            config = _game_config(
                directory,
                event_store="immudb",
                immudb_address=immudb_server.host,
                immudb_port=immudb_server.port,
                immudb_database=fresh_database("truth"),
                immudb_state_file=os.path.join(directory, "immudb-state.json"),
            )
            return config, open_world(config)

    _run(OnImmudb, IMMUDB_SEQUENCES, steps=8)
