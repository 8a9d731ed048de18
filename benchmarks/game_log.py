"""A realistic, repeatable Aethyr event log for the replay and projection-lag scenarios.

:func:`play_actions` drives a :class:`~aethyr_domain.application.World` with the
commands the game sends (:mod:`aethyr_domain.commands`), chosen by a seeded
random generator from what is possible in the current state: rooms joined by
exits, players walking between them, items created in rooms, picked up,
dropped, put into bags, equipped and unequipped, attributes changed, room
descriptions rewritten. The same seed gives the same commands, so the same
log. :func:`game_log` plays until the log holds a number of events and returns
them as stored events, ready to be copied into any recorder with
``insert_events`` (the handlers run once, not once per backend).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

from eventsourcing.persistence import Recording, StoredEvent

from aethyr_domain import commands as c
from aethyr_domain.application import World
from aethyr_domain.equipment_slots import BODY_SLOTS
from aethyr_domain.errors import DomainError

#: Cheap password hashing for generated players (the minimum the World accepts).
#: Generation runs in memory with an unbounded aggregate cache (no reload per command).
FAST_ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "SCRYPT_N": "1024",
    "AGGREGATE_CACHE_MAXSIZE": "0",
}
SEED = 8
PLAYERS = 12
EVENTS_PER_ROOM = 400
SLOTS = ("left_wield", "right_wield", *BODY_SLOTS[:8])
WORDS = ("old", "rusty", "shiny", "heavy", "small", "elven", "bright", "dark", "plain", "red")
NOUNS = ("sword", "shield", "helmet", "cloak", "ring", "boots", "lantern", "apple", "scroll")
ATTRIBUTES = ("weight", "value", "condition", "long_desc", "glow", "charges")


class _Model:
    """What the generator knows about the world, to choose commands that make sense."""

    def __init__(self, rng: random.Random, prefix: str) -> None:
        self.rng = rng
        self.prefix = prefix
        self.rooms: list[str] = []
        self.room_index: dict[str, int] = {}
        self.players: list[str] = []
        self.where: dict[str, str] = {}  # player -> room
        self.room_items: dict[str, dict[str, None]] = {}  # room -> items lying there
        self.carried: dict[str, dict[str, None]] = {}  # player -> inventory items
        self.worn: dict[str, dict[str, str]] = {}  # player -> slot -> item
        self.bags: list[str] = []
        self.items: list[str] = []

    def pick(self, options: dict[str, None] | list[str]) -> str | None:
        values = list(options)
        return self.rng.choice(values) if values else None


def _setup(model: _Model, rooms: int) -> Iterator[c.Command]:
    p = model.prefix
    for i in range(rooms):
        room = f"{p}room-{i}"
        model.room_index[room] = len(model.rooms)
        model.rooms.append(room)
        model.room_items[room] = {}
        yield c.CreateRoom(room, f"Room {i}", f"Room number {i}, somewhere in the realm.")
    for i in range(1, rooms):
        yield c.AddRoomExit(model.rooms[i - 1], "east", model.rooms[i])
        yield c.AddRoomExit(model.rooms[i], "west", model.rooms[i - 1])
    for i in range(PLAYERS):
        player = f"{p}player-{i}"
        model.players.append(player)
        yield c.CreatePlayer(player, f"Player{i}", f"secret-{i}")
        room = model.rng.choice(model.rooms)
        yield c.UpdateGameObjectContainer(player, room, actor=player)
        model.where[player] = room
        model.carried[player] = {}
        model.worn[player] = {}


def _action(model: _Model, step: int) -> tuple[c.Command, object]:
    """One command and the model change to make if the world accepts it."""
    rng, p = model.rng, model.prefix
    player = rng.choice(model.players)
    room = model.where[player]
    roll = rng.random()
    if roll < 0.18 or not model.items:
        new_item = f"{p}item-{step}"
        is_bag = rng.random() < 0.1
        name = "bag" if is_bag else f"{rng.choice(WORDS)} {rng.choice(NOUNS)}"
        return c.CreateGameObject(
            new_item, name, "bag" if is_bag else name.split()[1], room, actor=player
        ), (
            "create",
            new_item,
            room,
            is_bag,
        )
    if roll < 0.36:
        index = model.room_index[room]
        east = index == 0 or (index + 1 < len(model.rooms) and rng.random() < 0.5)
        target = model.rooms[index + 1 if east else index - 1]
        return c.UpdateGameObjectContainer(player, target, actor=player), ("walk", player, target)
    if roll < 0.50:
        item = model.pick(model.room_items[room])
        if item is not None:
            return c.AddItemToInventory(player, item, actor=player), ("take", player, item)
    if roll < 0.58:
        item = model.pick(model.carried[player])
        if item is not None:
            return c.UpdateGameObjectContainer(item, room, actor=player), ("drop", player, item)
    if roll < 0.63:
        item = model.pick(model.carried[player])
        bag = model.pick([b for b in model.room_items[room] if b in model.bags])
        if item is not None and bag is not None and item not in model.bags:
            return c.UpdateGameObjectContainer(item, bag, actor=player), ("stow", player, item)
    if roll < 0.70:
        item = model.pick(model.carried[player])
        free = [s for s in SLOTS if s not in model.worn[player]]
        if item is not None and free and item not in model.bags:
            slot = rng.choice(free)
            if slot in ("left_wield", "right_wield") or "dual_wield" not in model.worn[player]:
                return c.EquipItem(player, item, slot, actor=player), ("equip", player, item, slot)
    if roll < 0.76 and model.worn[player]:
        slot = rng.choice(list(model.worn[player]))
        item = model.worn[player][slot]
        return c.UnequipItem(player, item, slot, actor=player), ("unequip", player, item, slot)
    if roll < 0.80:
        return c.UpdateRoomDescription(
            room, f"Room {room}, changed at step {step}.", actor=player
        ), None
    item = rng.choice(model.items)
    if roll < 0.92:
        key = rng.choice(ATTRIBUTES)
        return c.UpdateGameObjectAttribute(item, key, rng.randint(0, 1000), actor=player), None
    values = {key: rng.randint(0, 100) for key in rng.sample(ATTRIBUTES, 3)}
    return c.UpdateGameObjectAttributes(item, values, actor=player), None


def _apply(model: _Model, change: object) -> None:
    if not isinstance(change, tuple):
        return
    kind, *args = change
    if kind == "create":
        item, room, bag = args
        model.items.append(item)
        model.room_items[room][item] = None
        if bag:
            model.bags.append(item)
    elif kind == "walk":
        player, target = args
        model.where[player] = target
    elif kind == "take":
        player, item = args
        del model.room_items[model.where[player]][item]
        model.carried[player][item] = None
    elif kind == "drop":
        player, item = args
        del model.carried[player][item]
        model.room_items[model.where[player]][item] = None
    elif kind == "stow":
        player, item = args
        del model.carried[player][item]
    elif kind == "equip":
        player, item, slot = args
        del model.carried[player][item]
        model.worn[player][slot] = item
    elif kind == "unequip":
        player, item, slot = args
        del model.worn[player][slot]
        model.carried[player][item] = None


def setup_size(rooms: int) -> int:
    """How many set-up commands :func:`play_actions` sends before the actions."""
    return rooms + 2 * (rooms - 1) + 2 * PLAYERS


def play_commands(
    world: World, *, seed: int = SEED, rooms: int = 8, prefix: str = ""
) -> Iterator[tuple[c.Command, list[Recording[str]]]]:
    """Play endlessly on ``world``: each accepted command with what ``handle`` returned.

    Set-up first (:func:`setup_size` commands), then actions. A command the
    world refuses (a rule the model does not track, e.g. a wield conflict) is
    skipped. ``prefix`` goes before every id (so several games can share one
    read model or store).
    """
    model = _Model(random.Random(seed), prefix)
    for command in _setup(model, rooms):
        yield command, world.handle(command)
    step = 0
    while True:
        step += 1
        command, change = _action(model, step)
        try:
            recordings = world.handle(command)
        except DomainError:
            continue
        _apply(model, change)
        yield command, recordings


def play_actions(
    world: World, *, seed: int = SEED, rooms: int = 8, prefix: str = ""
) -> Iterator[list[Recording[str]]]:
    """Play endlessly on ``world``: set-up first (:func:`setup_size` commands), then actions.

    A generator: each item is what ``world.handle`` returned for one accepted
    command (its recordings, so the caller sees the notification ids), yielded
    right after the save; the caller stops when it has enough. ``prefix`` goes
    before every id (so several games can share one read model).
    """
    for _command, recordings in play_commands(world, seed=seed, rooms=rooms, prefix=prefix):
        yield recordings


@dataclasses.dataclass(frozen=True)
class AcceptedGame:
    """The seeded game's set-up and its first accepted actions (see :func:`accepted_commands`)."""

    setup: list[c.Command]
    setup_events: list[StoredEvent]  # what the set-up wrote, ready for ``insert_events``
    actions: list[c.Command]


