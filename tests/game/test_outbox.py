"""The durable outbox: order, durability, dead letters, transient faults and recovery of an
in-flight batch. (Exactly-once delivery across a SIGKILL of the game process is a fault
test: ``tests/faults/test_outbox_crash.py``.)"""

from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from aethyr_domain import commands as c
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.delivery import (
    Deliverer,
    build_command,
    deliver_pending,
    is_stored,
)
from aethyr_domain.outbox.event_sink import OutboxSink
from aethyr_domain.outbox.event_store import (
    iter_notifications,
    last_version,
    open_world,
)
from aethyr_domain.outbox.queue import NotAnOutboxError, Outbox
from aethyr_domain.room import Room
from tests.game.outbox_support import decide


@pytest.fixture
def world(tmp_path):
    app = open_world(ServerConfig(event_store="sqlite", sqlite_path=str(tmp_path / "ev.sqlite")))
    yield app
    app.close()


def _room(outbox, rid, actor="system"):
    """A command row of the earlier format (decided at delivery)."""
    return outbox.append("CreateRoom", {"id": rid, "name": rid, "description": ""}, actor)


def _count(world):
    return sum(1 for _ in iter_notifications(world))


def test_entries_survive_reopen_in_order(tmp_path, world):
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    decider = Decider()
    ids = [decide(outbox, world.mapper, decider, c.CreateRoom(f"r{i}", "R", "")) for i in range(5)]
    assert len(set(ids)) == 5
    assert decide(outbox, world.mapper, decider, c.UpdateGameObjectContainer("r0", None)) is None
    outbox.close()
    again = Outbox(path)
    assert [e.entry_id for e in again.pending(10)] == ids
    assert [e.aggregate_id for e in again.pending(2)] == ["r0", "r1"]
    assert [len(e.events or ()) for e in again.pending(1)] == [2]  # GameObject + Room created
    assert again.backlog() == 5
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again.close()


