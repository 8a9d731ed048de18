"""Dead letters are loud and recoverable; a broken outbox never blocks a start
(issue "One truth", reproduction 5), through the ``aethyr-es`` command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aethyr_domain import commands as c
from aethyr_domain.cli.common import EXIT_DEAD_LETTERS
from aethyr_domain.cli.entry import main
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.queue import Outbox
from tests.game.outbox_support import decide


@pytest.fixture
def env(tmp_path, monkeypatch):
    """AETHYR_* for an sqlite store and an outbox under tmp_path; returns the paths."""
    paths = {"events": tmp_path / "events.sqlite", "outbox": tmp_path / "outbox.sqlite"}
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(paths["events"]))
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(paths["outbox"]))
    monkeypatch.setenv("AETHYR_PROJECTIONS_ENABLED", "0")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    return paths


def _world(paths):
    from aethyr_domain.config import ServerConfig

    return open_world(ServerConfig(event_store="sqlite", sqlite_path=str(paths["events"])))


def _seed(paths, *rooms: str) -> None:
    """Decided CreateRoom entries in the outbox, as a game that crashed left them."""
    app = _world(paths)
    outbox = Outbox(paths["outbox"])
    decider = Decider()
    for rid in rooms:
        decide(outbox, app.mapper, decider, c.CreateRoom(rid, rid.title(), ""))
    outbox.close()
    app.close()


# ----------------------------------------------------------- reproduction 5
def test_a_malformed_row_becomes_a_dead_letter_instead_of_blocking_the_start(env, capsys):
    _seed(env, "hall", "cellar", "attic")
    db = sqlite3.connect(env["outbox"])
    db.execute("UPDATE entries SET events = '{not json' WHERE seq = 2")
    db.commit()
    db.close()
    assert main(["play"]) == EXIT_DEAD_LETTERS  # the start is not blocked
    err = capsys.readouterr().err
    assert "1 command(s) of this session became dead letters" in err
    app = _world(env)
    try:
        assert {app.get(r).name for r in ("hall", "attic")} == {"Hall", "Attic"}
    finally:
        app.close()
    assert main(["outbox", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["pending"] == []
    [dead] = listing["dead"]
    assert dead["raw"] == "{not json" and "UndecodableEntryError" in dead["error"]
    assert main(["play"]) == 0  # an old dead letter warns, it does not fail the session
    assert "the outbox holds 1 dead letter(s)" in capsys.readouterr().err
    assert main(["outbox", "discard", str(dead["seq"])]) == 0
    assert "discarded" in capsys.readouterr().out
    assert main(["outbox", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dead"] == []


@pytest.mark.parametrize(
    "command",
    [["play"], ["stats"], ["world", "--json", "--source", "live"], ["outbox"]],
)
@pytest.mark.parametrize("content", ["text", "sqlite"])
def test_a_file_that_is_not_an_outbox_gives_one_line_and_exit_2(env, capsys, command, content):
    outbox: Path = env["outbox"]
    if content == "text":
        outbox.write_text("this is a shopping list, not an outbox\n" * 40)
    else:
        db = sqlite3.connect(outbox)
        db.execute("CREATE TABLE shopping (item TEXT)")
        db.commit()
        db.close()
    before = outbox.read_bytes()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an outbox" in err and "Traceback" not in err
    assert outbox.read_bytes() == before


# -------------------------------------------------------------- dead letters
def test_play_exits_3_when_its_session_made_dead_letters_and_retry_recovers(env, capsys):
    _seed(env, "hall", "cellar")
    app = _world(env)
    app.handle(c.CreateRoom("cellar", "Another cellar", ""))  # another path took the version
    app.close()
    assert main(["play"]) == EXIT_DEAD_LETTERS
    assert "see `aethyr-es outbox`" in capsys.readouterr().err
    assert main(["outbox"]) == 0
    out = capsys.readouterr().out
    assert "dead letters: 1" in out and "CreateRoom by system: IntegrityError" in out
    assert main(["outbox", "retry", "--all"]) == 0
    assert "1 dead letter(s) back in line" in capsys.readouterr().out
    assert main(["outbox", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [p["command"] for p in listing["pending"]] == ["CreateRoom"]
    assert listing["pending"][0]["events"] == 2


def test_outbox_command_errors_are_one_line(env, capsys):
    assert main(["outbox"]) == 2
    assert "there is no outbox" in capsys.readouterr().err
    _seed(env, "hall")
    for args, text in (
        (["outbox", "retry"], "give one dead letter ID or --all"),
        (["outbox", "retry", "7"], "no dead letter 7"),
        (["outbox", "discard"], "give one dead letter ID"),
        (["outbox", "discard", "x"], "expected a dead letter ID"),
    ):
        assert main(args) == 2
        assert text in capsys.readouterr().err
    assert main(["outbox"]) == 0
    assert "pending: 1" in capsys.readouterr().out


def test_stats_and_world_never_deliver(env, capsys):
    _seed(env, "hall")
    assert main(["stats", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outbox"]["backlog"] == 1 and report["events"] == 0
    assert main(["world", "--json", "--source", "live"]) == 0
    live = json.loads(capsys.readouterr().out)
    assert main(["world", "--json", "--source", "replay"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert "hall" in json.dumps(live) and "hall" not in json.dumps(replay)
    outbox = Outbox(env["outbox"])
    assert outbox.backlog() == 1 and outbox.delivered_count() == 0
    outbox.close()
