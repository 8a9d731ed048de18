"""Every command on a POPO world: the happy path and each rejection.

Rejections are checked with :func:`refuse`, which also asserts that the
recorder's ``max_notification_id`` did not move (nothing was written).
"""

from __future__ import annotations

import pytest

from aethyr_domain import commands as c
from aethyr_domain.application import World
from aethyr_domain.errors import (
    AlreadyExistsError,
    InvalidCommandError,
    InvariantViolationError,
    NotFoundError,
    ObjectDeletedError,
    WrongKindError,
)
from aethyr_domain.player import Player
from aethyr_domain.room import Room

from .conftest import refuse


def topics(world: World, start: int = 1) -> list[str]:
    return [
        n.topic.rsplit(":", 1)[-1]
        for n in world.recorder.select_notifications(start=start, limit=1000)
    ]


@pytest.fixture
def town(world: World) -> World:
    """Two rooms joined north/south, a player Bob in the square with a bag."""
    world.handle(c.CreateRoom("square", "The Square", "A quiet square."))
    world.handle(c.CreateRoom("hall", "The Hall", "A long hall."))
    world.handle(c.AddRoomExit("square", "n", "hall"))
    world.handle(c.AddRoomExit("hall", "s", "square"))
    world.handle(c.CreatePlayer("bob", "Bob", "secret-1"))
    world.handle(c.UpdateGameObjectContainer("bob", "square", actor="bob"))
    world.handle(c.CreateGameObject("bag", "a bag", "bag", container_id="bob"))
    return world


# ---------------------------------------------------------------- CreateGameObject


def test_create_game_object(world: World) -> None:
    recs = world.handle(c.CreateGameObject("rock", "a rock", "rock", actor="admin"))
    assert [r.notification.id for r in recs] == [1]
    rock = world.get("rock")
    assert (rock.name, rock.generic, rock.container_id, rock.deleted) == (
        "a rock",
        "rock",
        None,
        False,
    )
    assert recs[0].domain_event.actor == "admin"  # type: ignore[attr-defined]


def test_create_game_object_inside_a_holder_is_atomic(town: World) -> None:
    start = town.recorder.max_notification_id() or 0
    recs = town.handle(c.CreateGameObject("coin", "a coin", "coin", container_id="bag"))
    assert len({r.notification.id for r in recs}) == 3
    assert sorted(topics(town, start + 1)) == [
        "GameObjectContainerUpdated",
        "GameObjectCreated",
        "ItemAddedToInventory",
    ]
    assert town.get("coin").container_id == "bag"
    assert "coin" in town.get("bag").inventory


def test_create_twice_is_refused(town: World) -> None:
    refuse(town, c.CreateGameObject("bag", "bag", "bag"), AlreadyExistsError)
    refuse(town, c.CreateRoom("square", "x", ""), AlreadyExistsError)
    refuse(town, c.CreatePlayer("bob", "Robert", "secret-1"), AlreadyExistsError)


def test_create_in_missing_or_deleted_or_wrong_holder(town: World) -> None:
    refuse(town, c.CreateGameObject("x", "x", "x", container_id="nope"), NotFoundError)
    town.handle(c.CreateGameObject("box", "box", "box"))
    town.handle(c.DeleteGameObject("box"))
    refuse(town, c.CreateGameObject("x", "x", "x", container_id="box"), ObjectDeletedError)
    # the id of a deleted object stays used
    refuse(town, c.CreateGameObject("box", "box", "box"), AlreadyExistsError)


# ---------------------------------------------------------------- attributes


def test_update_attribute_and_attributes(town: World) -> None:
    town.handle(c.UpdateGameObjectAttribute("bag", "long_desc", "A worn bag."))
    town.handle(c.UpdateGameObjectAttribute("bag", "tags", ["old", {"x": 1}]))
    town.handle(c.UpdateGameObjectAttributes("bag", {"weight": 2, "long_desc": "New."}))
    assert town.get("bag").attributes == {
        "long_desc": "New.",
        "tags": ["old", {"x": 1}],
        "weight": 2,
    }


