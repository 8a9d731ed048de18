"""Doors, posture and the admin building verbs: commands emitted, refusals write nothing."""

from __future__ import annotations

import pytest


def _door(game, room_id, direction):
    for obj in game.state.inventory(room_id):
        if obj.attributes.get("door") is True and obj.attributes.get("direction") == direction:
            return obj
    raise AssertionError(f"no door {direction} in {room_id}")


@pytest.fixture
def doors(game):
    """A hall north of the start room, with a door pair on the exit."""
    game.do(game.admin, "acroom north The Hall")
    mark = len(game.sink.emitted)
    out = game.do(game.admin, "acdoor north")
    assert out == "Created a door north (and its other side, south)."
    assert game.since(mark) == ["CreateGameObject", "UpdateGameObjectAttributes"] * 2
    game.hall = game.state.rooms["start-room"].exits["north"]
    game.here_door = _door(game, "start-room", "north")
    game.there_door = _door(game, game.hall, "south")
    return game


def test_acdoor_makes_two_connected_closed_doors(doors):
    assert doors.here_door.attributes["connected_to"] == doors.there_door.id
    assert doors.there_door.attributes["connected_to"] == doors.here_door.id
    assert doors.here_door.attributes["open"] is False
    mark = len(doors.sink.emitted)
    assert doors.do(doors.admin, "acdoor north") == "There is already a door north."
    assert doors.do(doors.admin, "acdoor west") == "There is no exit west; use acdoor west <room>."
    assert doors.do(doors.admin, "acdoor sideways") == "Usage: acdoor <direction> [room]"
    assert doors.do(doors.player, "acdoor east") == "Only admins may do that."
    assert doors.since(mark) == []


def test_acdoor_with_a_room_links_the_rooms_first(game):
    game.do(game.admin, "acroom north The Hall")
    mark = len(game.sink.emitted)
    out = game.do(game.admin, "acdoor east The Hall")
    assert out == "Created a door east (and its other side, west)."
    assert game.since(mark)[:2] == ["AddRoomExit", "AddRoomExit"]
    hall = game.state.rooms["start-room"].exits["east"]
    assert game.state.rooms[hall].exits["west"] == "start-room"
    assert game.do(game.admin, "acdoor up nowhere") == "There is no room nowhere."


def test_a_closed_door_blocks_the_way_and_open_opens_both_sides(doors):
    mark = len(doors.sink.emitted)
    assert doors.do(doors.player, "north") == "a door is closed."
    assert doors.since(mark) == []
    out = doors.actions.perform(doors.player, "open door")
    assert out == [(doors.player, "You open a door."), (doors.admin, "Bob opens a door.")]
    assert doors.since(mark) == ["UpdateDoorAttributes"]
    decision = doors.sink.decisions[-1]
    assert {e.originator_id for e in decision.events} == {doors.here_door.id, doors.there_door.id}
    assert doors.state.get(doors.there_door.id).attributes["open"] is True
    assert "[The Hall]" in doors.do(doors.player, "north")
    assert doors.do(doors.player, "open south") == "a door is already open."
    assert doors.do(doors.player, "shut south") == "You close a door."
    assert doors.state.get(doors.here_door.id).attributes["open"] is False
    assert doors.do(doors.player, "close door") == "a door is already closed."


def test_refusals_of_the_door_verbs_write_nothing(doors):
    doors.do(doors.admin, "acreate Prop a statue")
    mark = len(doors.sink.emitted)
    assert doors.do(doors.player, "open") == "Open what?"
    assert doors.do(doors.player, "open statue") == "You cannot open a statue."
    assert doors.do(doors.player, "open west") == "There is no door west."
    assert doors.do(doors.player, "unlock door") == "a door is not locked."
    assert doors.do(doors.player, "lock door") == "You do not have the key to a door."
    doors.do(doors.admin, "open door")
    mark = len(doors.sink.emitted)
    assert doors.do(doors.admin, "lock door") == "You must close a door first."
    assert doors.since(mark) == []