def test_a_round_is_one_group_commit_and_stores_the_decided_bytes(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    decide(outbox, world.mapper, decider, c.CreateRoom("b", "B", ""))
    decide(outbox, world.mapper, decider, c.AddRoomExit("a", "n", "b"))
    pending = outbox.pending(10)
    result = deliver_pending(outbox, world, batch_size=2)
    assert (result.delivered, result.appends, outbox.backlog()) == (2, 1, 1)
    deliver_pending(outbox, world)
    assert outbox.backlog() == 0 and outbox.delivered_count() == 3
    assert world.get("a").exits == {"north": "b"}
    for entry in pending:
        assert all(is_stored(world, event) for event in entry.events or ())


def test_a_refused_entry_is_set_aside_and_the_rest_of_its_batch_goes_in(tmp_path, world):
    """Another writer took the version one entry's event needs: that entry (only) becomes
    a dead letter; the store never gets it twice nor drops the others."""
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    for rid in ("a", "b", "c", "d"):
        decide(outbox, world.mapper, decider, c.CreateRoom(rid, rid.upper(), ""))
    world.handle(c.CreateRoom("c", "taken by another writer", ""))
    result = deliver_pending(outbox, world, batch_size=10)
    assert (result.delivered, result.dead) == (3, 1)
    [dead] = outbox.dead_letters()
    assert dead["command"] == "CreateRoom" and "IntegrityError" in dead["error"]
    assert world.get("c").name == "taken by another writer"
    assert {world.get(r).name for r in "abd"} == {"A", "B", "D"}
    assert outbox.backlog() == 0


def test_refused_and_malformed_command_rows_become_dead_letters(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.append(
        "AddRoomExit", {"id": "nowhere", "direction": "n", "target_room_id": "x"}, "system"
    )
    outbox.append("NoSuchCommand", {"id": "x"}, "system")
    outbox.append("CreateRoom", {"id": "x", "name": ""}, "system")
    _room(outbox, "ok")
    while outbox.backlog():
        deliver_pending(outbox, world)
    dead = outbox.dead_letters()
    assert [d["command"] for d in dead] == ["AddRoomExit", "NoSuchCommand", "CreateRoom"]
    assert "NotFoundError" in dead[0]["error"]
    assert outbox.delivered_count() == 1 and world.get("ok").name == "ok"


def test_an_outbox_of_the_earlier_format_is_delivered_once(tmp_path, world):
    """Command rows (and the earlier in-flight marker) written by an earlier version."""
    outbox = Outbox(tmp_path / "o.sqlite")
    _room(outbox, "a")
    outbox.append("UpdateRoomDescription", {"id": "a", "description": "x"}, "system")
    outbox.append("UpdateRoomDescription", {"id": "a", "description": "y"}, "system")
    first = outbox.pending(1)[0]
    outbox.mark_in_flight(first, 0)  # an earlier version crashed after handling it
    world.handle(build_command(first))
    while outbox.backlog():
        deliver_pending(outbox, world)
    assert last_version(world, "a") == 4 and world.get("a").description == "y"
    assert outbox.in_flight() is None and outbox.dead_letters() == []
    assert outbox.delivered_count() == 3


class FlakyRecorder:
    """Delegates to a real recorder; the first ``failures`` inserts raise OperationalError
    (``after=True``: after the real insert committed, as a timeout would)."""

    def __init__(self, recorder, failures, *, after=False):
        self.recorder, self.failures, self.after = recorder, failures, after

    def insert_events(self, events, **kwargs):
        if self.failures and not self.after:
            self.failures -= 1
            raise OperationalError("connection reset")
        result = self.recorder.insert_events(events, **kwargs)
        if self.failures:
            self.failures -= 1
            raise OperationalError("timed out waiting for the reply")
        return result

    def __getattr__(self, name):
        return getattr(self.recorder, name)


class FlakyWorld:
    """A real World whose recorder is a :class:`FlakyRecorder`."""

    def __init__(self, world, failures, *, after=False):
        self.world = world
        self.recorder = FlakyRecorder(world.recorder, failures, after=after)
        self.mapper = world.mapper

    def __getattr__(self, name):
        return getattr(self.world, name)


@pytest.mark.parametrize("after", [False, True])
def test_transient_fault_keeps_the_entries_and_never_doubles_them(tmp_path, world, after):
    """Before or after the store committed, a failed append is settled by the store."""
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "x"))
    flaky = FlakyWorld(world, failures=1, after=after)  # stands in for the World
    with pytest.raises(OperationalError):
        deliver_pending(outbox, flaky)  # type: ignore[arg-type]
    assert outbox.needs_recovery  # the outcome is unknown: the next round asks the store
    assert outbox.in_flight_batch() is None  # and nothing was written to the outbox for it
    assert [e.aggregate_id for e in outbox.pending(5)] == ["a", "a"]
    result = deliver_pending(outbox, flaky)  # type: ignore[arg-type]
    assert (result.recovered, result.delivered) == ((2, 0) if after else (0, 2))
    assert outbox.backlog() == 0 and outbox.delivered_count() == 2
    assert last_version(world, "a") == 3 and _count(world) == 3


def test_a_row_that_cannot_be_decoded_becomes_a_dead_letter_with_its_raw_text(tmp_path, world):
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    decide(outbox, world.mapper, decider, c.CreateRoom("b", "B", ""))
    outbox.close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE entries SET events = '[{\"broken' WHERE seq = 1")
    raw.commit()
    raw.close()
    outbox = Outbox(path)
    result = deliver_pending(outbox, world)
    assert (result.delivered, result.dead) == (1, 1)
    [dead] = outbox.listing()["dead"]
    assert dead["raw"] == '[{"broken' and "UndecodableEntryError" in dead["error"]
    assert world.get("b").name == "B"
    assert outbox.retry(dead["seq"]) and outbox.backlog() == 1
    assert deliver_pending(outbox, world).dead == 1  # still broken: set aside again
    assert outbox.discard(dead["seq"]) and outbox.dead_letters() == []
    outbox.close()