def test_update_attribute_rejections(town: World) -> None:
    refuse(town, c.UpdateGameObjectAttribute("nope", "k", 1), NotFoundError)
    refuse(town, c.UpdateGameObjectAttributes("nope", {"k": 1}), NotFoundError)
    town.handle(c.DeleteGameObject("bag"))
    refuse(town, c.UpdateGameObjectAttribute("bag", "k", 1), ObjectDeletedError)
    refuse(town, c.UpdateGameObjectAttributes("bag", {"k": 1}), ObjectDeletedError)


# ---------------------------------------------------------------- containers


def test_update_container_moves_atomically(town: World) -> None:
    start = town.recorder.max_notification_id() or 0
    town.handle(c.UpdateGameObjectContainer("bag", "square"))
    assert sorted(topics(town, start + 1)) == [
        "GameObjectContainerUpdated",
        "ItemAddedToInventory",
        "ItemRemovedFromInventory",
    ]
    assert "bag" not in town.get("bob").inventory
    assert "bag" in town.get("square").inventory
    assert town.get("bag").container_id == "square"


def test_update_container_to_nowhere_and_noop(town: World) -> None:
    assert town.handle(c.UpdateGameObjectContainer("bag", "bob")) == []
    town.handle(c.UpdateGameObjectContainer("bag", None))
    assert town.get("bag").container_id is None
    assert "bag" not in town.get("bob").inventory


def test_player_moves_between_rooms(town: World) -> None:
    town.handle(c.UpdateGameObjectContainer("bob", "hall", actor="bob"))
    assert town.get("bob").container_id == "hall"
    assert "bob" in town.get("hall").inventory
    assert "bob" not in town.get("square").inventory


def test_container_rejections(town: World) -> None:
    town.handle(c.CreateGameObject("box", "a box", "box", container_id="bag"))
    refuse(town, c.UpdateGameObjectContainer("bag", "bag"), InvariantViolationError)
    refuse(town, c.UpdateGameObjectContainer("bag", "box"), InvariantViolationError)
    refuse(town, c.UpdateGameObjectContainer("square", "bob"), InvariantViolationError)
    refuse(town, c.UpdateGameObjectContainer("bob", "bag"), InvariantViolationError)
    refuse(town, c.AddItemToInventory("box", "bob"), InvariantViolationError)
    refuse(town, c.AddItemToInventory("bob", "hall"), InvariantViolationError)
    refuse(town, c.UpdateGameObjectContainer("nope", "bag"), NotFoundError)
    refuse(town, c.UpdateGameObjectContainer("bag", "nope"), NotFoundError)


# ---------------------------------------------------------------- delete


def test_delete_rehomes_contents_to_the_containing_room(town: World) -> None:
    town.handle(c.CreateGameObject("coin", "a coin", "coin", container_id="bag"))
    town.handle(c.CreateGameObject("hat", "a hat", "hat", container_id="bob"))
    town.handle(c.EquipItem("bob", "hat", "head"))
    start = town.recorder.max_notification_id() or 0
    recs = town.handle(c.DeleteGameObject("bob", actor="admin"))
    # one save: consecutive notification ids
    ids = [r.notification.id for r in recs]
    assert ids == list(range(start + 1, start + 1 + len(ids)))
    square = town.get("square")
    assert set(square.inventory) == {"bag", "hat"}
    assert town.get("hat").container_id == "square"
    assert town.get("hat").slot is None
    assert town.get("bag").container_id == "square"
    assert town.get("coin").container_id == "bag"  # nested contents stay nested
    bob = town.get("bob")
    assert bob.deleted and bob.container_id is None
    assert bob.inventory == {} and bob.equipment == {}
    assert town.find_player_id("bob") is None


def test_delete_bag_puts_contents_in_room(town: World) -> None:
    town.handle(c.CreateGameObject("coin", "a coin", "coin", container_id="bag"))
    town.handle(c.DeleteGameObject("bag"))
    assert town.get("coin").container_id == "square"
    assert set(town.get("bob").inventory) == set()
    assert "coin" in town.get("square").inventory


