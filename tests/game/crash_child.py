"""Child process for the outbox crash tests (run as a script, killed with SIGKILL).

Usage: python crash_child.py OUTBOX EVENTS ROOMS DESCRIPTIONS KILL_AT
Appends CreateRoom for each room and UpdateRoomDescription x DESCRIPTIONS per room
(unless the outbox already has entries), then delivers them to a sqlite World. With
KILL_AT >= 0 it kills itself with SIGKILL right after the World accepted entry number
KILL_AT and before the outbox marks it delivered: the worst moment for a crash.
With KILL_AT = -1 it just delivers everything; with -2 it also prints a line per
delivered entry, so the parent can kill it mid-batch at a moment it picks.
"""

from __future__ import annotations

import os
import signal
import sys

from aethyr_domain.config import ServerConfig
from aethyr_domain.delivery import deliver_pending
from aethyr_domain.event_store import open_world
from aethyr_domain.outbox import Outbox


def main() -> None:
    outbox_path, events_path, rooms, descriptions, kill_at = sys.argv[1:6]
    outbox = Outbox(outbox_path)
    if outbox.backlog() == 0 and outbox.delivered_count() == 0:
        for r in range(int(rooms)):
            outbox.append(
                "CreateRoom", {"id": f"room-{r}", "name": f"Room {r}", "description": ""}, "system"
            )
            for d in range(int(descriptions)):
                outbox.append(
                    "UpdateRoomDescription", {"id": f"room-{r}", "description": f"v{d}"}, "system"
                )
    print("READY", flush=True)
    config = ServerConfig(event_store="sqlite", sqlite_path=events_path)
    world = open_world(config)
    seen = 0

    def after_handle(entry):
        nonlocal seen
        seen += 1
        if seen - 1 == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        if int(kill_at) == -2:  # progress for a parent that kills at a moment it picks
            print("D", flush=True)

    while outbox.backlog():
        deliver_pending(outbox, world, batch_size=7, after_handle=after_handle)


if __name__ == "__main__":
    main()