def test_a_file_that_is_not_an_outbox_is_refused_and_left_untouched(tmp_path, world):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not a database at all " * 50)
    with pytest.raises(NotAnOutboxError, match="is not an outbox"):
        Outbox(text)
    assert text.read_bytes() == b"not a database at all " * 50
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE something (x)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(NotAnOutboxError, match="other tables: something"):
        Outbox(other)
    assert other.read_bytes() == before


def test_retry_puts_a_dead_letter_back_in_line(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    world.handle(c.CreateRoom("a", "other", ""))
    assert deliver_pending(outbox, world).dead == 1
    [dead] = outbox.dead_letters()
    assert outbox.retry(dead["seq"]) is True and outbox.retry(dead["seq"]) is False
    assert [e.seq for e in outbox.pending(5)] == [dead["seq"]]
    assert deliver_pending(outbox, world).dead == 1  # the version is still taken
    assert outbox.discard(dead["seq"]) is True and outbox.discard(dead["seq"]) is False


class BlockingRecorder:
    """Delegates to a real recorder; ``insert_events`` waits for ``release`` first."""

    def __init__(self, owner, recorder):
        self.owner, self.recorder = owner, recorder

    def insert_events(self, events, **kwargs):
        self.owner.entered.set()
        assert self.owner.release.wait(30), "the test never released the world"
        self.owner.used_after_close = self.owner.closed.is_set()
        return self.recorder.insert_events(events, **kwargs)

    def __getattr__(self, name):
        return getattr(self.recorder, name)


class BlockingWorld:
    """Delegates to a real World; appends wait for ``release`` (a hung store call)
    and ``close`` is recorded (then closes the real World)."""

    def __init__(self, world):
        self.world = world
        self.recorder = BlockingRecorder(self, world.recorder)
        self.mapper = world.mapper
        self.snapshot_threshold = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()
        self.used_after_close = False

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
    # ``blocking`` stands in for the World (it delegates to a real one).
    sink = OutboxSink.start(config, world_factory=lambda: blocking)  # type: ignore[arg-type,return-value]
    sink.record(Decider().decide(c.CreateRoom("hall", "Hall", "", actor="system")))
    assert blocking.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.outbox.delivery"):
        sink.close(timeout=0.05)
    assert "still busy" in caplog.text
    assert not blocking.closed.is_set()
    assert sink.outbox.backlog() == 1  # the outbox is still open for the thread
    blocking.release.set()
    assert blocking.closed.wait(10)  # the thread closed the World as it left
    assert isinstance(sink.deliverer, Deliverer)
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
    sink.record(Decider().decide(c.CreateRoom("hall", "Hall", "", actor="system")))
    assert opening.wait(10)
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.outbox.delivery"):
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
    # ``blocking`` stands in for the World (it delegates to a real one).
    sink = OutboxSink.start(config, world_factory=lambda: blocking)  # type: ignore[arg-type,return-value]
    sink.record(Decider().decide(c.CreateRoom("hall", "Hall", "", actor="system")))
    assert sink.drain(10)
    closed = []
    assert sink.deliverer.stop(10, then=lambda: closed.append(True)) is True
    assert blocking.closed.is_set() and closed == [True]


def test_recovery_asks_the_store_not_the_aggregate_version(tmp_path, world):
    """Reproduction 3's root cause: another writer moved the aggregate while our batch
    was in flight and failed. The earlier recovery saw the version move and marked the
    entry delivered without recording it; the store check delivers it (or, here, where
    the other writer took its very version, sets it aside loudly)."""
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    world.handle(c.CreateRoom("a", "A", ""))
    decider.aggregates["a"] = world.repository.get("a")
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "ours"))
    [entry] = outbox.pending(1)
    outbox.mark_batch_in_flight(entry.seq, entry.seq, 1)  # then the append failed
    world.handle(c.UpdateRoomDescription("a", "theirs"))  # another writer moved "a"
    result = deliver_pending(outbox, world)
    assert (result.recovered, result.delivered, result.dead) == (0, 0, 1)
    assert "IntegrityError" in outbox.dead_letters()[0]["error"]
    assert outbox.in_flight_batch() is None


