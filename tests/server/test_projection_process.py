"""``serve`` runs the world projection as a child process (``projection_process``):
started after boot, stopped after the outbox drained once it applied the whole log, and
gone with a killed server; ``projection_process = false`` keeps it in process."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from aethyr_domain.cli.world import load_game_state
from aethyr_domain.config import ServerConfig
from aethyr_domain.read.world_dump import dumps
from tests.server.support import Client, alive, children, command
from tests.server.test_serve_cli import start_serve, stop

ON_SQLITE = {
    "AETHYR_EVENT_SOURCING_ENABLED": "1",
    "AETHYR_EVENT_STORE": "sqlite",
    "AETHYR_OUTBOX_POLL_INTERVAL": "0.05",
    "AETHYR_SHUTDOWN_DRAIN_TIMEOUT": "30",
}


def _projections(pid: int) -> list[int]:
    """The children of ``pid`` running ``project`` (``serve`` also starts its outbox
    delivery as a child: ``tests/server/test_delivery_process.py``)."""
    return [child for child in children(pid) if "project" in command(child)]


def _config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "aethyr-events.sqlite"),
        outbox_path=str(tmp_path / "aethyr-outbox.sqlite"),
    )


def test_serve_runs_the_projection_as_a_child_caught_up_at_exit(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, **ON_SQLITE)
    try:
        (child,) = _projections(process.pid)
        client = Client(port)
        client.login_new("Ann", "anns-password")
        for line in ("look", "pose leaning on the wall", "inventory", "gait strolls"):
            client.do(line)
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err, err
    assert "before the log's head" not in err, err
    assert not alive(child)
    config = _config(tmp_path)
    live = dumps(load_game_state(config, "live"))
    assert dumps(load_game_state(config, "replay")) == live
    assert dumps(load_game_state(config, "projection")) == live
    assert '"Ann"' in live


def test_projection_process_off_keeps_the_projection_in_the_game(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, **ON_SQLITE, AETHYR_PROJECTION_PROCESS="0")
    try:
        assert _projections(process.pid) == []
        Client(port).login_new("Bea", "beas-password")
    finally:
        code, err = stop(process)
    assert code == 0, err
    config = _config(tmp_path)
    assert dumps(load_game_state(config, "projection")) == dumps(load_game_state(config, "replay"))


def test_the_child_stops_when_the_server_is_killed(tmp_path: Path) -> None:
    process, _port = start_serve(tmp_path, **ON_SQLITE)
    (child,) = _projections(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 30
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