def test_locking_needs_a_key_or_admin_and_keeps_both_sides_in_step(doors):
    assert doors.do(doors.admin, "lock north") == "You lock a door."
    there = doors.state.get(doors.there_door.id)
    assert there.attributes["locked"] is True
    assert doors.do(doors.player, "open door") == "a door is locked."
    assert doors.do(doors.player, "unlock door") == "You do not have the key to a door."
    doors.do(doors.admin, "acreate Prop a brass key")
    doors.do(doors.admin, f"aset key @key_for {doors.there_door.id}")
    doors.do(doors.admin, "aset key @movable true")
    doors.do(doors.player, "get key")
    mark = len(doors.sink.emitted)
    assert doors.do(doors.player, "unlock door") == "You unlock a door."
    assert doors.since(mark) == ["UpdateDoorAttributes"]
    assert doors.state.get(doors.there_door.id).attributes["locked"] is False
    assert doors.do(doors.player, "lock door") == "You lock a door."
    assert doors.do(doors.player, "lock door") == "a door is already locked."


def test_sit_and_stand(game):
    game.do(game.admin, "acreate Prop a bench")
    game.do(game.admin, "acroom north The Hall")
    mark = len(game.sink.emitted)
    assert game.do(game.player, "sit on bench") == "You cannot sit on a bench."
    assert game.do(game.player, "sit on throne") == "There is no throne here."
    assert game.do(game.player, "stand") == "You are already standing."
    assert game.since(mark) == []
    game.do(game.admin, "aset bench @sittable true")
    mark = len(game.sink.emitted)
    out = game.actions.perform(game.player, "sit bench")
    assert out == [
        (game.player, "You sit down on a bench."),
        (game.admin, "Bob sits down on a bench."),
    ]
    bench = game.manager.find("bench", ["start-room"])
    me = game.state.get(game.player)
    assert me.attributes["posture"] == "sitting" and me.attributes["sitting_on"] == bench.id
    assert game.do(game.player, "sit") == "You are already sitting down."
    assert game.do(game.player, "north") == "You will need to stand up first."
    assert game.since(mark) == ["UpdateGameObjectAttributes"]
    assert game.do(game.player, "stand") == "You stand up."
    assert game.state.get(game.player).attributes["sitting_on"] is None
    assert game.do(game.player, "sit") == "You sit down."


def test_pose_and_gait(game):
    mark = len(game.sink.emitted)
    assert game.do(game.player, "pose") == "You are not posing."
    assert game.do(game.player, "pose none") == "You are not posing."
    assert game.do(game.player, "gait none") == "You already walk normally."
    assert game.do(game.player, "gait") == "You walk normally."
    assert game.since(mark) == []
    assert game.do(game.player, "pose leaning on the wall") == "Pose set to: leaning on the wall"
    assert game.do(game.player, "pose") == "Your pose: leaning on the wall"
    assert game.do(game.player, "pose none") == "Pose cleared."
    assert game.state.get(game.player).attributes["pose"] is None
    assert game.do(game.player, "gait strides") == "Others will see you strides when you walk."
    assert game.since(mark) == ["UpdateGameObjectAttribute"] * 3
    game.do(game.admin, "acroom north The Hall")
    out = game.actions.perform(game.player, "north")
    assert (game.admin, "Bob strides north.") in out


def test_set_desc(game):
    mark = len(game.sink.emitted)
    assert game.do(game.player, "set desc") == "Usage: set desc <description>"
    assert game.do(game.player, "set desc " + "x" * 5000).startswith("That description")
    assert game.since(mark) == []
    assert game.do(game.player, "set desc A tall person.") == "You set your description."
    assert game.since(mark) == ["UpdateGameObjectAttribute"]
    assert game.do(game.admin, "look at bob") == "Bob: A tall person."