def test_delete_object_in_no_room_leaves_contents_nowhere(world: World) -> None:
    world.handle(c.CreateGameObject("chest", "chest", "chest"))
    world.handle(c.CreateGameObject("gem", "gem", "gem", container_id="chest"))
    world.handle(c.DeleteGameObject("chest"))
    assert world.get("gem").container_id is None


def test_delete_room_removes_exits_both_ways_and_contents(town: World) -> None:
    town.handle(c.AddRoomExit("square", "up", "square"))  # a loop
    town.handle(c.DeleteGameObject("square"))
    hall = town.get("hall")
    assert isinstance(hall, Room)
    assert hall.exits == {} and hall.entrances == {}
    square = town.get("square")
    assert isinstance(square, Room)
    assert square.exits == {} and square.entrances == {} and square.inventory == {}
    bob = town.get("bob")
    assert bob.container_id is None
    refuse(town, c.AddRoomExit("hall", "s", "square"), ObjectDeletedError)
    refuse(town, c.UpdateGameObjectContainer("bob", "square"), ObjectDeletedError)


def test_deleted_accepts_nothing(town: World) -> None:
    town.handle(c.DeleteGameObject("bag"))
    for cmd in (
        c.DeleteGameObject("bag"),
        c.UpdateGameObjectContainer("bag", "square"),
        c.AddItemToInventory("bag", "bob"),
        c.AddItemToInventory("bob", "bag"),
        c.RemoveItemFromInventory("bob", "bag"),
        c.EquipItem("bob", "bag", "waist"),
    ):
        refuse(town, cmd, ObjectDeletedError)
    town.handle(c.DeleteGameObject("bob"))
    for cmd2 in (
        c.UpdatePlayerPassword("bob", "another-1"),
        c.UpdatePlayerAdminStatus("bob", True),
    ):
        refuse(town, cmd2, ObjectDeletedError)
    with pytest.raises(ObjectDeletedError):
        town.check_password("bob", "secret-1")


def test_delete_missing(world: World) -> None:
    refuse(world, c.DeleteGameObject("ghost"), NotFoundError)


# ---------------------------------------------------------------- players


def test_create_player_emits_two_events_and_claims_the_name(world: World) -> None:
    recs = world.handle(c.CreatePlayer("p-1", "Alice", "secret-1", actor="system"))
    assert [type(r.domain_event).__name__ for r in recs] == [
        "PlayerNameClaimed",
        "GameObjectCreated",
        "PlayerCreated",
    ]
    alice = world.get("p-1")
    assert isinstance(alice, Player)
    assert alice.generic == "player" and alice.admin is False
    assert alice.password_hash.startswith("scrypt$")
    assert "secret-1" not in alice.password_hash
    assert "secret-1" not in repr(alice) and alice.password_hash not in repr(alice)
    assert world.find_player_id("ALICE") == "p-1"
    assert world.find_player_id("nobody") is None


def test_player_names_are_unique_case_insensitively(world: World) -> None:
    world.handle(c.CreatePlayer("p-1", "Alice", "secret-1"))
    err = refuse(world, c.CreatePlayer("p-2", "aLICE", "secret-1"), AlreadyExistsError)
    assert "aLICE" in err.message
    refuse(world, c.ImportLegacyPlayer("p-3", "alice", "a" * 32), AlreadyExistsError)


def test_deleted_players_name_can_be_reused(world: World) -> None:
    world.handle(c.CreatePlayer("p-1", "Alice", "secret-1"))
    world.handle(c.DeleteGameObject("p-1"))
    world.handle(c.CreatePlayer("p-2", "alice", "secret-2"))
    assert world.find_player_id("Alice") == "p-2"
    refuse(world, c.CreatePlayer("p-3", "ALICE", "secret-1"), AlreadyExistsError)


def test_update_password_and_check(town: World) -> None:
    old_hash = town.get("bob")
    assert isinstance(old_hash, Player)
    town.handle(c.UpdatePlayerPassword("bob", "new-secret", actor="bob"))
    assert town.check_password("bob", "new-secret")
    assert not town.check_password("bob", "secret-1")
    refuse(town, c.UpdatePlayerPassword("bag", "new-secret"), WrongKindError)
    refuse(town, c.UpdatePlayerPassword("ghost", "new-secret"), NotFoundError)
    with pytest.raises(NotFoundError):
        town.check_password("bag", "x")
    with pytest.raises(NotFoundError):
        town.check_password("ghost", "x")


