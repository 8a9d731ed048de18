"""The durable outbox: order, durability, dead letters, transient faults, and exactly-once
delivery across a SIGKILL of the game process."""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from aethyr_domain.config import ServerConfig
from aethyr_domain.delivery import deliver_pending, recover_in_flight
from aethyr_domain.event_sink import OutboxSink
from aethyr_domain.event_store import iter_notifications, last_version, open_world, topic_name
from aethyr_domain.outbox import Outbox

CHILD = Path(__file__).with_name("crash_child.py")


@pytest.fixture
def world(tmp_path):
    app = open_world(ServerConfig(event_store="sqlite", sqlite_path=str(tmp_path / "ev.sqlite")))
    yield app
    app.close()


def _room(outbox, rid, actor="system"):
    return outbox.append("CreateRoom", {"id": rid, "name": rid, "description": ""}, actor)


def test_entries_survive_reopen_in_order(tmp_path):
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    ids = [_room(outbox, f"r{i}") for i in range(5)]
    assert len(set(ids)) == 5
    outbox.close()
    again = Outbox(path)
    assert [e.command_id for e in again.pending(10)] == ids
    assert [e.fields["id"] for e in again.pending(2)] == ["r0", "r1"]
    assert again.backlog() == 5
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again.close()


def test_delivery_in_order_and_counters(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    _room(outbox, "a")
    _room(outbox, "b")
    outbox.append("AddRoomExit", {"id": "a", "direction": "n", "target_room_id": "b"}, "system")
    result = deliver_pending(outbox, world, batch_size=2)
    assert (result.delivered, outbox.backlog()) == (2, 1)
    deliver_pending(outbox, world)
    assert outbox.backlog() == 0 and outbox.delivered_count() == 3
    assert world.get("a").exits == {"north": "b"}


def test_refused_and_malformed_commands_become_dead_letters(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.append(
        "AddRoomExit", {"id": "nowhere", "direction": "n", "target_room_id": "x"}, "system"
    )
    outbox.append("NoSuchCommand", {"id": "x"}, "system")
    outbox.append("CreateRoom", {"id": "x", "name": ""}, "system")
    _room(outbox, "ok")
    result = deliver_pending(outbox, world)
    assert (result.delivered, result.dead) == (1, 3)
    dead = outbox.dead_letters()
    assert [d["command"] for d in dead] == ["AddRoomExit", "NoSuchCommand", "CreateRoom"]
    assert "NotFoundError" in dead[0]["error"]
    assert outbox.backlog() == 0


class FlakyWorld:
    """Delegates to a real World, but the first ``failures`` handles raise OperationalError."""

    def __init__(self, world, failures):
        self.world, self.failures = world, failures
        self.recorder = world.recorder

    def handle(self, command):
        if self.failures:
            self.failures -= 1
            raise OperationalError("connection reset")
        return self.world.handle(command)


def test_transient_fault_keeps_the_entry_first_in_line(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    _room(outbox, "a")
    _room(outbox, "b")
    flaky = FlakyWorld(world, failures=1)
    with pytest.raises(OperationalError):
        deliver_pending(outbox, flaky)
    assert [e.fields["id"] for e in outbox.pending(5)] == ["a", "b"]
    deliver_pending(outbox, flaky)
    assert outbox.backlog() == 0
    assert last_version(world, "a") == 2


class BlockingWorld:
    """Delegates to a real World; ``handle`` waits for ``release`` (a hung store call)
    and ``close`` is recorded (then closes the real World)."""

    def __init__(self, world):
        self.world = world
        self.recorder = world.recorder
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()
        self.used_after_close = False

    def handle(self, command):
        self.entered.set()
        assert self.release.wait(30), "the test never released the world"
        self.used_after_close = self.closed.is_set()
        return self.world.handle(command)

    def close(self):
        self.closed.set()
        self.world.close()


def _sink_config(tmp_path):
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "ev.sqlite"),
        outbox_path=str(tmp_path / "ob.sqlite"),
    )


def test_stop_leaves_closing_to_a_delivery_thread_stuck_in_a_round(tmp_path, caplog):
    """stop() times out while the thread is inside world.handle: neither the World nor
    the outbox is closed under it; the thread closes both when its round ends."""
    config = _sink_config(tmp_path)
    blocking = BlockingWorld(open_world(config))
    sink = OutboxSink.start(config, world_factory=lambda: blocking)
    sink.emit("CreateRoom", {"id": "hall", "name": "Hall", "description": ""}, "system")
    assert blocking.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.delivery"):
        sink.close(timeout=0.05)
    assert "still busy" in caplog.text
    assert not blocking.closed.is_set()
    assert sink.outbox.backlog() == 1  # the outbox is still open for the thread
    blocking.release.set()
    assert blocking.closed.wait(10)  # the thread closed the World as it left
    sink.deliverer._thread.join(10)
    assert not blocking.used_after_close
    with pytest.raises(sqlite3.ProgrammingError):  # ... and the outbox, after the World
        sink.outbox.backlog()
    again = Outbox(config.outbox_path)
    assert (again.backlog(), again.delivered_count(), again.dead_letters()) == (0, 1, [])
    again.close()
    check = open_world(config)
    assert check.get("hall").name == "Hall"
    check.close()


def test_stop_while_the_world_is_being_opened_closes_it_once_opened(tmp_path, caplog):
    config = _sink_config(tmp_path)
    opening, release = threading.Event(), threading.Event()
    blocking = BlockingWorld(open_world(config))
    blocking.release.set()

    def slow_factory():
        opening.set()
        assert release.wait(30)
        return blocking

    outbox_closed = threading.Event()
    sink = OutboxSink.start(config, world_factory=slow_factory)
    sink.after_close(outbox_closed.set)
    sink.emit("CreateRoom", {"id": "hall", "name": "Hall", "description": ""}, "system")
    assert opening.wait(10)
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.delivery"):
        sink.close(timeout=0.05)
    assert "still busy" in caplog.text
    assert not outbox_closed.is_set()
    release.set()
    assert blocking.closed.wait(10) and outbox_closed.wait(10)
    assert not blocking.entered.is_set()  # stopped: no round after the World opened
    again = Outbox(config.outbox_path)
    assert again.backlog() == 1  # still pending, for the next start
    again.close()


def test_stop_of_an_idle_thread_closes_at_once(tmp_path):
    config = _sink_config(tmp_path)
    blocking = BlockingWorld(open_world(config))
    blocking.release.set()
    sink = OutboxSink.start(config, world_factory=lambda: blocking)
    sink.emit("CreateRoom", {"id": "hall", "name": "Hall", "description": ""}, "system")
    assert sink.drain(10)
    closed = []
    assert sink.deliverer.stop(10, then=lambda: closed.append(True)) is True
    assert blocking.closed.is_set() and closed == [True]


def test_in_flight_marker_settles_an_interrupted_delivery(tmp_path, world):
    from aethyr_domain.delivery import build_command

    outbox = Outbox(tmp_path / "o.sqlite")
    _room(outbox, "a")
    outbox.append("UpdateRoomDescription", {"id": "a", "description": "x"}, "system")
    first, second = outbox.pending(2)
    # crashed after the World applied the entry: recovered as delivered, not re-run
    outbox.mark_in_flight(first, 0)
    world.handle(build_command(first))
    assert recover_in_flight(outbox, world) == 1
    assert [e.seq for e in outbox.pending(5)] == [second.seq]
    # crashed before the World applied it: delivered again (once)
    outbox.mark_in_flight(second, last_version(world, "a"))
    assert recover_in_flight(outbox, world) == 0
    deliver_pending(outbox, world)
    assert last_version(world, "a") == 3
    assert outbox.in_flight() is None


def _events(events_path):
    app = open_world(ServerConfig(event_store="sqlite", sqlite_path=str(events_path)))
    try:
        return Counter(topic_name(n.topic) for n in iter_notifications(app)), app.get("room-0")
    finally:
        app.close()


def _expected(rooms, descriptions):
    return Counter(
        {
            "GameObjectCreated": rooms,
            "RoomCreated": rooms,
            "RoomDescriptionUpdated": rooms * descriptions,
        }
    )


def _child(tmp_path, rooms, descriptions, kill_at):
    return [
        sys.executable,
        str(CHILD),
        str(tmp_path / "o.sqlite"),
        str(tmp_path / "ev.sqlite"),
        str(rooms),
        str(descriptions),
        str(kill_at),
    ]


@pytest.mark.parametrize("kill_at", [0, 5, 13])
def test_sigkill_between_apply_and_mark_delivers_exactly_once(tmp_path, kill_at):
    rooms, descriptions = 4, 4
    done = subprocess.run(
        _child(tmp_path, rooms, descriptions, kill_at), capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    outbox = Outbox(tmp_path / "o.sqlite")
    assert outbox.in_flight() is not None  # the crash left its marker
    assert outbox.backlog() == rooms * (descriptions + 1) - kill_at
    outbox.close()
    again = subprocess.run(
        _child(tmp_path, rooms, descriptions, -1), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    counts, room = _events(tmp_path / "ev.sqlite")
    assert counts == _expected(rooms, descriptions)
    assert room.description == f"v{descriptions - 1}"
    outbox = Outbox(tmp_path / "o.sqlite")
    assert outbox.backlog() == 0 and outbox.dead_letters() == []
    assert outbox.delivered_count() == rooms * (descriptions + 1)


def test_sigkill_at_random_moments_still_exactly_once(tmp_path):
    rooms, descriptions = 10, 9
    total = rooms * (descriptions + 1)
    rng = random.Random(20261128)
    kills = 0
    delivered = 0
    for _round in range(40):  # bounded: each round delivers at least one entry
        if delivered >= total - 10:
            break
        proc = subprocess.Popen(
            _child(tmp_path, rooms, descriptions, -2), stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        for _ in range(rng.randint(1, 15)):
            if proc.stdout.readline().strip() != "D":
                break  # pragma: no cover - the child finished early
            delivered += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += proc.returncode == -signal.SIGKILL
    final = subprocess.run(
        _child(tmp_path, rooms, descriptions, -1), capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    counts, _room = _events(tmp_path / "ev.sqlite")
    assert counts == _expected(rooms, descriptions)
    outbox = Outbox(tmp_path / "o.sqlite")
    assert outbox.backlog() == 0 and outbox.dead_letters() == []
    assert outbox.delivered_count() == total
    assert kills >= 3