def test_acprop_and_acarea(game):
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "acprop") == "Usage: acprop <generic>"
    assert game.do(game.admin, "acarea") == "Usage: acarea <name>"
    assert game.do(game.player, "acprop fountain") == "Only admins may do that."
    assert game.since(mark) == []
    assert game.do(game.admin, "acprop fountain").startswith("Created a fountain (Prop, id ")
    fountain = game.manager.find("fountain", ["start-room"])
    assert fountain.generic == "fountain" and fountain.attributes["movable"] is False
    assert game.do(game.admin, "acarea The Wilds").startswith("Created area The Wilds")
    assert game.since(mark) == ["CreateGameObject", "UpdateGameObjectAttributes"] * 2


def test_terrain(game):
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "terrain").startswith("Usage: terrain")
    assert game.do(game.admin, "terrain indoors maybe") == "indoors is yes or no."
    assert game.since(mark) == []
    assert game.do(game.admin, "terrain type forest").endswith("to forest.")
    assert game.do(game.admin, "terrain indoors no").endswith("to no.")
    terrain = game.state.get("start-room").attributes["terrain"]
    assert terrain == {"type": "forest", "indoors": False}
    assert game.since(mark) == ["UpdateGameObjectAttribute"] * 2


def test_ahide_ashow(game):
    game.do(game.admin, "acreate Prop a statue")
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "ashow statue") == "a statue is already shown."
    assert game.do(game.admin, "ahide here") == "You cannot hide The Starting Room."
    assert game.since(mark) == []
    assert game.do(game.admin, "ahide statue") == "a statue is now hidden."
    assert "statue" not in game.do(game.player, "look")
    assert game.do(game.admin, "ahide statue") == "a statue is already hidden."
    assert game.do(game.admin, "ashow statue") == "a statue is now shown."
    assert "a statue" in game.do(game.player, "look")
    assert game.since(mark) == ["UpdateGameObjectAttribute"] * 2


def test_acomment(game):
    game.do(game.admin, "acreate Prop a statue")
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "acomment statue") == "Usage: acomment <thing> <text>"
    assert game.do(game.admin, "acomment ghost boo") == "Cannot find ghost."
    assert game.since(mark) == []
    assert game.do(game.admin, "acomm statue needs a plinth") == "Added a comment to a statue."
    statue = game.manager.find("statue", ["start-room"])
    assert statue.attributes["comment"] == "needs a plinth"
    assert game.since(mark) == ["UpdateGameObjectAttribute"]


def test_ainfo(game):
    game.do(game.admin, "acreate Prop a statue")
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "ainfo").startswith("Usage: ainfo")
    assert game.do(game.admin, "ainfo show statue") == "a statue info: {}"
    assert game.do(game.admin, "ainfo delete statue stats.hp") == "a statue has no info stats.hp."
    assert game.do(game.admin, "ainfo clear statue") == "a statue has no info."
    assert game.do(game.admin, "ainfo set statue a..b 1") == "'a..b' is not a path."
    assert game.do(game.admin, "ainfo set statue stats.hp 1e400").startswith(
        "Cannot set info stats.hp: the value"
    )
    assert game.since(mark) == []
    assert game.do(game.admin, "ainfo set statue stats.hp 12") == "Set info stats.hp of a statue."
    assert game.do(game.admin, "ainfo set statue stats.name Stony") == (
        "Set info stats.name of a statue."
    )
    assert game.do(game.admin, "ainfo show statue stats.hp") == "a statue info stats.hp: 12"
    assert game.do(game.admin, "ainfo delete statue stats.hp") == (
        "Deleted info stats.hp of a statue."
    )
    statue = game.manager.find("statue", ["start-room"])
    assert statue.attributes["info"] == {"stats": {"name": "Stony"}}
    assert game.do(game.admin, "ainfo clear statue") == "Cleared the info of a statue."
    assert game.since(mark) == ["UpdateGameObjectAttribute"] * 4
