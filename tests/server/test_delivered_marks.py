"""The delivery child reports its delivered marks; the game deletes the rows
(``aethyr_domain.outbox.delivered_marks``): one process writes the outbox file.

First the child's outbox on its own (reports, skips what it reported, forgets it once
the game deleted it), then the real child process: it delivers every entry into the
store exactly once and leaves every row in the file for the game to delete; marks the
game never applied are settled by the next delivery's recovery, writing nothing twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.delivered_marks import (
    DELIVERED,
    ReportingOutbox,
    apply_marks,
    delivered_line,
    parse_delivered,
)
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.delivery_process import READY
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.queue import Outbox, OutboxEvent
from aethyr_domain.outbox.writer_lease import RELEASED_MS, WRITER, WriterLease, split
from tests.game.outbox_support import fill_rooms

ROOT = Path(__file__).resolve().parents[2]


def _marks(lines: list[str]) -> list[int]:
    return [seq for line in list(lines) for seq in parse_delivered(line.rstrip("\n")) or ()]


def _entry(outbox: Outbox, n: int) -> None:
    outbox.append_events("Test", "tester", [OutboxEvent(f"agg-{n}", 1, "t:Topic", b"%d" % n)])


def _opened(tmp_path: Path, count: int) -> tuple[ReportingOutbox, Outbox, list[str]]:
    path = tmp_path / "outbox.sqlite"
    game = Outbox(path)
    for n in range(count):
        _entry(game, n)
    lines: list[str] = []
    return ReportingOutbox(path, lines.append), game, lines


def test_the_child_reports_its_marks_and_leaves_the_rows_to_the_game(tmp_path: Path) -> None:
    child, game, lines = _opened(tmp_path, 5)
    try:
        seqs = [entry.seq for entry in child.pending(5)]
        first, rest = seqs[:2], seqs[2:]
        child.mark_batch_delivered(first)
        assert lines == [delivered_line(first)] == [f"{DELIVERED}{first[0]},{first[1]}"]
        assert game.backlog() == 5  # nothing deleted by the child
        assert game.delivered_count() == 0
        assert child.backlog() == 3  # what still waits for delivery
        # the reported rows are still in the file, and skipped
        assert [entry.seq for entry in child.pending(10)] == rest
        assert [entry.seq for entry in child.pending(1)] == rest[:1]
        assert child.reported == frozenset(first)
        # the game applies the line: rows gone, counted; the child forgets them
        assert apply_marks(game, lines[0]) == 2
        assert game.backlog() == 3
        assert game.delivered_count() == 2
        assert [entry.seq for entry in child.pending(10)] == rest
        assert child.reported == frozenset()
    finally:
        child.close()
        game.close()


def test_reported_marks_beyond_a_short_read_are_kept(tmp_path: Path) -> None:
    child, game, _lines = _opened(tmp_path, 6)
    try:
        seqs = [entry.seq for entry in child.pending(6)]
        child.mark_batch_delivered(seqs[:4])
        apply_marks(game, delivered_line(seqs[:2]))  # the game deleted two of the four
        assert [entry.seq for entry in child.pending(1)] == [seqs[4]]
        # seqs[0..1] are gone (forgotten); seqs[2..3] are still in the file (kept)
        assert child.reported == frozenset(seqs[2:4])
        assert [entry.seq for entry in child.pending(10)] == seqs[4:]
    finally:
        child.close()
        game.close()


def test_a_retried_dead_letter_below_the_reported_marks_is_delivered(tmp_path: Path) -> None:
    child, game, _lines = _opened(tmp_path, 3)
    try:
        first, *rest = [entry.seq for entry in child.pending(3)]
        (entry,) = child.pending(1)
        child.mark_dead(entry, "refused")  # dead letters: still written by the child
        child.mark_batch_delivered(rest)
        assert child.pending(10) == []
        assert game.retry(first)  # the operator puts it back, with its old number
        assert [entry.seq for entry in child.pending(10)] == [first]
    finally:
        child.close()
        game.close()


def test_other_lines_are_not_marks(tmp_path: Path) -> None:
    game = Outbox(tmp_path / "outbox.sqlite")
    try:
        _entry(game, 1)
        for line in (READY, "delivery: lost: x", f"{DELIVERED}1,x", DELIVERED, "delivered 1"):
            assert apply_marks(game, line) == 0, line
        assert parse_delivered(f"{DELIVERED}1,x") is None
        assert parse_delivered(f"{DELIVERED}3,4") == [3, 4]
        assert game.backlog() == 1
    finally:
        game.close()


def test_the_delivery_child_stores_everything_once_and_writes_no_mark(tmp_path: Path) -> None:
    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "events.sqlite"),
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_poll_interval=0.05,
    )
    world = open_world(config)
    game = Outbox(config.outbox_path)
    try:
        made = fill_rooms(game, world.mapper, rooms=4, descriptions=5)
        expected = [
            (e.originator_id, e.originator_version, e.topic, e.state)
            for entry in game.pending(made)
            for e in entry.events or ()
        ]
        lease = WriterLease.acquire(world.recorder)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AETHYR_EVENT_SOURCING_ENABLED": "1",
            "AETHYR_EVENT_STORE": "sqlite",
            "AETHYR_SQLITE_PATH": config.sqlite_path,
            "AETHYR_OUTBOX_PATH": config.outbox_path,
            "AETHYR_OUTBOX_POLL_INTERVAL": "0.05",
            "AETHYR_OUTBOX_BATCH_SIZE": "5",  # several batches, one line each
            "AETHYR_PROJECTIONS_ENABLED": "0",
        }
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aethyr_domain.outbox.delivery_process",
                "--epoch",
                str(lease.epoch),
                "--position",
                str(lease.position),
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(child.stdout or ()), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while len(_marks(lines)) < made and time.monotonic() < deadline:
            time.sleep(0.05)
        child.stdin.close()
        assert child.wait(60) == 0
        reader.join(10)
        lines = [line.rstrip("\n") for line in lines]
        marks = _marks(lines)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        assert READY in lines  # (a first report may come before it: both are applied)
        assert sorted(marks) == sorted(set(marks)) and len(marks) == made  # each once
        # the child wrote no mark: every row is still in the file, none counted
        assert game.backlog() == made
        assert game.delivered_count() == 0
        # ...but every entry's events are in the store, once, in order
        stored = [
            (str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
            for n in world.recorder.select_notifications(1, 10_000)
        ]
        assert stored == expected
        # the game deletes what the child reported; marks it never applied (it died,
        # say) are lost marks: the next delivery's recovery finds those entries stored
        first = next(line for line in lines if parse_delivered(line))
        applied = apply_marks(game, first)
        assert 0 < applied < made
        assert game.backlog() == made - applied
        result = deliver_pending(game, world)
        assert result.recovered == made - applied
        assert result.appends == 0  # nothing written twice
        assert game.backlog() == 0
        assert game.delivered_count() == made
        assert [
            (str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
            for n in world.recorder.select_notifications(1, 10_000)
        ] == expected
        # the child released the lease as it left
        recorder: Any = world.recorder  # (a process recorder: it keeps tracking records)
        assert split(recorder.max_tracking_id(WRITER))[1] == RELEASED_MS
    finally:
        game.close()
        world.close()
