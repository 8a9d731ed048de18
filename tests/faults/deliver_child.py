"""Child process of the game-crash test: deliver an outbox to immudb, print a line per entry.

Usage: python deliver_child.py OUTBOX HOST PORT DATABASE
The parent SIGKILLs it at a moment it picks (after some "D" lines: mid-batch).
"""

from __future__ import annotations

import sys

from aethyr_domain.config import ServerConfig
from aethyr_domain.delivery import deliver_pending
from aethyr_domain.event_store import open_world
from aethyr_domain.outbox import Outbox


def main() -> None:
    outbox_path, host, port, database = sys.argv[1:5]
    outbox = Outbox(outbox_path)
    world = open_world(
        ServerConfig(
            event_store="immudb",
            immudb_address=host,
            immudb_port=int(port),
            immudb_database=database,
        )
    )
    print("READY", flush=True)
    while outbox.backlog():
        deliver_pending(outbox, world, batch_size=7, after_handle=lambda e: print("D", flush=True))


if __name__ == "__main__":
    main()
