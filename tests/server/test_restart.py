"""A restart keeps the world: flag off (the game's own storage), flag on with SQLite and
with a real immudb. Players act through sockets; the server stops as on SIGTERM; the
world a new boot loads equals the world before (canonical dumps), and with event
sourcing on it also equals a replay of the log."""

from __future__ import annotations

import io

import pytest

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.session import ScriptRunner, boot
from aethyr_domain.read.world_dump import dumps
from tests.game.outbox_support import outbox_sink
from tests.server.support import RunningServer


def _play_a_while(config: ServerConfig) -> str:
    """Boot, make Ann an admin, let two players act over sockets, stop; the dump."""
    manager = boot(config)
    try:
        ScriptRunner(manager, io.StringIO()).run(["@admin ann", "ann: acroom west Yard"])
        server = RunningServer(manager, config)
        with server:
            bob = server.client()
            bob.login_new("Bob", "bobs-password")
            for line in ("acreate Sword", "get sword", "wield sword", "acroom north Hall"):
                bob.do(line)  # not an admin: refused, changes nothing
            cyd = server.client()
            cyd.login_new("Cyd", "cyds-password")
            cyd_player = manager.state.find_player_by_name("Cyd")
            assert cyd_player is not None
            server.server._game.submit(manager.set_admin, cyd_player.id, True).result()
            for line in (
                "acreate Sword a rusty sword",
                "get sword",
                "wield sword",
                "acreate Shirt a tunic",
                "get tunic",
                "wear tunic",
                "acroom north Hall",
                "north",
                "acreate Container a chest",
                "south",
            ):
                cyd.do(line)
        if manager.sink is not None:
            assert outbox_sink(manager.sink).backlog() == 0  # drained at shutdown
        return dumps(manager.state)
    finally:
        manager.close()


def _check_restart(config: ServerConfig) -> str:
    before = _play_a_while(config)
    assert "a rusty sword" in before and "Hall" in before
    again = boot(config)
    try:
        assert dumps(again.state) == before
    finally:
        again.close()
    return before


def test_restart_flag_off_keeps_the_world_in_storage(tmp_path):
    config = ServerConfig(storage_path=str(tmp_path / "world.sqlite"))
    _check_restart(config)


def test_restart_flag_on_sqlite(tmp_path):
    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "events.sqlite"),
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_poll_interval=0.05,
        projections_enabled=False,
    )
    before = _check_restart(config)
    _replay_equals(config, before)


@pytest.mark.immudb
def test_restart_flag_on_immudb(immudb_server, immudb_database, tmp_path):
    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="immudb",
        immudb_address=immudb_server.host,
        immudb_port=immudb_server.port,
        immudb_database=immudb_database,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_poll_interval=0.05,
        shutdown_drain_timeout=60.0,
    )
    before = _check_restart(config)
    _replay_equals(config, before)


def _replay_equals(config: ServerConfig, before: str) -> None:
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.read.replay import rebuild_world_state

    app = open_world(config)
    try:
        assert dumps(rebuild_world_state(app)) == before
    finally:
        app.close()