class CrashError(Exception):
    """Stands in for a crash between the store's commit and the outbox's mark."""


def _crash(entry):
    raise CrashError(entry.seq)


def test_a_lost_delivered_mark_is_found_again_in_the_store(tmp_path, world):
    """The marks are committed without a flush: a power cut may lose them. The entries
    they marked are in the store, so the next opening of the outbox marks them again
    instead of recording them twice."""
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "x"))
    deliver_pending(outbox, world)  # settles the new outbox (nothing stored yet)
    assert not outbox.needs_recovery
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "y"))
    with pytest.raises(CrashError):  # the store committed; the marks never happened
        deliver_pending(outbox, world, after_handle=_crash)
    assert outbox.backlog() == 1 and _count(world) == 4
    outbox.close()
    again = Outbox(path)
    assert again.needs_recovery
    result = deliver_pending(again, world)
    assert (result.recovered, result.delivered, result.appends) == (1, 0, 0)
    assert again.backlog() == 0 and _count(world) == 4 and again.delivered_count() == 3
    assert world.get("a").description == "y"
    again.close()


def test_recovery_stops_at_the_first_entry_the_store_lacks(tmp_path, world):
    """The head the store holds is marked at once; the rest is delivered; an entry past
    that point that the store holds anyway is found by the version clash, never
    recorded twice."""
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    decider = Decider()
    for i in range(3):
        decide(outbox, world.mapper, decider, c.CreateRoom(f"r{i}", "R", ""))
    e0, _e1, e2 = outbox.pending(3)
    world.recorder.insert_events(  # r0 and r2 took effect; r1 did not
        [
            StoredEvent(e.originator_id, e.originator_version, e.topic, e.state)
            for entry in (e0, e2)
            for e in entry.events or ()
        ]
    )
    result = deliver_pending(outbox, world)
    assert (result.recovered, result.delivered, result.dead) == (1, 2, 0)
    assert outbox.backlog() == 0 and outbox.dead_letters() == []
    assert _count(world) == 6  # GameObjectCreated + RoomCreated per room, once each


def test_delivered_marks_skip_the_flush_and_leave_the_game_s_commits_flushed(tmp_path, world):
    """One outbox transaction per round, without a flush; the connection the game's
    appends use stays at ``synchronous=FULL``."""
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    seen: list[str] = []
    outbox._db.set_trace_callback(seen.append)
    deliver_pending(outbox, world)
    outbox._db.set_trace_callback(None)
    writes = [sql for sql in seen if sql.split()[0] in {"INSERT", "DELETE", "UPDATE", "BEGIN"}]
    assert sum(sql.startswith("BEGIN") for sql in writes) == 1  # the mark, nothing before
    assert seen.index("PRAGMA synchronous=NORMAL") < seen.index("COMMIT")
    assert seen.index("COMMIT") < seen.index("PRAGMA synchronous=FULL")
    assert outbox._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert outbox.backlog() == 0 and outbox.delivered_count() == 1


def test_delivery_snapshots_aggregates_that_cross_the_threshold(tmp_path):
    config = ServerConfig(
        event_store="sqlite", sqlite_path=str(tmp_path / "ev.sqlite"), snapshot_threshold=10
    )
    app = open_world(config)
    try:
        outbox = Outbox(tmp_path / "o.sqlite")
        decider = Decider()
        decide(outbox, app.mapper, decider, c.CreateRoom("a", "A", ""))
        for n in range(25):
            decide(outbox, app.mapper, decider, c.UpdateRoomDescription("a", f"d{n}"))
        while outbox.backlog():
            deliver_pending(outbox, app, batch_size=8)
        assert app.snapshots is not None
        snapshots = [s.originator_version for s in app.snapshots.recorder.select_events("a")]
        assert snapshots == [10, 20]
        room = app.get("a")
        assert isinstance(room, Room)
        assert room.description == "d24" and room.version == 27
        outbox.close()
    finally:
        app.close()
