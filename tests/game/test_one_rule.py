"""One rule set: the game decides with the World's handlers, so the live world and the
event store cannot disagree; values are checked where the admin types them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aethyr_domain import values
from aethyr_domain.cli.entry import main
from aethyr_domain.game_state import GameState


def _tunic(game) -> str:
    game.do(game.admin, "acreate Shirt a tunic")
    game.do(game.admin, "get tunic")
    tunic = game.manager.find("tunic", [game.admin])
    assert tunic is not None
    return tunic.id


@pytest.mark.parametrize("layer", ["true", "false", "-1", "5", "2.0", "two", "9999999999"])
def test_a_layer_the_handlers_refuse_is_refused_in_the_game(game, layer):
    tunic = _tunic(game)
    assert game.do(game.admin, f"aset tunic @layer {layer}") == "Set layer of a tunic."
    before, mark = game.state.copy(), len(game.sink.emitted)
    reply = game.do(game.admin, "wear tunic")
    assert reply == "'a tunic' has an invalid layer; it must be an integer from 0 to 4."
    assert game.since(mark) == []
    assert game.state == before
    assert game.state.slot_of(game.admin, tunic) is None


@pytest.mark.parametrize("layer", ["0", "4", "3"])
def test_a_valid_layer_is_worn_on_that_layer(game, layer):
    tunic = _tunic(game)
    game.do(game.admin, f"aset tunic @layer {layer}")
    assert game.do(game.admin, "wear tunic") == "You put on a tunic (torso)."
    assert list(game.state.worn(game.admin)) == [("torso", int(layer), tunic)]


def test_a_pair_position_takes_the_other_side_when_one_is_taken(game):
    for _ in range(3):
        game.do(game.admin, "acreate Glove")
        game.do(game.admin, "get gloves")
    assert game.do(game.admin, "wear gloves") == "You put on leather gloves (left hand)."
    assert game.do(game.admin, "wear gloves") == "You put on leather gloves (right hand)."
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "wear gloves") == (
        "You are already wearing something where leather gloves would be worn."
    )
    assert game.since(mark) == []


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("99999999999999999999999999999", "outside the signed 64-bit range"),
        ("-9223372036854775809", "outside the signed 64-bit range"),
        ("1" * 5000, "outside the signed 64-bit range"),
        ("1e400", "not a finite number"),
        ("x" * (values.MAX_STRING + 1), f"longer than {values.MAX_STRING} characters"),
    ],
)
def test_aset_refuses_a_value_no_attribute_may_hold(game, typed, reason):
    game.do(game.admin, "acreate Sword")
    before, mark = game.state.copy(), len(game.sink.emitted)
    reply = game.do(game.admin, f"aset sword @n {typed}")
    assert reply.startswith("Cannot set n: the value ") and reply.endswith(".")
    assert reason in reply
    assert game.since(mark) == [] and game.state == before


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("9223372036854775807", values.MAX_INT),
        ("-9223372036854775808", values.MIN_INT),
        ("007", 7),
        ("1.5", 1.5),
        ("-0.0", -0.0),
        ("nan", "nan"),
        ("inf", "inf"),
        ("TRUE", True),
        ("\u00e9t\u00e9 \U0001d11e", "\u00e9t\u00e9 \U0001d11e"),
    ],
)
def test_aset_stores_typed_values(game, typed, stored):
    game.do(game.admin, "acreate Sword")
    assert game.do(game.admin, f"aset sword @n {typed}") == "Set n of a sword."
    sword = game.manager.find("sword", [game.manager.room_of(game.admin)])
    value = sword.attributes["n"]
    assert json.dumps(value) == json.dumps(stored) and type(value) is type(stored)


def test_adesc_refuses_an_object_description_longer_than_a_value_may_be(game):
    game.do(game.admin, "acreate Sword")
    mark = len(game.sink.emitted)
    reply = game.do(game.admin, "adesc sword " + "y" * (values.MAX_STRING + 1))
    assert reply == f"That description is longer than {values.MAX_STRING} characters."
    assert game.since(mark) == []
    assert game.do(game.admin, "adesc sword A blade.") == "Description of a sword set."


def test_a_command_that_changes_nothing_is_not_recorded(game):
    game.do(game.admin, "acreate Sword")
    mark = len(game.sink.emitted)
    assert game.do(game.admin, "aput sword in here") == "Moved a sword into The Starting Room."
    assert game.since(mark) == []


def test_the_live_world_is_the_deciders_aggregates(game):
    for line in (
        "acreate Container a chest",
        "acreate Sword",
        "acreate Shirt",
        "get sword",
        "wield sword",
        "get shirt",
        "wear shirt",
        "put sword in chest",
        "acroom north Hall",
        "adelete chest",
    ):
        game.do(game.admin, line)
    rebuilt = GameState()
    rebuilt.update_from(game.manager.decider.aggregates.values())
    assert rebuilt == game.state


# ------------------------------------------------------------ reproduction 2
REPRODUCTION_2 = """\
@admin al
al: acreate Shirt a tunic
al: aset tunic @layer true
al: get tunic
al: wear tunic
"""


def _cli(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "sqlite",
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [sys.executable, "-m", "aethyr_domain.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


InProcess = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """:func:`_cli` without a new interpreter: ``aethyr-es``'s ``main`` in this process,
    with the same environment (only the flag and the SQLite store among the ``AETHYR_``
    keys), working directory and standard input. (The module's restart test, and many
    others, run the command line as a process.)"""
    for key in list(os.environ):
        if key.startswith("AETHYR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")

    def run(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_reproduction_2_layer_true_then_wear_no_dead_letter_and_restart_equals_live(tmp_path):
    """``aset tunic @layer true`` then ``wear tunic`` via ``aethyr-es play`` on SQLite.

    Before: the live world wore the tunic, the World refused ``EquipItem``, the command
    became a dead letter and after a restart the tunic was not worn. Now the game
    refuses it with the World's own rule: no dead letter, and a restart shows the world
    the game had.
    """
    played = _cli(["play", "--dump-world", "live.json"], tmp_path, REPRODUCTION_2)
    assert played.returncode == 0, played.stderr
    assert "al> wear tunic\n  'a tunic' has an invalid layer" in played.stdout
    stats = _cli(["stats", "--json"], tmp_path)
    assert stats.returncode == 0, stats.stderr
    outbox = json.loads(stats.stdout)["outbox"]
    assert outbox["dead_letters"] == 0 and outbox["backlog"] == 0
    restarted = _cli(["play", "--dump-world", "again.json"], tmp_path, "")
    assert restarted.returncode == 0, restarted.stderr
    live = (tmp_path / "live.json").read_text()
    assert (tmp_path / "again.json").read_text() == live
    replayed = _cli(["world", "--json"], tmp_path)
    assert replayed.stdout == live
    assert json.loads(live)["equipment"] == {}  # not worn, in the game or in the store


def test_an_out_of_range_value_typed_in_play_is_refused_and_nothing_is_stored(
    tmp_path: Path, cli_here: InProcess
) -> None:
    """Reproduction 1's input: the admin is told why, and the store never sees the value."""
    played = cli_here(
        ["play"], tmp_path, "@admin al\nal: aset here @n 99999999999999999999999999999\n"
    )
    assert played.returncode == 0, played.stderr
    assert "  Cannot set n: the value is an integer outside the signed 64-bit range" in (
        played.stdout
    )
    stats = json.loads(cli_here(["stats", "--json"], tmp_path).stdout)
    assert "GameObjectAttributeUpdated" not in stats["event_types"]
    assert stats["outbox"]["dead_letters"] == 0


def test_migrate_refuses_a_dump_holding_an_out_of_range_value_with_one_line(
    tmp_path: Path, cli_here: InProcess
) -> None:
    dump = {
        "format": "aethyr-world/1",
        "objects": [
            {
                "id": "box",
                "name": "a box",
                "generic": "box",
                "container": None,
                "attributes": {"n": 10**30},
                "deleted": False,
            }
        ],
        "players": {},
        "rooms": {},
        "inventories": {},
        "equipment": {},
    }
    (tmp_path / "dump.json").write_text(json.dumps(dump))
    migrated = cli_here(["migrate", "dump.json"], tmp_path)
    assert migrated.returncode == 2
    assert migrated.stderr == (
        "aethyr-es: cannot import dump.json: object 'box': attributes[n]: is an integer "
        f"outside the signed 64-bit range ({values.MIN_INT} to {values.MAX_INT})\n"
    )
    assert json.loads(cli_here(["stats", "--json"], tmp_path).stdout)["events"] == 0
