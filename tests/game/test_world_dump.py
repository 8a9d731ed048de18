"""The canonical world JSON: stable bytes, round trip, and clear errors for bad dumps."""

from __future__ import annotations

import json

import pytest

from aethyr_domain.read.world_dump import FORMAT, WorldDumpError, dumps, loads


def test_round_trip_is_byte_identical(game):
    game.do(game.admin, "acreate Shirt")
    game.do(game.admin, "acreate Container a box")
    game.do(game.player, "get shirt")
    game.do(game.player, "wear shirt")
    game.do(game.admin, "acroom west Den")
    text = dumps(game.state)
    assert dumps(loads(text)) == text
    assert dumps(loads(text.encode())) == text
    data = json.loads(text)
    assert data["format"] == FORMAT
    assert list(data) == sorted(data)
    assert data["equipment"][game.player] == {
        "torso": {"2": data["equipment"][game.player]["torso"]["2"]}
    }
    assert "password" not in text


def test_same_state_same_bytes_regardless_of_insertion_order(game):
    a = game.state.copy()
    b = game.state.copy()
    b.objects = dict(reversed(list(b.objects.items())))
    b.players = dict(reversed(list(b.players.items())))
    assert dumps(a) == dumps(b)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("[]", "top level"),
        ("not json", "not JSON"),
        ('{"format": "x"}', "format must be"),
        (f'{{"format": "{FORMAT}", "objects": {{}}}}', "objects must be a list"),
        (f'{{"format": "{FORMAT}", "objects": [5]}}', "objects[0] must be an object"),
        (f'{{"format": "{FORMAT}", "objects": [{{"id": 1}}]}}', "bad or missing id"),
        (f'{{"format": "{FORMAT}", "players": {{"p": {{}}}}}}', "players['p']"),
        (f'{{"format": "{FORMAT}", "players": {{"p": {{"admin": true}}}}}}', "no entry in objects"),
        (f'{{"format": "{FORMAT}", "rooms": {{"r": {{"exits": 1}}}}}}', "rooms['r']"),
        (f'{{"format": "{FORMAT}", "rooms": []}}', "rooms must be an object"),
        (f'{{"format": "{FORMAT}", "inventories": {{"a": [1]}}}}', "inventories['a']"),
        (f'{{"format": "{FORMAT}", "equipment": {{"a": 1}}}}', "equipment['a']"),
        (f'{{"format": "{FORMAT}", "equipment": {{"a": {{"torso": 1}}}}}}', "map layers"),
        (f'{{"format": "{FORMAT}", "equipment": {{"a": {{"torso": {{"x": "i"}}}}}}}}', "bad layer"),
    ],
)
def test_bad_dumps_are_refused_with_a_reason(data, fragment):
    with pytest.raises(WorldDumpError) as info:
        loads(data)
    assert fragment in str(info.value)


def test_duplicate_object_ids_refused():
    obj: dict[str, object] = {
        "id": "a",
        "name": "A",
        "generic": "g",
        "container": None,
        "attributes": {},
        "deleted": False,
    }
    with pytest.raises(WorldDumpError, match="duplicate id"):
        loads(json.dumps({"format": FORMAT, "objects": [obj, obj]}))
