"""aethyr-es play / world / stats / migrate, configured through AETHYR_* and --config."""

from __future__ import annotations

import io
import json

import pytest

from aethyr_domain.cli.entry import main
from aethyr_domain.read.world_dump import dumps

SCRIPT = """\
# comment lines and blank lines are ignored

@admin ann
ann: acroom north Hall
ann: acreate Sword
bo: get sword
bo: wield sword
bo: north
nonsense line without colon
"""


@pytest.fixture
def sqlite_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "ev.sqlite"))
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "ob.sqlite"))
    return tmp_path


def test_play_dump_equals_world_json_from_replay_live_and_projection(sqlite_env, capsys):
    script = sqlite_env / "s.txt"
    script.write_text(SCRIPT)
    dump = sqlite_env / "world.json"
    assert main(["play", "--script", str(script), "--dump-world", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "* ann is now an admin" in out
    assert "bo> wield sword" in out and "firmly in your right hand" in out
    assert "line 9: expected '<player>: <command>'" in out
    for source in ("replay", "live", "projection"):
        assert main(["world", "--json", "--source", source]) == 0
        assert capsys.readouterr().out == dump.read_text()
    data = json.loads(dump.read_text())
    assert [o["id"] for o in data["objects"]] == sorted(o["id"] for o in data["objects"])


def test_play_reads_stdin_and_stats(sqlite_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("cy: look\ncy: i\n"))
    assert main(["play"]) == 0
    assert "cy> look" in capsys.readouterr().out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store_health"] == "ok"
    assert stats["event_types"]["PlayerCreated"] == 1
    assert stats["aggregates"] >= 3
    assert stats["outbox"]["backlog"] == 0 and stats["outbox"]["delivered"] >= 3
    assert main(["stats"]) == 0
    text = capsys.readouterr().out
    assert "outbox: backlog 0" in text and "PlayerCreated" in text


def test_migrate_cli_twice(sqlite_env, capsys, monkeypatch):
    script = sqlite_env / "s.txt"
    script.write_text(SCRIPT)
    dump = sqlite_env / "world.json"
    assert main(["play", "--script", str(script), "--dump-world", str(dump)]) == 0
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(sqlite_env / "other.sqlite"))
    capsys.readouterr()
    assert main(["migrate", str(dump)]) == 0
    assert "already present" in capsys.readouterr().out
    assert main(["migrate", str(dump)]) == 0
    assert ": 0 command(s)" in capsys.readouterr().out
    assert main(["world", "--json"]) == 0
    assert capsys.readouterr().out == dump.read_text()


def test_migrate_cli_reports_a_store_that_loses_writes(sqlite_env, capsys, monkeypatch):
    from aethyr_domain.application import World
    from aethyr_domain.errors import NotFoundError

    script = sqlite_env / "s.txt"
    script.write_text(SCRIPT)
    dump = sqlite_env / "world.json"
    assert main(["play", "--script", str(script), "--dump-world", str(dump)]) == 0
    lost = json.loads(dump.read_text())["objects"][0]["id"]
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(sqlite_env / "other.sqlite"))
    real_get = World.get

    def forgetful_get(self, object_id):  # this store never shows one object
        if object_id == lost:
            raise NotFoundError(object_id)
        return real_get(self, object_id)

    monkeypatch.setattr(World, "get", forgetful_get)
    capsys.readouterr()
    assert main(["migrate", str(dump)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aethyr-es: object {lost!r} is missing from the event store")
    assert "Traceback" not in err


def test_flag_off_play_and_config_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text('start_room = "lobby"\noutbox_path = "never.sqlite"\n')
    script = tmp_path / "s.txt"
    script.write_text("dee: look\n")
    dump = tmp_path / "w.json"
    assert (
        main(["play", "--config", str(config), "--script", str(script), "--dump-world", str(dump)])
        == 0
    )
    assert "[The Starting Room]" in capsys.readouterr().out
    assert "lobby" in json.loads(dump.read_text())["rooms"]
    assert not (tmp_path / "never.sqlite").exists()


def test_bad_configuration_and_inputs_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_IMMUDB_PORT", "zero")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "mongo")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert "immudb_port" in err and "event_store" in err
    monkeypatch.delenv("AETHYR_IMMUDB_PORT")
    monkeypatch.delenv("AETHYR_EVENT_STORE")
    assert main(["play", "--script", str(tmp_path / "missing.txt")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    assert main(["migrate", str(bad)]) == 2
    assert "invalid world dump" in capsys.readouterr().err


UNOPENABLE = (
    "aethyr-es: cannot open the event store: InterfaceError: unable to open database file\n"
)


def test_an_unopenable_store_is_one_message_with_exit_2_everywhere(sqlite_env, monkeypatch, capsys):
    """world (every source), migrate, play and the projection commands say the same thing."""
    from aethyr_domain.game_state import GameState

    dump = sqlite_env / "world.json"
    dump.write_text(dumps(GameState()))
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(sqlite_env / "no-such-dir" / "ev.sqlite"))
    for argv in (
        ["world", "--json"],
        ["world", "--json", "--source", "live"],
        ["migrate", str(dump)],
        ["play", "--script", str(dump)],  # boot fails before the script is read
        # the projections' commands too
        ["world", "--json", "--source", "projection"],
        ["world", "--json", "--at", "1"],
        ["schema"],
        ["rebuild"],
        ["rebuild", "--cleanup"],
        ["project", "--once"],
        ["history", "some-id"],
    ):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert (out, err) == ("", UNOPENABLE), argv


def test_verify_on_an_unreachable_immudb_says_it_cannot_open_the_store(
    tmp_path, monkeypatch, capsys
):
    from aethyr_immudb_recorder.launcher import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "immudb")
    monkeypatch.setenv("AETHYR_IMMUDB_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("AETHYR_RETRY_ATTEMPTS", "0")
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aethyr-es: cannot open the event store: OperationalError: ")
    assert "immudb server unavailable" in err and "Traceback" not in err


def test_boot_and_the_cli_share_the_wording(tmp_path):
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.game.session import BootError, boot
    from aethyr_domain.outbox.event_store import open_world_or_raise

    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "no-such-dir" / "ev.sqlite"),
        outbox_path=str(tmp_path / "ob.sqlite"),
    )
    with pytest.raises(BootError) as booting:
        boot(config)
    with pytest.raises(KeyError) as opening:
        open_world_or_raise(config, KeyError)
    assert str(booting.value) == UNOPENABLE.removeprefix("aethyr-es: ").rstrip("\n")
    assert opening.value.args == (str(booting.value),)
    assert booting.value.__cause__ is None and booting.value.__suppress_context__


def test_a_read_model_newer_than_the_code_is_one_line_with_exit_2(sqlite_env, monkeypatch, capsys):
    from aethyr_domain.read.projections import migrations

    assert main(["schema"]) == 0  # creates the read model at the code's version
    capsys.readouterr()
    original = migrations.MIGRATIONS
    future = migrations.Migration(len(original) + 1, "from the future", ())
    monkeypatch.setattr(migrations, "MIGRATIONS", (*original, future))
    assert main(["schema"]) == 0  # newer code migrates it one version further
    capsys.readouterr()
    monkeypatch.setattr(migrations, "MIGRATIONS", original)
    for argv in (["schema"], ["world", "--json", "--source", "projection"], ["rebuild"]):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "", argv
        assert err.startswith("aethyr-es: ") and "only knows" in err, (argv, err)
        assert "Traceback" not in err
