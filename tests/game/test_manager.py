"""Manager: live-world changes and the commands it emits (once each, with the actor)."""

from __future__ import annotations

import pytest

from aethyr_domain import commands
from aethyr_domain.game.manager import GARBAGE_DUMP_ID, GameError, Manager
from aethyr_domain.object_classes import lookup


def test_add_player_emits_create_and_placement(game):
    first = game.sink.emitted[:3]
    assert [c[0] for c in first] == ["CreateRoom", "CreatePlayer", "UpdateGameObjectContainer"]
    create_player = first[1]
    assert create_player[1]["name"] == "Alice"
    assert game.state.get(game.admin).container == game.manager.config.start_room
    assert game.admin in game.state.inventories["start-room"]
    assert game.manager.check_password(game.admin, "secret-1")
    assert not game.manager.check_password(game.admin, "wrong-pw")


def test_every_emitted_command_builds_with_its_actor(game):
    game.do(game.admin, "acreate Sword")
    game.do(game.player, "get sword")
    for name, fields, actor in game.sink.emitted:
        command = getattr(commands, name)(**fields, actor=actor)
        assert command.actor == actor
    assert game.sink.emitted[-1][2] == game.player  # the acting player


def test_duplicate_player_name_refused(game):
    mark = len(game.sink.emitted)
    with pytest.raises(GameError, match="already taken"):
        game.manager.add_player("alice", "whatever1")
    assert game.since(mark) == []


def test_invalid_input_changes_nothing(game):
    before = game.state.copy()
    mark = len(game.sink.emitted)
    with pytest.raises(GameError, match="password"):
        game.manager.set_password(game.player, "x", actor=game.player)
    with pytest.raises(GameError):
        game.manager.create_room("", actor=game.admin)
    assert game.since(mark) == []
    assert game.state == before


def test_move_refuses_cycles_and_bad_targets(game):
    chest = game.manager.create_object(lookup("Container"), "start-room", actor=game.admin)
    bag = game.manager.create_object(lookup("Container"), chest.id, actor=game.admin)
    with pytest.raises(GameError, match="inside itself"):
        game.manager.move_object(chest.id, bag.id, actor=game.admin)
    with pytest.raises(GameError, match="only be in a room"):
        game.manager.move_object(game.player, chest.id, actor=game.admin)
    with pytest.raises(GameError, match="cannot be put inside anything"):
        game.manager.move_object("start-room", chest.id, actor=game.admin)


def test_delete_object_rehomes_contents_to_its_room(game):
    chest = game.manager.create_object(lookup("Container"), "start-room", actor=game.admin)
    sword = game.manager.create_object(lookup("Sword"), chest.id, actor=game.admin)
    mark = len(game.sink.emitted)
    game.manager.delete_object(chest.id, actor=game.admin)
    assert game.since(mark) == ["DeleteGameObject"]  # the handler re-homes the contents
    assert game.state.get(sword.id).container == "start-room"
    assert game.state.objects[chest.id].deleted
    assert game.state.objects[chest.id].container is None


def test_delete_object_outside_rooms_uses_the_garbage_dump(game):
    chest = game.manager.create_object(lookup("Container"), None, actor=game.admin)
    sword = game.manager.create_object(lookup("Sword"), chest.id, actor=game.admin)
    game.manager.delete_object(chest.id, actor=game.admin)
    assert game.state.get(sword.id).container == GARBAGE_DUMP_ID
    assert game.state.is_room(GARBAGE_DUMP_ID)
    with pytest.raises(GameError, match="cannot be deleted"):
        game.manager.delete_object(GARBAGE_DUMP_ID, actor=game.admin)


def test_delete_worn_items_unequips_first(game):
    game.manager.create_object(lookup("Shirt"), game.player, actor=game.admin)
    shirt = game.state.inventory(game.player)[0]
    game.manager.wear(game.player, shirt.id)
    mark = len(game.sink.emitted)
    game.manager.delete_player(game.player, actor=game.admin)
    assert game.since(mark) == ["DeleteGameObject", "DeleteGameObject"]
    assert game.state.get(game.player) is None
    assert game.state.get(shirt.id) is None
    assert game.player not in game.state.equipment


def test_delete_room_removes_exits_both_ways(game):
    hall = game.manager.create_room("Hall", actor=game.admin)
    game.manager.link_rooms("start-room", "north", hall.id, actor=game.admin)
    game.manager.delete_object(hall.id, actor=game.admin)
    assert game.state.rooms["start-room"].exits == {}


def test_equipment_layers_and_hands(game):
    m = game.manager
    for cls in ("Shirt", "Breastplate", "Armor", "Sword", "Dagger", "Dagger", "Glove", "Glove"):
        m.create_object(lookup(cls), game.player, actor=game.admin)
    held = {o.generic: o for o in game.state.inventory(game.player)}
    items = game.state.inventory(game.player)
    shirt, plate, armor = held["shirt"], held["breastplate"], held["armor"]
    assert m.wear(game.player, shirt.id) == "torso"
    assert m.wear(game.player, plate.id) == "torso"  # layer 1 over layer 2
    with pytest.raises(GameError, match="already wearing"):
        m.wear(game.player, armor.id)  # layer 1 taken
    with pytest.raises(GameError, match="intended to be worn"):
        m.wear(game.player, armor.id, "head")
    gloves = [o for o in items if o.generic == "leather gloves"]
    assert {m.wear(game.player, g.id) for g in gloves} == {"left_hand", "right_hand"}
    daggers = [o for o in items if o.generic == "dagger"]
    assert m.wield(game.player, held["sword"].id) == "right_wield"
    assert m.wield(game.player, daggers[0].id) == "left_wield"
    with pytest.raises(GameError, match="empty hand"):
        m.wield(game.player, daggers[1].id)
    with pytest.raises(GameError, match="cannot wield"):
        m.wield(game.player, shirt.id)
    with pytest.raises(GameError, match="cannot wear"):
        m.wear(game.player, daggers[1].id)
    assert m.remove(game.player, shirt.id) == "torso"
    assert shirt.id in game.state.inventories[game.player]


def test_from_config_flag_off_has_no_sink():
    from aethyr_domain import ServerConfig

    manager = Manager.from_config(ServerConfig())
    assert manager.sink is None
    manager.close()


def test_live_world_lookup_of_an_unknown_id_names_what_is_missing(game):
    from aethyr_domain.game_state import WorldStateError

    with pytest.raises(WorldStateError, match="no object 'ghost' in the live world"):
        game.state.require("ghost")


def test_a_live_world_with_objects_needs_its_decider(game):
    with pytest.raises(ValueError, match="needs the Decider"):
        Manager(game.state.copy())
    again = Manager(decider=game.manager.decider)
    assert again.state == game.state


def test_world_is_the_old_read_only_name_of_the_game_state(game):
    """``manager.world`` and ``Manager(world=...)`` (the names before issue 17) still
    reach the game state, now ``manager.state``; the old attribute cannot be set."""
    manager = game.manager
    assert manager.world is manager.state
    with pytest.raises(AttributeError):
        manager.world = manager.state.copy()
    again = Manager(world=manager.state, decider=manager.decider)
    assert again.state is manager.state and again.world is manager.state
    with pytest.raises(TypeError, match="give the game state once"):
        Manager(manager.state, world=manager.state, decider=manager.decider)
