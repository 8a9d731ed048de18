"""``aethyr-es users`` and the game end to end as least-privilege immudb users.

An admin makes a ``readwrite`` user (password from a file) and a ``read`` user (password
on standard input); the game plays as the first, the read-only commands run as the
second, and a write as the second is refused without writing anything.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest

from aethyr_domain.cli.entry import main
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

PASSWORD = "Game-User-9!"

SCRIPT = """\
@admin ann
ann: acroom north Hall
ann: acreate Sword
bo: get sword
bo: wield sword
bo: north
"""


@pytest.fixture
def store(monkeypatch, tmp_path):
    """AETHYR_* pointing at the session's server, a fresh database, the admin's login."""
    srv = server()
    database = fresh_database("cli")
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "EVENT_SOURCING_ENABLED": "1",
        "EVENT_STORE": "immudb",
        "IMMUDB_ADDRESS": srv.host,
        "IMMUDB_PORT": str(srv.port),
        "IMMUDB_DATABASE": database,
        "IMMUDB_STATE_FILE": str(tmp_path / "state.json"),
        "OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
        "OUTBOX_DRAIN_TIMEOUT": "60",
    }.items():
        monkeypatch.setenv(f"AETHYR_{key}", value)
    return tmp_path


def _login_as(monkeypatch, name: str, password_file) -> None:
    monkeypatch.setenv("AETHYR_IMMUDB_USERNAME", name)
    monkeypatch.setenv("AETHYR_IMMUDB_PASSWORD_FILE", str(password_file))


def test_game_runs_as_readwrite_user_and_reads_as_read_user(store, monkeypatch, capsys):
    writer, reader = f"w{uuid.uuid4().hex[:8]}", f"r{uuid.uuid4().hex[:8]}"
    secret = store / "password"
    secret.write_text(PASSWORD + "\n")  # the way container secrets are mounted
    assert (
        main(
            ["users", "create", writer, "--permission", "readwrite", "--password-file", str(secret)]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", reader, "--permission", "read"]) == 0
    assert main(["users", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out
    listed = {u["name"]: u for u in json.loads(out[out.index("[") :])}
    database = listed[writer]["permissions"]
    assert list(database.values()) == ["readwrite"]
    assert list(listed[reader]["permissions"].values()) == ["read"]

    _login_as(monkeypatch, writer, secret)
    script = store / "s.txt"
    script.write_text(SCRIPT)
    dump = store / "world.json"
    assert main(["play", "--script", str(script), "--dump-world", str(dump)]) == 0
    capsys.readouterr()

    # `world --source projection` first brings the read model up to date: a write
    assert main(["world", "--json", "--source", "projection"]) == 0
    assert capsys.readouterr().out == dump.read_text()

    _login_as(monkeypatch, reader, secret)
    for source in ("replay", "projection"):  # the read model is up to date: reads only
        assert main(["world", "--json", "--source", source]) == 0
        assert capsys.readouterr().out == dump.read_text()
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store_health"] == "ok" and stats["events"] > 0
    assert main(["verify"]) == 0
    assert "trusted state saved" in capsys.readouterr().out
    objects = json.loads(dump.read_text())["objects"]
    sword = next(obj["id"] for obj in objects if "sword" in obj["name"].lower())
    assert main(["history", sword]) == 0
    capsys.readouterr()

    # a write as the read user: one clear line, exit code 2, nothing written
    assert main(["migrate", str(dump)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "permission" in err and PASSWORD not in err
    assert main(["play", "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "permission" in err and PASSWORD not in err
    _login_as(monkeypatch, writer, secret)
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == stats["events"]


def test_users_create_refuses_a_weak_password_and_prints_nothing_secret(store, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("weakpass\n"))
    assert main(["users", "create", "someone", "--permission", "read"]) == 2
    captured = capsys.readouterr()
    assert "too weak" in captured.err and "weakpass" not in captured.err + captured.out


def test_an_unreadable_password_file_is_a_configuration_error(store, monkeypatch, capsys):
    monkeypatch.setenv("AETHYR_IMMUDB_PASSWORD_FILE", str(store / "missing"))
    assert main(["world", "--json"]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and "Traceback" not in err
    assert "immudb_password_file: the file" in err and "does not exist" in err
    unreadable = store / "unreadable"
    unreadable.write_text(PASSWORD)
    unreadable.chmod(0)
    monkeypatch.setenv("AETHYR_IMMUDB_PASSWORD_FILE", str(unreadable))
    import os

    if os.geteuid() != 0:  # root reads any file
        assert main(["world", "--json"]) == 2
        assert "is not readable" in capsys.readouterr().err
