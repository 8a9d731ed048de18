"""The action layer: the original's verbs and syntax, errors as messages, events emitted."""

from __future__ import annotations

import pytest

from aethyr_domain.object_classes import CATALOGUE


def test_look_and_inventory_are_read_only(game):
    mark = len(game.sink.emitted)
    assert "[The Starting Room]" in game.do(game.player, "look")
    assert "Also here: Alice" in game.do(game.player, "l")
    assert "holding nothing" in game.do(game.player, "i")
    assert "holding nothing" in game.do(game.player, "inventory")
    assert game.since(mark) == []


@pytest.mark.parametrize("verb", ["get", "take", "grab"])
def test_get_aliases(game, verb):
    game.do(game.admin, "acreate Sword a rusty sword")
    mark = len(game.sink.emitted)
    assert game.do(game.player, f"{verb} sword") == "You take a rusty sword."
    assert game.since(mark) == ["UpdateGameObjectContainer"]
    assert game.sink.emitted[-1][2] == game.player


def test_get_from_put_in_drop_give(game):
    game.do(game.admin, "acreate Container a wooden chest")
    game.do(game.admin, "acreate Dagger")
    game.do(game.admin, "get dagger")
    assert game.do(game.admin, "put dagger in chest") == "You put a dagger in a wooden chest."
    assert game.do(game.player, "get dagger from chest") == "You take a dagger from a wooden chest."
    out = game.actions.perform(game.player, "give dagger to alice")
    assert (game.admin, "Bob gives you a dagger.") in out
    assert game.do(game.admin, "drop dagger") == "You drop a dagger."
    dagger = game.manager.find("dagger", ["start-room"])
    assert dagger is not None and dagger.container == "start-room"


def test_props_cannot_be_taken_and_put_needs_a_container(game):
    game.do(game.admin, "acreate Prop a statue")
    game.do(game.admin, "acreate Sword")
    assert game.do(game.player, "get statue") == "You cannot take a statue."
    game.do(game.player, "get sword")
    assert game.do(game.player, "put sword in statue") == "You cannot put anything in a statue."


def test_movement_with_go_move_and_shortcuts(game):
    game.do(game.admin, "acroom north The Hall")
    game.do(game.admin, "acroom ne Garden")
    assert "[The Hall]" in game.do(game.player, "go north")
    assert "[The Starting Room]" in game.do(game.player, "s")
    assert "[Garden]" in game.do(game.player, "northeast")
    assert "[The Starting Room]" in game.do(game.player, "move sw")
    assert game.do(game.player, "west") == "You cannot go that way."
    assert game.do(game.player, "go") == "Go where?"


def test_acroom_links_both_ways_and_refuses_existing_exit(game):
    mark = len(game.sink.emitted)
    game.do(game.admin, "acroom up Attic")
    assert game.since(mark) == ["CreateRoom", "AddRoomExit", "AddRoomExit"]
    attic = game.state.rooms["start-room"].exits["up"]
    assert game.state.rooms[attic].exits == {"down": "start-room"}
    assert game.do(game.admin, "acroom up Loft") == "There is already an exit up."
    assert game.do(game.admin, "acroom sideways Loft") == "Usage: acroom <direction> <name>"


def test_acexit_adelete_aput_adesc_aset(game):
    game.do(game.admin, "acroom east Kitchen")
    kitchen = game.state.rooms["start-room"].exits["east"]
    assert game.do(game.admin, "acexit in Kitchen") == "Created an exit in to Kitchen."
    assert game.state.rooms["start-room"].exits["in"] == kitchen
    game.do(game.admin, "acreate Sword")
    assert game.do(game.admin, f"aput sword in {kitchen}") == "Moved a sword into Kitchen."
    assert game.do(game.admin, "adesc here A square.") == "Description of The Starting Room set."
    assert game.state.rooms["start-room"].description == "A square."
    game.do(game.admin, "e")
    assert game.do(game.admin, "aset sword @attack 12") == "Set attack of a sword."
    assert game.do(game.admin, "aset sword smell oily") == "Set smell of a sword."
    assert game.do(game.admin, "adesc sword Sharp.") == "Description of a sword set."
    sword = game.manager.find("sword", [kitchen])
    assert sword.attributes["attack"] == 12
    assert sword.attributes["smell"] == "oily"
    assert sword.attributes["short_desc"] == "Sharp."
    assert game.do(game.admin, "adelete sword") == "a sword is gone."
    assert game.do(game.admin, "adelete here") == "You cannot delete the room you are standing in."


