"""SIGKILL the game's delivery process in the middle of a batch, on a real immudb.

The outbox holds 10 rooms x (CreateRoom + 10 descriptions), decided in process. A child
process delivers it to immudb (holding the writer lease, in batches of 7) and is killed
three times: right after immudb committed a batch and before the outbox recorded it,
and twice at picked moments mid-batch; each restart takes the crashed writer's lease
over after its timeout and delivers what was pending. Every room then has exactly
its 12 events (2 + 10 descriptions), versions 1..12 once each, descriptions in order.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_store import iter_events, open_world
from aethyr_domain.outbox.queue import Outbox
from tests.faults.support import immudb_config
from tests.game.outbox_support import acquire_patiently, fill_rooms
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

CHILD = Path(__file__).with_name("deliver_child.py")
ROOMS, DESCRIPTIONS = 10, 10


def _run_and_kill(
    outbox_path: Path, srv, database: str, kill_after: int, kill_at: int = -1
) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            str(outbox_path),
            srv.host,
            str(srv.port),
            database,
            str(kill_at),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    for _ in range(kill_after):
        assert child.stdout.readline().strip() == "D"
    if kill_at < 0:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()


def test_sigkill_of_the_game_mid_batch_loses_and_doubles_nothing(tmp_path):
    srv = server()
    database = fresh_database("gamecrash")
    config = immudb_config(srv, database, tmp_path)
    outbox = Outbox(config.outbox_path)
    app = open_world(config)
    fill_rooms(outbox, app.mapper, ROOMS, DESCRIPTIONS)
    app.close()
    total = outbox.backlog()
    outbox.close()
    path = Path(config.outbox_path)
    # after the store committed a batch, before the outbox marked it (the worst moment)
    _run_and_kill(path, srv, database, kill_after=7, kill_at=7)
    _run_and_kill(path, srv, database, kill_after=mid_batch(7 * 3 + 4))  # mid-batch
    _run_and_kill(path, srv, database, kill_after=31)

    outbox = Outbox(config.outbox_path)
    pending_after_kills = outbox.backlog()
    app = open_world(config)
    try:
        lease = acquire_patiently(app.recorder, 1.0)
        while outbox.backlog():
            deliver_pending(outbox, app, batch_size=7, lease=lease)
        lease.release()
        assert outbox.dead_letters() == []
        assert outbox.delivered_count() == total
        events = list(iter_events(app))
        keys = Counter((e.originator_id, e.originator_version) for e in events)
        assert max(keys.values()) == 1
        for r in range(ROOMS):
            versions = sorted(v for oid, v in keys if oid == f"room-{r}")
            assert versions == list(range(1, 3 + DESCRIPTIONS))
            descriptions = [
                e.description
                for e in events
                if e.originator_id == f"room-{r}" and type(e).__name__ == "RoomDescriptionUpdated"
            ]
            assert descriptions == [f"v{d}" for d in range(DESCRIPTIONS)]
        assert 0 < pending_after_kills < total
    finally:
        app.close()
        outbox.close()


def mid_batch(n: int) -> int:
    """``n``: a kill point inside a batch of 7 (not on a batch boundary)."""
    assert n % 7 != 0
    return n
