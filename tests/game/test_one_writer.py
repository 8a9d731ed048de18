"""One writer per store, exactly-once delivery and read-only reads (issue "One truth",
reproductions 3 and 4), on the embedded stores; the lease's rules with a fake clock.

Reproduction 3: two game processes with separate outboxes on one store lost commands
(the second writer's retries marked commands delivered without recording them). Now
the second process is refused by the store's writer lease before it changes anything,
and a writer whose lease was taken over cannot append (fencing).

Reproduction 4: ``world --json --source live`` during play delivered the game's
outbox (duplicates for ever in an append-only log), and so did a second process
sharing the outbox. Now ``world`` is read-only and the second process is refused.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from aethyr_domain import commands as c
from aethyr_domain.config import ServerConfig
from aethyr_domain.events import RoomDescriptionUpdated
from aethyr_domain.game.session import BootError, ScriptRunner, boot
from aethyr_domain.outbox.delivery import Deliverer, deliver_pending
from aethyr_domain.outbox.event_store import iter_notifications, open_world
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.outbox.writer_lease import (
    EPOCH_SHIFT,
    RELEASED_MS,
    WRITER,
    LeaseHeldError,
    LeaseLostError,
    WriterLease,
    split,
)
from aethyr_domain.read.world_dump import dumps
from tests.game.outbox_support import outbox_sink

ROOT = Path(__file__).parents[2]


def _config(tmp_path: Path, outbox: str = "outbox.sqlite", **extra) -> ServerConfig:
    values: dict[str, Any] = {
        "event_sourcing_enabled": True,
        "event_store": "sqlite",
        "sqlite_path": str(tmp_path / "events.sqlite"),
        "outbox_path": str(tmp_path / outbox),
        "outbox_poll_interval": 0.05,
        "projections_enabled": False,
    }
    values.update(extra)
    return ServerConfig(**values)


def _env(config: ServerConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AETHYR_EVENT_SOURCING_ENABLED": "1",
            "AETHYR_EVENT_STORE": config.event_store,
            "AETHYR_SQLITE_PATH": config.sqlite_path,
            "AETHYR_OUTBOX_PATH": config.outbox_path,
            "AETHYR_PROJECTIONS_ENABLED": "0",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    return env


def _cli(config: ServerConfig, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aethyr_domain.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(config),
        cwd=ROOT,
        timeout=120,
    )


def _keys(config: ServerConfig) -> Counter[tuple[str, int]]:
    app = open_world(config)
    try:
        return Counter(
            (str(n.originator_id), n.originator_version) for n in iter_notifications(app)
        )
    finally:
        app.close()


def _descriptions(config: ServerConfig, room: str) -> list[str]:
    app = open_world(config)
    try:
        return [
            e.description
            for e in (app.mapper.to_domain_event(n) for n in iter_notifications(app))
            if str(e.originator_id) == room and isinstance(e, RoomDescriptionUpdated)
        ]
    finally:
        app.close()


# ----------------------------------------------------------- reproduction 3
def test_a_second_game_process_with_its_own_outbox_is_refused_before_it_writes(tmp_path):
    config = _config(tmp_path)
    first = boot(config)
    try:
        runner = ScriptRunner(first, io.StringIO())
        runner.run(["@admin al"])
        second = _cli(
            config.replace(outbox_path=str(tmp_path / "second.sqlite")),
            "play",
            stdin="@admin bo\n" + "".join(f"bo: adesc here second {n}\n" for n in range(50)),
        )
        assert second.returncode == 2, second.stderr
        assert "another writer" in second.stderr and "writer_lease_timeout" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "second.sqlite").exists()  # not even its outbox was made
        runner.run([f"al: adesc here first {n}" for n in range(100)])
        assert outbox_sink(first.sink).drain(30)
    finally:
        first.close()
    descriptions = _descriptions(config, config.start_room)
    assert descriptions == [f"first {n}" for n in range(100)]
    assert max(_keys(config).values()) == 1


def test_in_process_second_boot_is_refused_and_the_first_keeps_writing(tmp_path):
    config = _config(tmp_path)
    first = boot(config)
    try:
        with pytest.raises(BootError, match="another writer"):
            boot(config.replace(outbox_path=str(tmp_path / "other.sqlite")))
        ScriptRunner(first, io.StringIO()).run(["@admin al", "al: adesc here still mine"])
        assert outbox_sink(first.sink).drain(30)
    finally:
        first.close()
    assert _descriptions(config, config.start_room) == ["still mine"]
    again = boot(config)  # released at the clean exit: the next start takes it at once
    again.close()


@pytest.mark.parametrize("store", ["popo", "sqlite"])
def test_a_fenced_writer_cannot_append(tmp_path, store):
    """A writer paused past the timeout (its heartbeat stopped) lost its lease to the
    next one: its next append is refused and nothing of it is stored."""
    app = open_world(_config(tmp_path, event_store=store))
    try:
        clock = [1_000_000]
        old = WriterLease.acquire(app.recorder, timeout=1.0, clock=lambda: clock[0])
        old.append(_created(app, "a"))
        clock[0] += 1_100  # paused for longer than the timeout
        new = WriterLease.acquire(app.recorder, timeout=1.0, clock=lambda: clock[0])
        assert new.epoch == old.epoch + 1
        before = app.recorder.max_notification_id()
        with pytest.raises(LeaseLostError, match="lost its lease"):
            old.append(_created(app, "b"))
        with pytest.raises(LeaseLostError):  # and every later append too
            old.heartbeat()
        assert app.recorder.max_notification_id() == before
        assert app.recorder.select_events("b") == []
        new.append(_created(app, "b"))
        assert old.release() is False  # a lost lease is not released
        assert new.release() is True
    finally:
        app.close()


def _created(app, rid: str) -> list[StoredEvent]:
    from aethyr_domain.decision import Decider

    decision = Decider().decide(c.CreateRoom(rid, rid, ""))
    return [app.mapper.to_stored_event(e) for e in decision.events]


# --------------------------------------------------------------- the lease
@pytest.fixture
def recorder(tmp_path):
    app = open_world(_config(tmp_path))
    yield app.recorder
    app.close()


def test_a_live_lease_refuses_a_second_writer_without_writing(recorder):
    clock = [5_000_000]
    holder = WriterLease.acquire(recorder, timeout=15.0, clock=lambda: clock[0])
    clock[0] += 14_000
    position = recorder.max_tracking_id(WRITER)
    with pytest.raises(LeaseHeldError, match=r"last heartbeat 14\.0s ago"):
        WriterLease.acquire(recorder, timeout=15.0, clock=lambda: clock[0])
    assert recorder.max_tracking_id(WRITER) == position
    holder.heartbeat()  # the holder keeps it ...
    clock[0] += 14_000
    with pytest.raises(LeaseHeldError):  # ... 28 s after it was taken
        WriterLease.acquire(recorder, timeout=15.0, clock=lambda: clock[0])


def test_a_crashed_writers_lease_is_taken_over_after_the_timeout(recorder):
    clock = [5_000_000]
    crashed = WriterLease.acquire(recorder, timeout=15.0, clock=lambda: clock[0])
    clock[0] += 15_001  # no heartbeat for longer than the timeout
    WriterLease.acquire(recorder, timeout=15.0, clock=lambda: clock[0])
    epoch, stamp = split(recorder.max_tracking_id(WRITER))
    assert (epoch, stamp) == (crashed.epoch + 1, clock[0])


def test_release_lets_the_next_writer_in_at_once(recorder):
    lease = WriterLease.acquire(recorder, timeout=15.0)
    assert lease.release() is True
    assert recorder.max_tracking_id(WRITER) == (lease.epoch << EPOCH_SHIFT) | RELEASED_MS
    nxt = WriterLease.acquire(recorder, timeout=15.0)
    assert nxt.epoch == lease.epoch + 1
    with pytest.raises(LeaseLostError):
        lease.append([])


def test_two_writers_claiming_the_same_stale_lease_cannot_both_win(recorder):
    """Both read the lease before either claimed it: the claims go to the same position
    (epoch << 42), so the store takes one and refuses the other."""

    class StaleRead:
        def __init__(self, real, seen):
            self.real, self.seen = real, seen

        def max_tracking_id(self, name):
            return self.seen

        def __getattr__(self, name):
            return getattr(self.real, name)

    seen = recorder.max_tracking_id(WRITER)
    winner = WriterLease.acquire(recorder, timeout=15.0)
    with pytest.raises(LeaseHeldError, match="at the same moment"):
        WriterLease.acquire(StaleRead(recorder, seen), timeout=15.0)
    winner.append([])  # the winner still holds it


def test_the_heartbeat_keeps_an_idle_lease(recorder):
    lease = WriterLease.acquire(recorder, timeout=0.2).start_heartbeat()
    try:
        start = recorder.max_tracking_id(WRITER)
        deadline = time.monotonic() + 10
        while recorder.max_tracking_id(WRITER) == start:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(LeaseHeldError):
            WriterLease.acquire(recorder, timeout=0.2)
    finally:
        lease.release()


# ----------------------------------------------------------- reproduction 4
def test_world_live_during_play_reads_without_delivering(tmp_path):
    """``world --source live`` shows what the game decided, delivers nothing; the game
    then records every command exactly once."""
    config = _config(tmp_path)
    game = boot(config)
    try:
        runner = ScriptRunner(game, io.StringIO())
        runner.run(["@admin al"])
        sink = outbox_sink(game.sink)
        assert sink.drain(30)
        sink.deliverer.stop(10)  # pause delivery: entries stay in the outbox
        runner.run([f"al: adesc here pending {n}" for n in range(150)])
        backlog = sink.backlog()
        assert backlog == 150
        before = _keys(config)
        shown = _cli(config, "world", "--json", "--source", "live")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout) == json.loads(dumps(game.state))
        assert _keys(config) == before  # nothing delivered
        assert sink.backlog() == backlog
        replay = _cli(config, "world", "--json", "--source", "replay")
        assert "pending 149" not in replay.stdout
        while sink.outbox.backlog():
            deliver_pending(sink.outbox, _world_of(game), lease=sink.lease)
    finally:
        game.close()
    assert _descriptions(config, config.start_room) == [f"pending {n}" for n in range(150)]
    assert max(_keys(config).values()) == 1


def _world_of(game):
    """The World the game's sink delivers to (its factory returns the boot's World)."""
    deliverer = outbox_sink(game.sink).deliverer
    assert isinstance(deliverer, Deliverer)
    return deliverer.world_factory()


def test_a_second_process_sharing_the_outbox_is_refused_and_delivers_nothing(tmp_path):
    config = _config(tmp_path)
    game = boot(config)
    try:
        runner = ScriptRunner(game, io.StringIO())
        runner.run(["@admin al"])
        sink = outbox_sink(game.sink)
        assert sink.drain(30)
        sink.deliverer.stop(10)
        runner.run([f"al: adesc here mine {n}" for n in range(150)])
        before = _keys(config)
        other = _cli(config, "play", stdin="@admin bo\nbo: adesc here theirs\n")
        assert other.returncode == 2 and "another writer" in other.stderr
        assert _keys(config) == before and sink.backlog() == 150
        outbox = Outbox(config.outbox_path)
        assert outbox.backlog() == 150
        outbox.close()
        while sink.outbox.backlog():
            deliver_pending(sink.outbox, _world_of(game), lease=sink.lease)
    finally:
        game.close()
    assert _descriptions(config, config.start_room) == [f"mine {n}" for n in range(150)]
    assert max(_keys(config).values()) == 1


# ------------------------------------------------------ migrate and rebuild
def test_migrate_is_refused_while_the_game_writes(tmp_path, monkeypatch, capsys):
    from aethyr_domain.cli.entry import main

    config = _config(tmp_path)
    dump = tmp_path / "dump.json"
    game = boot(config)
    try:
        ScriptRunner(game, io.StringIO()).run(["@admin al", "al: acroom north The Armoury"])
        assert outbox_sink(game.sink).drain(30)
        dump.write_text(dumps(game.state), encoding="utf-8")
        for key, value in _env(config).items():
            if key.startswith("AETHYR_"):
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "events.sqlite"))
        before = _keys(config)
        assert main(["migrate", str(dump)]) == 2
        assert "another writer" in capsys.readouterr().err
        assert _keys(config) == before
    finally:
        game.close()
    assert main(["migrate", str(dump)]) == 0  # released at the game's clean exit
    assert "0 command(s)" in capsys.readouterr().out


def test_a_second_rebuild_is_refused_while_one_runs(tmp_path, monkeypatch, capsys):
    from aethyr_domain.cli.entry import main
    from aethyr_domain.outbox.writer_lease import REBUILD

    config = _config(tmp_path)
    for key, value in _env(config).items():
        if key.startswith("AETHYR_"):
            monkeypatch.setenv(key, value)
    app = open_world(config)
    try:
        running = WriterLease.acquire(app.recorder, name=REBUILD, what="rebuild")
        assert main(["rebuild"]) == 2
        err = capsys.readouterr().err
        assert "another rebuild is writing" in err and err.count("\n") == 1
        running.release()
        assert main(["rebuild"]) == 0
        assert "rebuilt the read model" in capsys.readouterr().out
    finally:
        app.close()


class _OldWorld:
    """A World as earlier versions built it: the factory's application recorder (no
    tracking table)."""

    @staticmethod
    def open(config: ServerConfig):
        from aethyr_domain.application import World

        class OldWorld(World):
            name = "World"  # the same tables

            def construct_recorder(self):
                return self.factory.application_recorder()

        return OldWorld(env=config.eventsourcing_env())


def test_a_store_written_by_an_earlier_version_opens_and_takes_the_lease(tmp_path):
    config = _config(tmp_path)
    old = _OldWorld.open(config)
    old.handle(c.CreateRoom("hall", "Hall", ""))
    old.close()
    app = open_world(config)
    try:
        assert app.get("hall").name == "Hall"
        lease = WriterLease.acquire(app.recorder)
        lease.append(_created(app, "cellar"))
        assert app.get("cellar").name == "cellar"
        assert lease.release()
    finally:
        app.close()


def test_a_game_that_lost_its_lease_stops_delivering_and_knows_it(tmp_path, capsys):
    from aethyr_domain.cli.common import EXIT_LEASE_LOST
    from aethyr_domain.cli.play import play_exit_code

    config = _config(tmp_path, writer_lease_timeout=0.5)
    game = boot(config)
    other = open_world(config)
    try:
        runner = ScriptRunner(game, io.StringIO())
        runner.run(["@admin al"])
        sink = outbox_sink(game.sink)
        assert sink.drain(30)
        assert sink.lease is not None
        sink.lease.stop_heartbeat()  # as if the process were paused
        time.sleep(0.7)
        taker = WriterLease.acquire(other.recorder, timeout=0.5)
        before = _keys(config)
        runner.run(["al: adesc here written while paused"])
        assert sink.drain(10) is False
        assert sink.lost is not None and "lost its lease" in sink.lost
        assert _keys(config) == before  # fenced: nothing reached the store
        assert sink.backlog() == 1  # kept for a later start
        assert play_exit_code(game, config) == EXIT_LEASE_LOST
        assert "lost its lease" in capsys.readouterr().err
        taker.release()
    finally:
        game.close()
        other.close()