def test_acreate_knows_the_catalogue(game):
    for klass in CATALOGUE.values():
        text = game.do(game.admin, f"acreate {klass.name}")
        assert text.startswith(f"Created {klass.default_name} ({klass.name}")
    assert "classes: Prop" in game.do(game.admin, "acreate Dragon")
    assert "character creation" in game.do(game.admin, "acreate Player")


def test_wear_remove_wield_unwield(game):
    for cls in ("Shirt", "Sword", "Glove"):
        game.do(game.admin, f"acreate {cls}")
        game.do(game.player, f"get {CATALOGUE[cls.lower()].generic}")
    assert game.do(game.player, "wear shirt") == "You put on a nice shirt (torso)."
    assert game.do(game.player, "wear gloves left hand") == "You put on leather gloves (left hand)."
    assert game.do(game.player, "wield sword left") == "You grip a sword firmly in your left hand."
    assert game.do(game.player, "remove sword") == "You will need to unwield a sword first."
    assert game.do(game.player, "unwield right") == "You are not wielding that."
    assert game.do(game.player, "unwield sword") == "You are no longer wielding a sword."
    assert game.do(game.player, "unwield") == "You are not wielding anything."
    assert game.do(game.player, "remove shirt") == "You remove a nice shirt."
    assert game.do(game.player, "remove shirt") == "You are not wearing shirt."
    assert "wearing leather gloves (left hand)" in game.do(game.player, "i")


def test_admin_verbs_need_admin(game):
    for verb in (
        "acreate Sword",
        "acroom n X",
        "acexit n X",
        "adelete x",
        "aput a in b",
        "adesc here x",
        "aset x y z",
        "deleteplayer Alice",
    ):
        assert game.do(game.player, verb) == "Only admins may do that."


def test_set_password_quit_delete_me(game):
    assert game.do(game.player, "set password wrong-old new-pass1") == (
        "That is not your current password."
    )
    assert (
        game.do(game.player, "set password secret-2 new-pass1") == "Your password has been changed."
    )
    assert game.manager.check_password(game.player, "new-pass1")
    assert "password" in game.do(game.player, "set password abc")
    assert game.manager.check_password(game.player, "new-pass1")  # unchanged
    assert game.do(game.player, "set colour red") == "You can set: password, desc."
    assert game.do(game.admin, "deleteplayer Bob") == "Bob is playing; they must quit first."
    assert game.do(game.player, "quit") == "Goodbye!"
    assert game.do(game.admin, "deleteplayer Bob") == "Bob has been deleted."
    assert game.do(game.admin, "deleteplayer Alice") == "Use 'delete me please' to delete yourself."
    assert game.do(game.admin, "delete me") == "To delete your character, type: delete me please"
    assert game.do(game.admin, "delete me please wrongpw") == "That is not your password."
    assert game.do(game.admin, "delete me please") == "Your character has been deleted. Goodbye."
    assert game.do(game.admin, "look") == "You are not in the game."


def test_errors_are_messages_never_tracebacks(game):
    for text in (
        "get",
        "drop",
        "drop nothing",
        "put x",
        "give x",
        "give sword to nobody",
        "wear",
        "remove",
        "wield",
        "frobnicate",
        "get unicorn",
        "get x from y",
        "look at ghost",
        "acreate",
        "acexit north Nowhere",
        "aput x in y",
        "adesc",
        "aset a b",
        "adelete",
        "deleteplayer Nobody",
        "   ",
    ):
        for _who, message in game.actions.perform(game.admin, text):
            assert isinstance(message, str) and message
            assert "Traceback" not in message
