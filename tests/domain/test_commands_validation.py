"""Every command field is validated at construction; bad input raises InvalidCommandError."""

from __future__ import annotations

from typing import Any

import pytest

from aethyr_domain import commands as c
from aethyr_domain.errors import InvalidCommandError


# Some values are of the wrong type on purpose (what a caller without a type checker
# could pass): mypy flags each (type: ignore[arg-type]); the command refuses it at run time.
@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: c.CreateGameObject("", "n", "g"), "id"),
        (lambda: c.CreateGameObject(5, "n", "g"), "id"),  # type: ignore[arg-type]
        (lambda: c.CreateGameObject("has space", "n", "g"), "id"),
        (lambda: c.CreateGameObject("x" * 65, "n", "g"), "id"),
        (lambda: c.CreateGameObject("name-index:abc", "n", "g"), "id"),
        (lambda: c.CreateGameObject("a", "  ", "g"), "name"),
        (lambda: c.CreateGameObject("a", "n" * 81, "g"), "name"),
        (lambda: c.CreateGameObject("a", "bad\x00", "g"), "name"),
        (lambda: c.CreateGameObject("a", "n", ""), "generic"),
        (lambda: c.CreateGameObject("a", "n", "g", container_id=""), "container_id"),
        (lambda: c.CreateGameObject("a", "n", "g", actor=""), "actor"),
        (lambda: c.UpdateGameObjectAttribute("a", "1bad", 1), "key"),
        (lambda: c.UpdateGameObjectAttribute("a", "k", object()), "value"),
        (lambda: c.UpdateGameObjectAttribute("a", "k", float("nan")), "value"),
        (lambda: c.UpdateGameObjectAttribute("a", "k", {1: 2}), "value"),
        (lambda: c.UpdateGameObjectAttribute("a", "k", "x" * 17000), "value"),
        (lambda: c.UpdateGameObjectAttribute("a", "k", [[[[[[[[[1]]]]]]]]]), "value"),
        (lambda: c.UpdateGameObjectAttributes("a", {}), "attributes"),
        (lambda: c.UpdateGameObjectAttributes("a", []), "attributes"),  # type: ignore[arg-type]
        (lambda: c.UpdateGameObjectAttributes("a", {f"k{i}": i for i in range(65)}), "attributes"),
        (lambda: c.UpdateGameObjectAttributes("a", {"k": object()}), "attributes[k]"),
        (lambda: c.UpdateGameObjectContainer("a", 3), "container_id"),  # type: ignore[arg-type]
        (lambda: c.DeleteGameObject(None), "id"),  # type: ignore[arg-type]
        (lambda: c.CreatePlayer("p", "B", "secret1"), "name"),
        (lambda: c.CreatePlayer("p", "1bob", "secret1"), "name"),
        (lambda: c.CreatePlayer("p", 7, "secret1"), "name"),  # type: ignore[arg-type]
        (lambda: c.CreatePlayer("p", "Bob", "short"), "password"),
        (lambda: c.CreatePlayer("p", "Bob", "x" * 129), "password"),
        (lambda: c.CreatePlayer("p", "Bob", "tab\there"), "password"),
        (lambda: c.CreatePlayer("p", "Bob", b"secret123"), "password"),  # type: ignore[arg-type]
        (lambda: c.UpdatePlayerPassword("p", "12345"), "password"),
        (lambda: c.UpdatePlayerAdminStatus("p", 1), "admin"),  # type: ignore[arg-type]
        (lambda: c.CreateRoom("r", "R", 5), "description"),  # type: ignore[arg-type]
        (lambda: c.CreateRoom("r", "R", "x" * 8001), "description"),
        (lambda: c.CreateRoom("r", "R", "bell\x07"), "description"),
        (lambda: c.UpdateRoomDescription("r", None), "description"),  # type: ignore[arg-type]
        (lambda: c.AddRoomExit("r", "sideways", "t"), "direction"),
        (lambda: c.AddRoomExit("r", 3, "t"), "direction"),  # type: ignore[arg-type]
        (lambda: c.AddRoomExit("r", "n", ""), "target_room_id"),
        (lambda: c.RemoveRoomExit("r", "nowhere"), "direction"),
        (lambda: c.AddItemToInventory("h", "i", position=(1,)), "position"),  # type: ignore[arg-type]
        (lambda: c.AddItemToInventory("h", "i", position=(1, "2")), "position"),  # type: ignore[arg-type]
        (lambda: c.AddItemToInventory("h", "i", position=(True, 2)), "position"),
        (lambda: c.AddItemToInventory("h", "i", position=(-1, 2)), "position"),
        (lambda: c.AddItemToInventory("h", "i", position=(1, 10001)), "position"),
        (lambda: c.RemoveItemFromInventory("h", ""), "item_id"),
        (lambda: c.EquipItem("p", "i", "tail"), "slot"),
        (lambda: c.EquipItem("p", "i", 3), "slot"),  # type: ignore[arg-type]
        (lambda: c.UnequipItem("p", "i", "wings"), "slot"),
        (lambda: c.ImportLegacyPlayer("p", "Bob", "zz"), "password_md5"),
        (lambda: c.ImportLegacyPlayer("p", "Bob", "g" * 32), "password_md5"),
        (lambda: c.ImportLegacyPlayer("p", "Bob", "a" * 32, admin="yes"), "admin"),  # type: ignore[arg-type]
    ],
)
def test_bad_field_is_refused_with_its_name(factory: Any, field: str) -> None:
    with pytest.raises(InvalidCommandError) as info:
        factory()
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_values_are_normalised() -> None:
    assert c.AddRoomExit("r", "N", "t").direction == "north"
    assert c.AddRoomExit("r", "north-east", "t").direction == "northeast"
    assert c.RemoveRoomExit("r", "U").direction == "up"
    assert c.EquipItem("p", "i", "Left Wield").slot == "left_wield"
    assert c.UnequipItem("p", "i", "left-ring finger").slot == "left_ring_finger"
    assert c.AddItemToInventory("h", "i", position=[3, 4]).position == (3, 4)  # type: ignore[arg-type]
    assert c.ImportLegacyPlayer("p", "Bob", "A" * 32).password_md5 == "a" * 32


