"""A projection never stops the game (issue 12).

Reproduction 1: a store holding an integer beyond 64 bits (recorded before the values
rule; the log cannot be edited) opens - ``play`` starts, answers and exits 0 - and
``project``, ``rebuild``, ``world --source projection`` and ``stats`` answer without a
traceback, on SQLite and on immudb. And when a view cannot apply an event, the game
still plays, ``stats`` names the event, and the next start gets past it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.session import ScriptRunner, boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read import projections
from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.read.projections.view import Rows
from tests.projections.legacy import REPRO_VALUE, record_legacy_attribute

FIRST = "@admin al\nal: look\n"
LATER = "al: look\nal: aset here @colour blue\n"


@pytest.fixture
def sqlite_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "ev.sqlite"))
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "ob.sqlite"))
    return tmp_path


@pytest.fixture
def immudb_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, immudb_server: Any, immudb_database: str
) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "immudb")
    monkeypatch.setenv("AETHYR_IMMUDB_ADDRESS", immudb_server.host)
    monkeypatch.setenv("AETHYR_IMMUDB_PORT", str(immudb_server.port))
    monkeypatch.setenv("AETHYR_IMMUDB_DATABASE", immudb_database)
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "ob.sqlite"))
    return tmp_path


def play(monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    return main(["play"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_reproduction_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    assert play(monkeypatch, FIRST) == 0
    config = ServerConfig.load(None)
    app = open_world(config)
    try:
        room = app.get(app.find_player_id("al") or "").container_id
        assert room is not None
        record_legacy_attribute(app, room, "n", REPRO_VALUE)  # a store from before the rule
    finally:
        app.close()
    capsys.readouterr()

    assert play(monkeypatch, LATER) == 0  # starts, answers, exits normally
    out, err = capsys.readouterr()
    assert "Set colour of" in out
    assert "Traceback" not in err and "cannot start" not in err

    code, replayed, err = run(capsys, "world", "--json", "--source", "replay")
    assert code == 0 and err == ""
    assert str(REPRO_VALUE) in replayed
    for argv in (
        ("world", "--json", "--source", "projection"),
        ("project", "--once"),
        ("project", "--duration", "0.5"),
        ("rebuild",),
        ("world", "--json", "--source", "projection"),  # from the rebuilt tables
    ):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
        assert "Traceback" not in err, argv
        if argv[0] == "world":
            assert out == replayed  # the projection gives the same world as the replay
    code, out, err = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["projection_faults"] == []


def test_reproduction_1_a_store_holding_a_huge_integer_still_plays_on_sqlite(
    sqlite_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    check_reproduction_1(monkeypatch, capsys)


@pytest.mark.immudb
def test_reproduction_1_a_store_holding_a_huge_integer_still_plays_on_immudb(
    immudb_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    check_reproduction_1(monkeypatch, capsys)


class RefusingSQLiteView(SQLiteWorldView):
    """A real SQLite view that cannot apply the events of one aggregate (``refuse``)
    while ``refuse`` is set, as a view whose store cannot take that object's rows."""

    refuse: str | None = None

    def apply(
        self,
        tracking: Tracking | None,
        change: Callable[[Rows], None],
        *,
        first: int | None = None,
    ) -> None:
        def guarded(rows: Rows) -> None:
            change(rows)
            refused = RefusingSQLiteView.refuse
            if refused is not None and rows.get("game_objects", (refused,)) is not None:
                row = rows.get("game_objects", (refused,))
                if row is not None and (row["attributes"] or {}).get("colour") == "blue":
                    msg = "cannot store a blue object"
                    raise ValueError(msg)

        super().apply(tracking, guarded, first=first)


def test_a_view_that_cannot_apply_an_event_does_not_stop_the_game(
    sqlite_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert play(monkeypatch, FIRST) == 0
    config = ServerConfig.load(None)
    topic = f"{RefusingSQLiteView.__module__}:{RefusingSQLiteView.__name__}"
    monkeypatch.setitem(projections._VIEWS, "eventsourcing.sqlite", topic)
    manager = boot(config)
    app = manager.projection.app  # the store's World (the live world's API may change)
    room = app.get(app.find_player_id("al")).container_id
    monkeypatch.setattr(RefusingSQLiteView, "refuse", room)
    out = io.StringIO()
    try:
        runner = ScriptRunner(manager, out)
        runner.run(["al: aset here @colour blue", "al: look", "al: aset here @size 3"])
        assert manager.sink is not None and manager.sink.drain(10)  # type: ignore[attr-defined]
        service = manager.projection
        assert service is not None

        def stuck() -> bool:
            return service.fault is not None

        deadline = 200
        while not stuck() and deadline:
            deadline -= 1
            service._stop.wait(0.05)
        fault = service.fault
        assert fault is not None and fault.aggregate_id == room
        runner.run(["al: look"])  # the game keeps answering
        assert out.getvalue().count("[The Starting Room]") >= 2

        code, text, err = run(capsys, "stats")
        assert code == 0
        assert "projection stuck: world_projection (generation 1) cannot apply event #" in text
        assert f"(aggregate {room}, version {fault.version})" in text
        assert "ValueError: cannot store a blue object" in text
        code, text, err = run(capsys, "stats", "--json")
        [reported] = json.loads(text)["projection_faults"]
        assert (reported["aggregate_id"], reported["version"]) == (room, fault.version)
        assert reported["notification_id"] == fault.notification_id
        assert reported["attempts"] >= 1

        code, text, err = run(capsys, "world", "--json", "--source", "projection")
        assert code == 2 and "Traceback" not in err
        assert err.startswith("aethyr-es: the read model cannot apply event #")
        assert "ValueError: cannot store a blue object" in err
        code, text, err = run(capsys, "project", "--once")
        assert code == 2 and "Traceback" not in err
        assert err.startswith("aethyr-es: the read model cannot apply event #")
    finally:
        manager.close()  # returns normally: nothing re-raised
    monkeypatch.setattr(RefusingSQLiteView, "refuse", None)  # the store recovers
    again = boot(config)
    try:
        assert again.projection is not None and again.projection.fault is None
    finally:
        again.close()
    code, text, err = run(capsys, "stats", "--json")
    assert json.loads(text)["projection_faults"] == []
    code, projected, err = run(capsys, "world", "--json", "--source", "projection")
    code, replayed, err = run(capsys, "world", "--json", "--source", "replay")
    assert projected == replayed and '"colour": "blue"' in replayed
