"""Background WAL checkpoints (:mod:`aethyr_domain.outbox.wal_checkpoints`): the outbox's
and the storage's commits never copy the log back themselves; a thread of their own does,
the log file is reused instead of growing, and a failure is logged, never raised.

Real SQLite files in a temporary folder; the checks wait for the thread by polling its
counter (bounded), never by sleeping a fixed time.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from aethyr_domain.game.storage import WorldStorage
from aethyr_domain.outbox.queue import Outbox, OutboxEvent
from aethyr_domain.outbox.wal_checkpoints import SAFETY_NET_PAGES, WalCheckpointer
from aethyr_domain.room import Room

#: A page-sized state, so that each entry adds about one page to the log.
STATE = os.urandom(3000)


def _append(outbox: Outbox, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        event = OutboxEvent(f"agg-{n}", 1, "tests:Event", STATE)
        outbox.append_events_many([("Cmd", "actor", [event])])


def _wait_for(checkpointer: WalCheckpointer, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while checkpointer.checkpoints < count:
        assert time.monotonic() < deadline, f"no checkpoint {count} within {timeout} s"
        time.sleep(0.01)


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_writers_connection_leaves_checkpoints_to_the_thread(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    storage = WorldStorage(tmp_path / "world.sqlite")
    try:
        for db in (outbox._db, storage._db):
            assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_NET_PAGES
        # nothing written yet: no thread
        assert outbox.wal_checkpointer._thread is None
        assert storage.wal_checkpointer._thread is None
    finally:
        outbox.close()
        storage.close()


def test_a_commit_leaves_its_pages_in_the_log_until_the_thread_copies_them(tmp_path):
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    checkpointer = outbox.wal_checkpointer
    checkpointer.interval = 3600.0  # the thread waits: only the commits run
    try:
        before = path.stat().st_size
        _append(outbox, 300)  # about 300 pages: under the safety net
        assert path.stat().st_size == before  # no commit copied anything back
        assert _wal_size(path) > 300 * 3000
        assert checkpointer.checkpoint()  # the copy the thread would make
        assert path.stat().st_size > before + 300 * 3000
    finally:
        outbox.close()


def test_the_thread_checkpoints_after_commits_and_the_log_is_reused(tmp_path):
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    checkpointer = outbox.wal_checkpointer
    checkpointer.interval = 0.05
    try:
        _append(outbox, 200)
        _wait_for(checkpointer, 1)
        size = _wal_size(path)
        assert size > 200 * 3000
        _append(outbox, 1, start=200)  # starts the log again from its beginning
        _wait_for(checkpointer, checkpointer.checkpoints + 1)
        for round_ in range(3):  # the same amount again, three times: the log keeps its size
            _append(outbox, 200, start=1000 * (round_ + 1))
            _wait_for(checkpointer, checkpointer.checkpoints + 1)
            _append(outbox, 1, start=1000 * (round_ + 1) + 500)
            _wait_for(checkpointer, checkpointer.checkpoints + 1)
        # reused: four times as much was written since; a log that grew would be 4x
        # (later rounds touch a few more pages each: the tables are larger)
        assert _wal_size(path) < 1.5 * size
        assert checkpointer.last_error is None
    finally:
        outbox.close()
    reopened = Outbox(path)  # every entry is there after the checkpoints and the close
    try:
        assert reopened.backlog() == 200 + 1 + 3 * 201
    finally:
        reopened.close()


def test_the_storage_is_checkpointed_by_its_thread(tmp_path):
    path = tmp_path / "world.sqlite"
    storage = WorldStorage(path)
    storage.wal_checkpointer.interval = 0.05
    try:
        room = Room.build(id="hall", name="Hall", description="x" * 3000, actor="admin")
        storage.save([room])
        _wait_for(storage.wal_checkpointer, 1)
        # while the storage is open, what the thread copied is in the file itself
        # (``immutable``: read without looking at the log)
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            assert db.execute("SELECT id FROM aggregates").fetchall() == [("hall",)]
        finally:
            db.close()
    finally:
        storage.close()


def test_close_stops_the_thread_and_later_commits_start_none(tmp_path):
    path = tmp_path / "outbox.sqlite"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchone()
    checkpointer = WalCheckpointer(path, interval=0.05)
    checkpointer.committed()
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive()
    checkpointer.close()
    assert not thread.is_alive()
    checkpointer.committed()  # after close: nothing starts
    assert checkpointer._thread is thread
    closed_first = WalCheckpointer(path)
    closed_first.close()
    closed_first.committed()
    assert closed_first._thread is None


def test_a_failed_checkpoint_is_logged_once_and_never_raised(tmp_path, caplog):
    path = tmp_path / "not-a-database"
    path.write_bytes(b"this is not an sqlite file" * 100)
    checkpointer = WalCheckpointer(path)
    with caplog.at_level(logging.WARNING, logger="aethyr_domain.outbox.wal_checkpoints"):
        assert checkpointer.checkpoint() is False
        assert checkpointer.checkpoint() is False
    assert isinstance(checkpointer.last_error, sqlite3.DatabaseError)
    assert checkpointer.checkpoints == 0
    warnings = [r for r in caplog.records if "cannot checkpoint the WAL" in r.getMessage()]
    assert len(warnings) == 1  # once per run of failures
    path.unlink()
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchone()
    assert checkpointer.checkpoint() is True  # a success clears the error
    assert checkpointer.last_error is None
    assert checkpointer.checkpoints == 1


@pytest.mark.parametrize("interval", [0, -1.0])
def test_the_interval_must_be_positive(tmp_path, interval):
    with pytest.raises(ValueError, match="interval must be > 0"):
        WalCheckpointer(tmp_path / "x.sqlite", interval=interval)