def accepted_commands(
    actions: int, *, seed: int = SEED, rooms: int = 8, prefix: str = ""
) -> AcceptedGame:
    """The set-up commands (and their events) and the first ``actions`` accepted actions.

    Played once on an in-memory World, so every action in the list is one the
    world accepts when it is sent in order to a store holding the set-up's events.
    """
    world = World(env=FAST_ENV, snapshot_threshold=0)
    setup: list[c.Command] = []
    played: list[c.Command] = []
    try:
        game = play_commands(world, seed=seed, rooms=rooms, prefix=prefix)
        for _ in range(setup_size(rooms)):
            setup.append(next(game)[0])
        setup_events = stored_log(world)
        while len(played) < actions:
            played.append(next(game)[0])
    finally:
        world.close()
    return AcceptedGame(setup, setup_events, played)


def stored_log(world: World) -> list[StoredEvent]:
    """Every event in ``world``'s store, in log order, as stored events."""
    recorder = world.recorder
    stored: list[StoredEvent] = []
    position = 0
    while True:
        page = recorder.select_notifications(position, 1000, inclusive_of_start=False)
        stored.extend(
            StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in page
        )
        if len(page) < 1000:
            return stored
        position = page[-1].id


def game_log(events: int, *, seed: int = SEED) -> list[StoredEvent]:
    """At least ``events`` stored events of a played game, in log order (POPO, no snapshots)."""
    world = World(env=FAST_ENV, snapshot_threshold=0)
    recorder = world.recorder
    rooms = max(4, events // EVENTS_PER_ROOM)
    for _recordings in play_actions(world, seed=seed, rooms=rooms):
        if (recorder.max_notification_id() or 0) >= events:
            break
    return stored_log(world)
