"""``serve`` delivers the outbox from a child process holding the writer lease
(``delivery_process``), its children run at a lower CPU priority (``background_nice``,
``background_idle``).

The child takes the game's lease over (one writer at a time), delivers every entry
exactly once, is drained and stopped at SIGTERM (the lease released), ends when the
game dies, and a child that dies stops the game (nothing is delivered any more);
``delivery_process = false`` keeps the thread.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aethyr_domain.cli.common import EXIT_LEASE_LOST
from aethyr_domain.cli.world import load_game_state
from aethyr_domain.config import ConfigError, ServerConfig
from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.process_priority import lower_priority
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.outbox.writer_lease import RELEASED_MS, WRITER, split
from aethyr_domain.read.world_dump import dumps
from tests.faults.support import boot_after_lease
from tests.game.outbox_support import outbox_sink
from tests.server.support import Client, alive, children, command
from tests.server.test_serve_cli import start_serve, start_serve_with, stop

ON_SQLITE = {
    "AETHYR_EVENT_SOURCING_ENABLED": "1",
    "AETHYR_EVENT_STORE": "sqlite",
    "AETHYR_OUTBOX_POLL_INTERVAL": "0.05",
    "AETHYR_SHUTDOWN_DRAIN_TIMEOUT": "30",
}
DELIVERY = "aethyr_domain.outbox.delivery_process"


def _delivery_children(pid: int) -> list[int]:
    return [child for child in children(pid) if DELIVERY in command(child)]


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def _nice_values(pid: int) -> set[int]:
    """The nice values of every thread of every child of ``pid``."""
    return {
        os.getpriority(os.PRIO_PROCESS, int(thread))
        for child in children(pid)
        for thread in os.listdir(f"/proc/{child}/task")
    }


def _policies(pid: int) -> set[int]:
    """The scheduling policies of every thread of every child of ``pid``."""
    return {
        os.sched_getscheduler(int(thread))
        for child in children(pid)
        for thread in os.listdir(f"/proc/{child}/task")
    }


def _wait_for(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def _config(tmp_path: Path, **changes: object) -> ServerConfig:
    values: dict[str, object] = dict(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "aethyr-events.sqlite"),
        outbox_path=str(tmp_path / "aethyr-outbox.sqlite"),
    )
    values.update(changes)
    return ServerConfig(**values)  # type: ignore[arg-type]


def _lease_stamp(config: ServerConfig) -> int:
    app = open_world(config)
    try:
        recorder: Any = app.recorder
        position = recorder.max_tracking_id(WRITER)
    finally:
        app.close()
    assert position is not None
    return split(position)[1]


def test_serve_delivers_from_a_child_at_a_lower_priority_and_drains_it_at_exit(
    tmp_path: Path,
) -> None:
    process, port = start_serve(tmp_path, **ON_SQLITE)
    try:
        (child,) = _delivery_children(process.pid)
        game_nice = os.getpriority(os.PRIO_PROCESS, process.pid)
        # the delivery and the projection, every thread of each, once each is ready
        assert len(children(process.pid)) == 2
        assert _wait_for(lambda: _nice_values(process.pid) == {min(game_nice + 10, 19)})
        assert _wait_for(lambda: _policies(process.pid) == {os.SCHED_IDLE})
        client = Client(port)
        client.login_new("Ann", "anns-password")
        for line in ("pose leaning on the wall", "gait strolls", "inventory", "look"):
            client.do(line)
        # delivered while the game runs, by the child (the game has no delivery thread)
        outbox = Outbox(tmp_path / "aethyr-outbox.sqlite")
        try:
            deadline = time.monotonic() + 30
            while outbox.backlog() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert outbox.backlog() == 0
            assert outbox.delivered_count() > 0
        finally:
            outbox.close()
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err, err
    assert not alive(child)
    config = _config(tmp_path)
    assert _lease_stamp(config) == RELEASED_MS  # the child released the lease at exit
    live = dumps(load_game_state(config, "live"))
    assert dumps(load_game_state(config, "replay")) == live
    assert dumps(load_game_state(config, "projection")) == live
    assert "leaning on the wall" in live


def test_delivery_process_off_keeps_the_thread(tmp_path: Path) -> None:
    process, port = start_serve(
        tmp_path,
        **ON_SQLITE,
        AETHYR_DELIVERY_PROCESS="0",
        AETHYR_BACKGROUND_NICE="0",
        AETHYR_BACKGROUND_IDLE="0",
    )
    try:
        assert _delivery_children(process.pid) == []
        game_nice = os.getpriority(os.PRIO_PROCESS, process.pid)
        (projection,) = children(process.pid)
        assert os.getpriority(os.PRIO_PROCESS, projection) == game_nice
        Client(port).login_new("Bea", "beas-password")
        assert _policies(process.pid) == {os.sched_getscheduler(process.pid)}
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert _lease_stamp(_config(tmp_path)) == RELEASED_MS
    config = _config(tmp_path)
    assert '"Bea"' in dumps(load_game_state(config, "replay"))


def test_sigterm_to_the_whole_group_still_drains_through_the_child(tmp_path: Path) -> None:
    """A service manager signals every process of the group: the child keeps delivering
    until the game, draining, closes its input."""
    process, port = start_serve_with(
        tmp_path, {**ON_SQLITE, "AETHYR_PROJECTIONS_ENABLED": "0"}, new_session=True
    )
    try:
        client = Client(port)
        client.login_new("Fay", "fays-password")
        client.do("pose by the window")
        os.killpg(process.pid, signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    assert "unexpectedly" not in err, err
    config = _config(tmp_path, projections_enabled=False)
    assert _lease_stamp(config) == RELEASED_MS
    outbox = Outbox(config.outbox_path)
    try:
        assert outbox.backlog() == 0
    finally:
        outbox.close()
    assert "by the window" in dumps(load_game_state(config, "replay"))


def test_the_child_ends_and_frees_the_lease_when_the_game_is_killed(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, **ON_SQLITE, AETHYR_PROJECTIONS_ENABLED="0")
    (child,) = _delivery_children(process.pid)
    Client(port).login_new("Cid", "cids-password")
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert _wait_gone(child)
    # no lease left behind: a new writer boots at once (the timeout would refuse it)
    manager = boot(_config(tmp_path, projections_enabled=False, writer_lease_timeout=600.0))
    try:
        assert outbox_sink(manager.sink).backlog() == 0
        assert manager.state.find_player_by_name("Cid") is not None
    finally:
        manager.close()


def test_a_dead_delivery_child_stops_the_game_and_loses_nothing(tmp_path: Path) -> None:
    # The lease timeout is short (boot below waits it out), but not 1 s: it also bounds
    # the delivery child's start (serve hands it the lease), and a loaded machine took
    # longer than 1 s to start a Python process ("serve did not start").
    process, port = start_serve(
        tmp_path, **ON_SQLITE, AETHYR_PROJECTIONS_ENABLED="0", AETHYR_WRITER_LEASE_TIMEOUT="3"
    )
    (child,) = _delivery_children(process.pid)
    client = Client(port)
    client.login_new("Dee", "dees-password")
    client.do("pose waiting")
    os.kill(child, signal.SIGKILL)
    try:
        process.wait(30)  # the game stops by itself: nobody would deliver what it decides
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == EXIT_LEASE_LOST
    assert process.stderr is not None
    assert "delivery process exited unexpectedly" in process.stderr.read()
    config = _config(tmp_path, projections_enabled=False, writer_lease_timeout=3.0)
    manager = boot_after_lease(config, wait=30.0)  # boot delivers what the outbox holds
    try:
        assert outbox_sink(manager.sink).backlog() == 0
        live = dumps(manager.state)
    finally:
        manager.close()
    assert dumps(load_game_state(config, "replay")) == live
    assert "waiting" in live


def test_background_nice_and_idle_are_checked_and_applied(tmp_path: Path) -> None:
    assert ServerConfig().background_nice == 10
    with pytest.raises(ConfigError, match="background_nice"):
        ServerConfig(background_nice=20)
    with pytest.raises(ConfigError, match="background_nice"):
        ServerConfig(background_nice=-1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only sleeps
        time.sleep(5)
        os._exit(0)
    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        assert lower_priority(pid, 0) is None
        assert os.getpriority(os.PRIO_PROCESS, pid) == before
        assert lower_priority(pid, 3) == min(before + 3, 19)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(before + 3, 19)
        assert lower_priority(pid, 19) == 19
        assert os.sched_getscheduler(pid) == os.sched_getscheduler(0)  # (inherited)
        assert lower_priority(pid, 0, idle=True) is None  # (no nice change)
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert ServerConfig().background_idle is True
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.immudb
def test_serve_on_immudb_delivers_from_the_child(
    tmp_path: Path, immudb_server: object, immudb_database: str
) -> None:
    host, port_ = immudb_server.host, immudb_server.port  # type: ignore[attr-defined]
    env = {
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "immudb",
        "AETHYR_IMMUDB_ADDRESS": host,
        "AETHYR_IMMUDB_PORT": str(port_),
        "AETHYR_IMMUDB_DATABASE": immudb_database,
        "AETHYR_OUTBOX_POLL_INTERVAL": "0.05",
        "AETHYR_SHUTDOWN_DRAIN_TIMEOUT": "60",
    }
    process, port = start_serve(tmp_path, **env)
    try:
        (child,) = _delivery_children(process.pid)
        client = Client(port)
        client.login_new("Eve", "eves-password")
        for line in ("pose by the door", "gait glides", "look"):
            client.do(line)
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err, err
    assert not alive(child)
    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="immudb",
        immudb_address=host,
        immudb_port=port_,
        immudb_database=immudb_database,
        outbox_path=str(tmp_path / "aethyr-outbox.sqlite"),
    )
    assert _lease_stamp(config) == RELEASED_MS
    live = dumps(load_game_state(config, "live"))
    assert dumps(load_game_state(config, "replay")) == live
    assert dumps(load_game_state(config, "projection")) == live
    assert "by the door" in live