def test_admin_status(town: World) -> None:
    town.handle(c.UpdatePlayerAdminStatus("bob", True, actor="admin"))
    bob = town.get("bob")
    assert isinstance(bob, Player) and bob.admin
    town.handle(c.UpdatePlayerAdminStatus("bob", False))
    bob = town.get("bob")
    assert isinstance(bob, Player) and not bob.admin
    refuse(town, c.UpdatePlayerAdminStatus("square", True), WrongKindError)


# ---------------------------------------------------------------- rooms


def test_rooms_and_exits(town: World) -> None:
    square = town.get("square")
    assert isinstance(square, Room)
    assert square.generic == "room"
    assert square.exits == {"north": "hall"}
    assert square.entrances == {"hall": ["south"]}
    town.handle(c.UpdateRoomDescription("square", "A busy square.\nPigeons."))
    square = town.get("square")
    assert isinstance(square, Room)
    assert square.description == "A busy square.\nPigeons."
    town.handle(c.RemoveRoomExit("square", "N"))
    square, hall = town.get("square"), town.get("hall")
    assert isinstance(square, Room) and isinstance(hall, Room)
    assert square.exits == {}
    assert hall.entrances == {}


def test_room_rejections(town: World) -> None:
    refuse(town, c.UpdateRoomDescription("bag", "x"), WrongKindError)
    refuse(town, c.UpdateRoomDescription("ghost", "x"), NotFoundError)
    refuse(town, c.AddRoomExit("square", "north", "hall"), AlreadyExistsError)
    refuse(town, c.AddRoomExit("square", "east", "ghost"), NotFoundError)
    refuse(town, c.AddRoomExit("square", "east", "bag"), WrongKindError)
    refuse(town, c.AddRoomExit("bag", "east", "hall"), WrongKindError)
    refuse(town, c.RemoveRoomExit("square", "east"), InvariantViolationError)
    refuse(town, c.RemoveRoomExit("bob", "east"), WrongKindError)


# ---------------------------------------------------------------- inventory


def test_add_item_with_position_and_reposition(town: World) -> None:
    town.handle(c.CreateGameObject("map", "a map", "map"))
    town.handle(c.AddItemToInventory("square", "map", position=(2, 3)))
    assert town.get("square").inventory["map"] == [2, 3]
    assert town.get("map").position == [2, 3]
    town.handle(c.AddItemToInventory("square", "map", position=(4, 5)))
    assert town.get("square").inventory["map"] == [4, 5]
    assert town.handle(c.AddItemToInventory("square", "map", position=(4, 5))) == []
    town.handle(c.AddItemToInventory("bob", "map"))
    assert "map" not in town.get("square").inventory
    assert town.get("bob").inventory["map"] is None


def test_remove_item_leaves_it_nowhere(town: World) -> None:
    town.handle(c.RemoveItemFromInventory("bob", "bag"))
    assert town.get("bag").container_id is None
    assert town.get("bob").inventory == {}
    refuse(town, c.RemoveItemFromInventory("bob", "bag"), InvariantViolationError)
    refuse(town, c.RemoveItemFromInventory("ghost", "bag"), NotFoundError)


# ---------------------------------------------------------------- equipment


def test_equip_and_unequip(town: World) -> None:
    town.handle(c.CreateGameObject("sword", "a sword", "sword", container_id="bob"))
    start = town.recorder.max_notification_id() or 0
    town.handle(c.EquipItem("bob", "sword", "right wield", actor="bob"))
    assert sorted(topics(town, start + 1)) == [
        "GameObjectContainerUpdated",
        "ItemEquipped",
        "ItemRemovedFromInventory",
    ]
    bob = town.get("bob")
    assert bob.equipment == {"sword": ["right_wield", 0]}
    assert "sword" not in bob.inventory
    assert town.get("sword").slot == "right_wield"
    town.handle(c.UnequipItem("bob", "sword", "right_wield"))
    bob = town.get("bob")
    assert bob.equipment == {} and "sword" in bob.inventory
    assert town.get("sword").slot is None