def test_commands_are_frozen_and_values_read_only() -> None:
    cmd = c.UpdateGameObjectAttribute("a", "k", {"list": [1, 2]})
    with pytest.raises(AttributeError):
        cmd.id = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cmd.value["list"] = 3
    assert cmd.value["list"] == (1, 2)
    batch = c.UpdateGameObjectAttributes("a", {"x": [1]})
    with pytest.raises(TypeError):
        batch.attributes["y"] = 2  # type: ignore[index]


def test_passwords_never_in_repr_or_errors() -> None:
    secret = "hunter2-very-secret"
    for cmd in (c.CreatePlayer("p", "Bob", secret), c.UpdatePlayerPassword("p", secret)):
        assert secret not in repr(cmd)
        assert "password" not in c.fields_of(cmd)
    legacy = c.ImportLegacyPlayer("p", "Bob", "b" * 32)
    assert "b" * 32 not in repr(legacy)
    bad = "\x01" + secret
    with pytest.raises(InvalidCommandError) as info:
        c.CreatePlayer("p", "Bob", bad)
    assert secret not in str(info.value)


def test_actor_defaults_to_system_and_is_kept() -> None:
    assert c.DeleteGameObject("x").actor == "system"
    assert c.DeleteGameObject("x", actor="admin-1").actor == "admin-1"


def test_command_list_matches_the_original() -> None:
    names = [cls.__name__ for cls in c.COMMAND_TYPES]
    assert names[:16] == [
        "CreateGameObject",
        "UpdateGameObjectAttribute",
        "UpdateGameObjectAttributes",
        "UpdateGameObjectContainer",
        "DeleteGameObject",
        "CreatePlayer",
        "UpdatePlayerPassword",
        "UpdatePlayerAdminStatus",
        "CreateRoom",
        "UpdateRoomDescription",
        "AddRoomExit",
        "RemoveRoomExit",
        "AddItemToInventory",
        "RemoveItemFromInventory",
        "EquipItem",
        "UnequipItem",
    ]
