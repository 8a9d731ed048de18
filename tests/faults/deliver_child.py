"""Child process of the game-crash test: deliver an outbox to immudb, print a line per entry.

Usage: python deliver_child.py OUTBOX HOST PORT DATABASE [KILL_AT]
Takes the store's writer lease (waiting for a killed predecessor's lease to time out:
1 s) and delivers in batches of 7, printing "D" for each entry of a batch the store
committed, before the outbox marks the batch delivered. The parent SIGKILLs it at a
moment it picks (after some "D" lines: mid-batch, between the store's commit and the
outbox update); with KILL_AT it kills itself right after the store committed the batch
holding entry number KILL_AT.
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
from tests.game.outbox_support import acquire_patiently


def main() -> None:
    outbox_path, host, port, database = sys.argv[1:5]
    kill_at = int(sys.argv[5]) if len(sys.argv) > 5 else -1
    outbox = Outbox(outbox_path)
    world = open_world(
        ServerConfig(
            event_store="immudb",
            immudb_address=host,
            immudb_port=int(port),
            immudb_database=database,
        )
    )
    lease = acquire_patiently(world.recorder, 1.0)
    print("READY", flush=True)
    seen = 0

    def after_handle(entry):
        nonlocal seen
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        seen += 1
        print("D", flush=True)

    while outbox.backlog():
        deliver_pending(outbox, world, batch_size=7, lease=lease, after_handle=after_handle)
    lease.release()


if __name__ == "__main__":
    main()
