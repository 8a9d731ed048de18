"""Group commit through the real server (flag on, SQLite store, plain sockets).

* Actions queued while the game thread is busy form ONE group: one flush, the
  replies after it, and the store records them in the order they arrived.
* SIGKILL right after a group's flush and before its replies: the players saw no
  reply, yet their actions happened - after a restart the outbox delivers each
  entry exactly once, and the world equals a replay of the log.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aethyr_domain import commands, passwords
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.manager import SYSTEM, Manager
from aethyr_domain.game.session import boot
from aethyr_domain.object_classes import lookup
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps
from tests.faults.support import boot_after_lease
from tests.server.support import Client, RunningServer, wait_for

NAMES = ("ann", "bob", "cyd")
PASSWORD = "group-pw"
CHILD = Path(__file__).with_name("group_crash_child.py")


def crash_config(folder: Path) -> ServerConfig:
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(folder / "events.sqlite"),
        outbox_path=str(folder / "outbox.sqlite"),
        checkpoint_interval=0,
        projections_enabled=False,
        writer_lease_timeout=1.0,
        idle_timeout=60.0,
    )


def seed(manager: Manager) -> dict[str, str]:
    """Three players in the start room, each with a pebble; name -> id."""
    prop = lookup("Prop")
    assert prop is not None
    hashed = passwords.hash_password(PASSWORD, n=2**4)
    room = manager.ensure_start_room().id
    players = {}
    for name in NAMES:
        pid = manager.new_id()
        manager._change(commands.CreatePlayer, SYSTEM, id=pid, name=name, password_hash=hashed)
        manager.move_object(pid, room, actor=SYSTEM)
        manager.create_object(prop, room, name=f"pebble-{name}", vars={"movable": True})
        players[name] = pid
    return players


def store_versions(config: ServerConfig) -> list[tuple[str, int]]:
    app = open_world(config)
    try:
        notifications = app.recorder.select_notifications(start=1, limit=100_000)
        return [(str(n.originator_id), n.originator_version) for n in notifications]
    finally:
        app.close()


def test_actions_queued_while_the_game_is_busy_are_one_group_in_arrival_order(tmp_path):
    config = crash_config(tmp_path)
    manager = boot(config)
    players = seed(manager)
    pebbles = {
        name: manager.find(f"pebble-{name}", [manager.ensure_start_room().id]) for name in NAMES
    }
    groups: list[int] = []
    try:
        with RunningServer(manager, config) as running:
            running.server.after_commit = groups.append
            clients: dict[str, Client] = {}
            for name in NAMES:
                clients[name] = running.client()
                clients[name].login(name, PASSWORD)
            gate = threading.Event()
            running.server._game.submit(gate.wait)  # the game thread is busy
            order = ("cyd", "ann", "bob")
            for count, name in enumerate(order, start=1):
                clients[name].send(f"get pebble-{name}")
                wait_for(lambda count=count: len(running.server._queue) == count)
            time.sleep(0.1)
            assert all(b"You take" not in c.received for c in clients.values())
            gate.set()
            for name in order:
                clients[name].expect(f"You take pebble-{name}.")
            assert groups == [3]  # one flush for the three actions
            sink: Any = manager.sink
            assert sink.drain(30)
            for client in clients.values():
                client.close()
        live = dumps(manager.state)
    finally:
        manager.close()
    log = store_versions(config)
    last = {oid: index for index, (oid, _version) in enumerate(log)}
    positions = [last[pebbles[name].id] for name in order]  # type: ignore[union-attr]
    assert positions == sorted(positions)
    app = open_world(config)
    try:
        assert dumps(rebuild_world_state(app)) == live
    finally:
        app.close()
    assert players.keys() == set(NAMES)


def test_sigkill_after_the_flush_before_the_replies_loses_no_action(tmp_path):
    config = crash_config(tmp_path)
    manager = boot(config)
    players = seed(manager)
    pebbles = {
        name: manager.find(f"pebble-{name}", [manager.ensure_start_room().id]).id  # type: ignore[union-attr]
        for name in NAMES
    }
    sink: Any = manager.sink
    assert sink.drain(30)
    manager.close()

    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("PORT "), line
        port = int(line.split()[1])
        clients = {name: Client(port) for name in NAMES}
        for name, client in clients.items():
            client.login(name, PASSWORD)
        for name, client in clients.items():  # within the first group's hold
            client.send(f"get pebble-{name}")
        assert child.stdout.readline().strip() == "FLUSHED 3"
        assert child.wait(30) == -9
        for client in clients.values():
            assert client.closed_by_server()
            assert b"You take" not in client.received  # no reply reached anyone
            client.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    outbox = Outbox(config.outbox_path)
    # The group's three entries are on disk (the delivery thread may have raced the
    # kill with some of them: then they are in the store, and in the outbox too).
    assert outbox.backlog() <= 3
    outbox.close()

    again = boot_after_lease(config, wait=30.0)  # boot delivers what the outbox holds
    try:
        for name in NAMES:
            assert [o.id for o in again.state.inventory(players[name])] == [pebbles[name]]
        live = dumps(again.state)
        sink = again.sink
        assert sink.backlog() == 0
    finally:
        again.close()
    log = store_versions(config)
    assert [key for key, count in Counter(log).items() if count > 1] == []  # exactly once
    for oid, versions in _versions_by_id(log).items():
        assert versions == list(range(1, len(versions) + 1)), oid  # nothing missing
    app = open_world(config)
    try:
        assert dumps(rebuild_world_state(app)) == live
    finally:
        app.close()


def _versions_by_id(log: list[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for oid, version in log:
        out.setdefault(oid, []).append(version)
    return out
