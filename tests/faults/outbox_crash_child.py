"""Child process for the outbox crash tests (run as a script, killed with SIGKILL).

Usage: python outbox_crash_child.py OUTBOX EVENTS ROOMS DESCRIPTIONS KILL_AT
Decides CreateRoom for each room and UpdateRoomDescription x DESCRIPTIONS per room into
the outbox (unless it already has entries), takes the store's writer lease (waiting
for a killed predecessor's lease to time out: 1 s) and delivers the outbox to a sqlite
World in batches of 7. With KILL_AT >= 0 it kills itself with SIGKILL right after the
store committed the batch holding entry number KILL_AT and before the outbox marks
that batch delivered: the worst moment for a crash. With KILL_AT = -1 it just delivers
everything; with -2 it also prints a line per committed entry, so the parent can kill
it at a moment it picks.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.queue import Outbox
from tests.game.outbox_support import acquire_patiently, fill_rooms

LEASE_TIMEOUT = 1.0


def main() -> None:
    outbox_path, events_path, rooms, descriptions, kill_at = sys.argv[1:6]
    config = ServerConfig(event_store="sqlite", sqlite_path=events_path)
    world = open_world(config)
    outbox = Outbox(outbox_path)
    if outbox.backlog() == 0 and outbox.delivered_count() == 0:
        fill_rooms(outbox, world.mapper, int(rooms), int(descriptions))
    lease = acquire_patiently(world.recorder, LEASE_TIMEOUT)
    print("READY", flush=True)
    seen = 0

    def after_handle(entry):
        nonlocal seen
        seen += 1
        if seen - 1 == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        if int(kill_at) == -2:  # progress for a parent that kills at a moment it picks
            print("D", flush=True)

    while outbox.backlog():
        deliver_pending(outbox, world, batch_size=7, lease=lease, after_handle=after_handle)
    lease.release()


if __name__ == "__main__":
    main()
