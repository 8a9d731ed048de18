"""A scripted session of world changes, applied to a live world and a ``World``.

Each step is a command of :mod:`aethyr_domain.commands` (name, fields, actor):
:func:`play` executes it on the event-sourced ``World`` and loads the aggregates it
changed into the :class:`~aethyr_domain.game_state.GameState` (as the game's Manager
does with its Decider's aggregates). Afterwards the live world and the event log
describe the same state, so a projection (the read model's own event logic) or a
replay of the log must print the same ``world --json`` bytes as the live world.
"""

from __future__ import annotations

from typing import Any

from aethyr_domain import commands
from aethyr_domain.application import World
from aethyr_domain.game_state import GameState

FAST_ENV = {"SCRYPT_N": "1024"}

Step = tuple[str, dict[str, Any], str]

SETUP: list[Step] = [
    ("CreateRoom", {"id": "hall", "name": "Hall", "description": "A hall."}, "system"),
    ("CreateRoom", {"id": "library", "name": "Library", "description": "Books."}, "system"),
    ("AddRoomExit", {"id": "hall", "direction": "n", "target_room_id": "library"}, "system"),
    ("AddRoomExit", {"id": "library", "direction": "s", "target_room_id": "hall"}, "system"),
    ("CreatePlayer", {"id": "ada", "name": "Ada", "password": "ada-secret"}, "system"),
    ("UpdateGameObjectContainer", {"id": "ada", "container_id": "hall"}, "system"),
    ("UpdatePlayerAdminStatus", {"id": "ada", "admin": True}, "system"),
    ("CreatePlayer", {"id": "bob", "name": "Bob", "password": "bob-secret"}, "system"),
    ("UpdateGameObjectContainer", {"id": "bob", "container_id": "hall"}, "system"),
]

ACTIONS: list[Step] = [
    (
        "CreateGameObject",
        {"id": "sword", "name": "Excalibur", "generic": "sword", "container_id": "hall"},
        "ada",
    ),
    (
        "UpdateGameObjectAttributes",
        {"id": "sword", "attributes": {"attack": 10, "position": "wield"}},
        "ada",
    ),
    (
        "CreateGameObject",
        {"id": "bag", "name": "bag", "generic": "container", "container_id": "hall"},
        "ada",
    ),
    (
        "CreateGameObject",
        {"id": "shirt", "name": "shirt", "generic": "shirt", "container_id": "hall"},
        "ada",
    ),
    (
        "CreateGameObject",
        {"id": "armor", "name": "armor", "generic": "armor", "container_id": "hall"},
        "ada",
    ),
    (
        "CreateGameObject",
        {"id": "dagger", "name": "dagger", "generic": "dagger", "container_id": "library"},
        "ada",
    ),
    ("UpdateGameObjectContainer", {"id": "sword", "container_id": "ada"}, "ada"),
    ("EquipItem", {"id": "ada", "item_id": "sword", "slot": "right_wield"}, "ada"),
    ("AddItemToInventory", {"id": "ada", "item_id": "shirt"}, "ada"),
    ("EquipItem", {"id": "ada", "item_id": "shirt", "slot": "torso"}, "ada"),
    ("AddItemToInventory", {"id": "bob", "item_id": "bag", "position": (1, 2)}, "bob"),
    ("UpdateGameObjectAttribute", {"id": "bag", "key": "colour", "value": "red"}, "ada"),
    ("UpdateRoomDescription", {"id": "hall", "description": "A bright hall."}, "ada"),
    ("UpdateGameObjectContainer", {"id": "bob", "container_id": "library"}, "bob"),
    ("UpdateGameObjectContainer", {"id": "dagger", "container_id": "bag"}, "bob"),
    ("UpdateGameObjectContainer", {"id": "bag", "container_id": "library"}, "bob"),
    ("UnequipItem", {"id": "ada", "item_id": "shirt", "slot": "torso"}, "ada"),
    ("RemoveItemFromInventory", {"id": "ada", "item_id": "shirt"}, "ada"),
    (
        "CreateGameObject",
        {"id": "statue", "name": "statue", "generic": "prop", "container_id": "hall"},
        "ada",
    ),
    ("DeleteGameObject", {"id": "statue"}, "ada"),
    ("CreateRoom", {"id": "garden", "name": "Garden", "description": "Roses."}, "ada"),
    ("AddRoomExit", {"id": "library", "direction": "e", "target_room_id": "garden"}, "ada"),
    ("RemoveRoomExit", {"id": "hall", "direction": "north"}, "ada"),
    ("UpdatePlayerPassword", {"id": "bob", "password": "new-secret"}, "bob"),
]

SCRIPT: list[Step] = SETUP + ACTIONS


def command_of(step: Step) -> commands.Command:
    name, fields, actor = step
    command: commands.Command = getattr(commands, name)(**fields, actor=actor)
    return command


def play(world: World, live: GameState | None = None, steps: list[Step] = SCRIPT) -> GameState:
    """Run ``steps`` on ``world`` and on the live world; return the live world."""
    live = live if live is not None else GameState()
    for step in steps:
        recordings = world.handle(command_of(step))
        changed = dict.fromkeys(str(r.domain_event.originator_id) for r in recordings)
        live.update_from(world.repository.get(aggregate_id) for aggregate_id in changed)
    return live