def test_layers_share_a_slot(town: World) -> None:
    town.handle(c.CreateGameObject("shirt", "a shirt", "shirt", container_id="bob"))
    town.handle(c.CreateGameObject("coat", "a coat", "coat", container_id="bob"))
    town.handle(c.CreateGameObject("vest", "a vest", "vest", container_id="bob"))
    town.handle(c.UpdateGameObjectAttribute("shirt", "layer", 2))
    town.handle(c.UpdateGameObjectAttribute("coat", "layer", 1))
    town.handle(c.UpdateGameObjectAttribute("vest", "layer", 1))
    town.handle(c.EquipItem("bob", "shirt", "torso"))
    town.handle(c.EquipItem("bob", "coat", "torso"))
    assert town.get("bob").equipment == {"shirt": ["torso", 2], "coat": ["torso", 1]}
    refuse(town, c.EquipItem("bob", "vest", "torso"), InvariantViolationError)


def test_equip_rejections(town: World) -> None:
    town.handle(c.CreateGameObject("axe", "an axe", "axe", container_id="bob"))
    town.handle(c.CreateGameObject("dagger", "a dagger", "dagger", container_id="bob"))
    town.handle(c.CreateGameObject("rock", "a rock", "rock", container_id="square"))
    town.handle(c.CreateGameObject("odd", "odd", "odd", container_id="bob"))
    town.handle(c.UpdateGameObjectAttribute("odd", "layer", 9))
    refuse(town, c.EquipItem("bob", "rock", "head"), InvariantViolationError)
    refuse(town, c.EquipItem("bag", "axe", "head"), WrongKindError)
    refuse(town, c.EquipItem("bob", "odd", "head"), InvariantViolationError)
    town.handle(c.EquipItem("bob", "axe", "dual_wield"))
    refuse(town, c.EquipItem("bob", "dagger", "left_wield"), InvariantViolationError)
    refuse(town, c.EquipItem("bob", "axe", "right_wield"), InvariantViolationError)
    # an equipped item cannot be moved until unequipped
    refuse(town, c.UpdateGameObjectContainer("axe", "square"), InvariantViolationError)
    refuse(town, c.RemoveItemFromInventory("bob", "axe"), InvariantViolationError)
    refuse(town, c.UnequipItem("bob", "axe", "left_wield"), InvariantViolationError)
    refuse(town, c.UnequipItem("bob", "dagger", "left_wield"), InvariantViolationError)
    town.handle(c.UnequipItem("bob", "axe", "dual_wield"))
    town.handle(c.EquipItem("bob", "dagger", "left_wield"))
    refuse(town, c.EquipItem("bob", "axe", "dual_wield"), InvariantViolationError)


def test_mobiles_are_characters(world: World) -> None:
    world.handle(c.CreateRoom("r", "R", ""))
    world.handle(c.CreateGameObject("orc", "an orc", "mobile", container_id="r"))
    world.handle(c.CreateGameObject("club", "a club", "club", container_id="orc"))
    world.handle(c.EquipItem("orc", "club", "right_wield"))
    assert world.get("orc").equipment == {"club": ["right_wield", 0]}


# ---------------------------------------------------------------- world


def test_unknown_command_type_is_refused(world: World) -> None:
    with pytest.raises(InvalidCommandError):
        world.handle(c.Command())
    with pytest.raises(NotFoundError):
        world.get("name-index:whatever")


def test_world_settings(world: World) -> None:
    assert world.snapshot_threshold == 100
    assert World(env={"SNAPSHOT_THRESHOLD": "7"}).snapshot_threshold == 7
    assert World(env={"WORLD_SNAPSHOT_THRESHOLD": "0"}).snapshot_threshold == 0
    assert World(snapshot_threshold=5).snapshot_threshold == 5
    for env in ({"SNAPSHOT_THRESHOLD": "x"}, {"SNAPSHOT_THRESHOLD": "-1"}, {"SCRYPT_N": "1000"}):
        with pytest.raises(InvalidCommandError):
            World(env=env)
    with pytest.raises(InvalidCommandError):
        World(snapshot_threshold=-1)
