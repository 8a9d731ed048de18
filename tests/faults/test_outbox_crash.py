"""Exactly-once delivery of the durable outbox across a SIGKILL of the game process, on
sqlite: a child process delivers the outbox in batches of 7 and is killed right after the
store committed a batch and before the outbox recorded it (entries 0, 5 and 13), then at
random moments (up to 40 kills); each restart asks the store which pending entries took
effect (no in-flight marker is written) and every
command's events are in the store exactly once.

(These crash tests lived in ``tests/game/test_outbox.py``; as fault tests they belong
here, marked ``faults`` and ``slow`` by path, so ``scripts/test --fast`` leaves them out.)
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.delivery import is_stored
from aethyr_domain.outbox.event_store import iter_notifications, open_world, topic_name
from aethyr_domain.outbox.queue import Outbox

CHILD = Path(__file__).with_name("outbox_crash_child.py")


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
def test_sigkill_between_store_commit_and_outbox_update_delivers_exactly_once(tmp_path, kill_at):
    rooms, descriptions = 4, 4
    done = subprocess.run(
        _child(tmp_path, rooms, descriptions, kill_at), capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    outbox = Outbox(tmp_path / "o.sqlite")
    # the crash came after the store committed the batch of entry ``kill_at`` (batches
    # of 7) and before the outbox marked it: the store holds the pending head
    assert outbox.backlog() == rooms * (descriptions + 1) - 7 * (kill_at // 7)
    assert outbox.in_flight_batch() is None  # no marker: the store alone decides
    store = open_world(ServerConfig(event_store="sqlite", sqlite_path=str(tmp_path / "ev.sqlite")))
    head = outbox.pending(1)[0]
    assert head.events and is_stored(store, head.events[0])
    store.close()
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
