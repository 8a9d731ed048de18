"""The CLI as an operator meets it: one line and an exit code for every input or
environment problem, never a traceback, and imports that are all or nothing."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.event_store import iter_notifications, open_world

NOT_UTF8 = b"ann: look\n\xff\xfe caf\xe9\n"


@pytest.fixture
def sqlite_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AETHYR_CONFIG", raising=False)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "ev.sqlite"))
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "ob.sqlite"))
    return tmp_path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("aethyr-es: "), err
    return lines[0]


# ---------------------------------------------------------------- encodings
def test_a_script_that_is_not_utf8_is_one_line_and_exit_2(sqlite_env, capsys):
    script = sqlite_env / "latin1.txt"
    script.write_bytes(NOT_UTF8)
    assert main(["play", "--script", str(script)]) == 2
    line = one_line_error(capsys)
    assert "not UTF-8" in line and str(script) in line
    assert not (sqlite_env / "ev.sqlite").exists()  # refused before the game booted


def test_a_config_file_that_is_not_utf8_is_one_line_and_exit_2(sqlite_env, capsys):
    config = sqlite_env / "aethyr.toml"
    config.write_bytes(b'start_room = "caf\xe9"\n')
    for argv in (["stats"], ["play", "--script", "/dev/null"]):
        assert main([*argv, "--config", str(config)]) == 2
        err = capsys.readouterr().err  # ConfigError's message: one line per bad key
        assert "Traceback" not in err
        assert err.startswith("aethyr-es: invalid configuration (1 problem(s))")
        assert "not UTF-8" in err and str(config) in err


def test_a_utf8_bom_at_the_start_of_a_script_is_ignored(sqlite_env, capsys):
    script = sqlite_env / "bom.txt"
    script.write_bytes(b"\xef\xbb\xbf@admin ann\nann: look\n")
    assert main(["play", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "* ann is now an admin" in out
    assert "expected '<player>: <command>'" not in out


def test_a_utf8_bom_at_the_start_of_standard_input_is_ignored(sqlite_env, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeff@admin ann\nann: look\n"))
    assert main(["play"]) == 0
    out = capsys.readouterr().out
    assert "* ann is now an admin" in out
    assert "expected '<player>: <command>'" not in out


# ------------------------------------------------------------------ metrics
def test_the_metrics_port_in_use_is_one_line_and_exit_2(sqlite_env, monkeypatch, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("AETHYR_METRICS_ENABLED", "1")
        monkeypatch.setenv("AETHYR_METRICS_PORT", str(port))
        assert main(["play", "--script", "/dev/null"]) == 2
    line = one_line_error(capsys)
    assert f"cannot serve metrics on 127.0.0.1:{port}" in line
    assert "in use" in line


def test_an_unresolvable_metrics_address_is_one_line_and_exit_2(sqlite_env, monkeypatch, capsys):
    # A name the resolver refuses without asking a DNS server (no traffic leaves the host).
    monkeypatch.setenv("AETHYR_METRICS_ENABLED", "1")
    monkeypatch.setenv("AETHYR_METRICS_ADDRESS", "no such host")
    assert main(["play", "--script", "/dev/null"]) == 2
    line = one_line_error(capsys)
    assert "cannot serve metrics on no such host:" in line
    assert "not known" in line


# ------------------------------------------------------------------ migrate
def _dump(objects: list[dict[str, Any]], inventories: dict[str, list[str]]) -> dict[str, Any]:
    players = {o["id"]: {"admin": False} for o in objects if o["generic"] == "player"}
    return {
        "format": "aethyr-world/1",
        "objects": objects,
        "inventories": inventories,
        "equipment": {},
        "players": players,
        "rooms": {"start-room": {"description": "A room.", "exits": {}}},
    }


def _obj(oid: str, name: str, generic: str, container: str | None, **attributes: Any) -> Any:
    return {
        "id": oid,
        "name": name,
        "generic": generic,
        "container": container,
        "deleted": False,
        "attributes": dict(attributes),
    }


def _many_things(count: int) -> list[dict[str, Any]]:
    """Enough valid objects (ids sorting before the bad ones) for 100+ commands."""
    return [
        _obj(f"a-{n:03d}", f"thing {n}", "thing", "start-room", colour=f"c{n}", weight=n)
        for n in range(count)
    ]


def _events(config: ServerConfig) -> int:
    app = open_world(config)
    try:
        return sum(1 for _ in iter_notifications(app))
    finally:
        app.close()


@pytest.mark.parametrize("problem", ["invalid player name", "containment cycle"])
def test_migrate_of_a_bad_dump_is_one_line_exit_2_and_imports_nothing(sqlite_env, capsys, problem):
    things = _many_things(40)
    room = _obj("start-room", "The Starting Room", "room", None)
    if problem == "invalid player name":
        bad = [_obj("z-player", "no spaces allowed!", "player", "start-room")]
        inventories = {"start-room": [t["id"] for t in things] + ["z-player"]}
    else:
        bad = [
            _obj("z-box", "a box", "container", "z-crate", is_container=True),
            _obj("z-crate", "a crate", "container", "z-box", is_container=True),
        ]
        inventories = {
            "start-room": [t["id"] for t in things],
            "z-box": ["z-crate"],
            "z-crate": ["z-box"],
        }
    dump = sqlite_env / "bad.json"
    dump.write_text(json.dumps(_dump([*things, room, *bad], inventories)))
    assert main(["migrate", str(dump)]) == 2
    line = one_line_error(capsys)
    assert "nothing was imported" in line
    assert _events(ServerConfig.load()) == 0  # atomic: not 64, not 1


def test_migrate_of_a_good_dump_still_imports_everything_once(sqlite_env, capsys):
    things = _many_things(5)
    player = _obj("p-ann", "ann", "player", "start-room")
    room = _obj("start-room", "The Starting Room", "room", None)
    dump = sqlite_env / "good.json"
    held = [t["id"] for t in things] + ["p-ann"]
    dump.write_text(json.dumps(_dump([*things, player, room], {"start-room": held})))
    assert main(["migrate", str(dump)]) == 0
    first = _events(ServerConfig.load())
    assert first > 5
    assert main(["migrate", str(dump)]) == 0
    assert _events(ServerConfig.load()) == first  # convergent: the second run adds nothing
    capsys.readouterr()
    assert main(["world", "--json"]) == 0
    world = json.loads(capsys.readouterr().out)
    assert sorted(o["id"] for o in world["objects"]) == sorted([*held, "start-room"])
    assert world["inventories"]["start-room"] == held


# -------------------------------------------------------------- stats, verify
def test_stats_on_an_unreachable_store_reports_it_and_exits_2(sqlite_env, monkeypatch, capsys):
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(sqlite_env / "no-such-dir" / "ev.sqlite"))
    assert main(["stats", "--json"]) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["store_health"].startswith("unreachable: ")
    assert report["outbox"]["backlog"] == 0
    assert err.startswith("aethyr-es: the event store is unreachable: ") and "Traceback" not in err
    assert main(["stats"]) == 2
    out, err = capsys.readouterr()
    assert "event store: sqlite (unreachable: " in out
    assert err.startswith("aethyr-es: the event store is unreachable: ")


def test_stats_on_a_reachable_store_exits_0(sqlite_env, capsys):
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["store_health"] == "ok"


@pytest.mark.immudb
def test_verify_of_an_unknown_aggregate_exits_2_and_trusts_nothing(tmp_path, monkeypatch, capsys):
    from aethyr_domain.commands import CreateRoom
    from tests.faults.support import immudb_config, write_config_file
    from tests.immudb_harness import fresh_database, server

    config = immudb_config(server(), fresh_database("vfy"), tmp_path)
    app = open_world(config)
    try:
        app.handle(CreateRoom("hall", "The Hall", "A hall."))
    finally:
        app.close()
    config_file = write_config_file(config, tmp_path / "aethyr.toml")
    assert main(["verify", "--config", str(config_file), "--aggregate", "no-such-id"]) == 2
    line = one_line_error(capsys)
    assert line == (
        "aethyr-es: no events of aggregate 'no-such-id' in the store: nothing to verify"
    )
    assert not Path(config.immudb_state_file).exists()  # no state trusted on the way
    assert main(["verify", "--config", str(config_file), "--aggregate", "hall"]) == 0
    assert "verified 2 event row(s) of aggregate 'hall'" in capsys.readouterr().out


# ------------------------------------------------------------------- config
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_server_config_refuses_non_finite_floats_from_the_environment(value):
    from aethyr_domain.config import ConfigError

    with pytest.raises(ConfigError) as info:
        ServerConfig.load(environ={"AETHYR_OUTBOX_POLL_INTERVAL": value})
    assert "outbox_poll_interval: must be a finite number" in str(info.value)


@pytest.mark.parametrize("key", ["outbox_drain_timeout", "retry_base_delay", "retry_max_delay"])
@pytest.mark.parametrize("value", ["nan", "inf", "+inf"])
def test_server_config_refuses_non_finite_floats_from_a_file(tmp_path, key, value):
    from aethyr_domain.config import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(f"{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        ServerConfig.load(path, environ={})
    assert f"{key}: must be a finite number" in str(info.value)


def test_server_config_refuses_non_finite_floats_given_directly():
    from aethyr_domain.config import ConfigError

    with pytest.raises(ConfigError, match="outbox_drain_timeout: must be a finite number"):
        ServerConfig(outbox_drain_timeout=float("inf"))
    assert ServerConfig(outbox_drain_timeout=0.0).outbox_drain_timeout == 0.0


# ---------------------------------------------------------- default password
@pytest.mark.immudb
def test_the_default_password_warning_names_the_key_aethyr_es_reads(tmp_path, caplog):
    import logging

    from aethyr_immudb_recorder import datastore
    from tests.faults.support import immudb_config
    from tests.immudb_harness import fresh_database, server

    srv = server()
    datastore._warned_default.discard(srv.address)
    caplog.set_level(logging.WARNING)
    app = open_world(immudb_config(srv, fresh_database("pw"), tmp_path))
    try:
        app.recorder.max_notification_id()
    finally:
        app.close()
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "default admin password" in r.getMessage()
    ]
    assert "immudb_password in the config file or AETHYR_IMMUDB_PASSWORD" in warning
    assert "set IMMUDB_PASSWORD" not in warning  # a key aethyr-es ignores
    assert "immuadmin" not in warning  # a tool the project does not ship
    assert "--admin-password" in warning  # the immudb server's flag (the launcher's binary)
