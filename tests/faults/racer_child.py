"""Child process of the concurrency test: race another process for the same items.

Usage: python racer_child.py HOST PORT DATABASE HOLDER ITEMS GO_FILE OUT_FILE
Waits until GO_FILE exists (both children start together), then for each item in
order tries ``RemoveItemFromInventory(room, item)``; on success it puts the item in
its own HOLDER. Writes JSON: wins, losses (item, error class) and the notification
ids of every successful command.
"""

from __future__ import annotations

import json
import os
import sys
import time

from aethyr_domain.commands import AddItemToInventory, RemoveItemFromInventory
from aethyr_domain.config import ServerConfig
from aethyr_domain.errors import DomainError
from aethyr_domain.outbox.event_store import open_world


def main() -> None:
    host, port, database, holder, items, go_file, out_file = sys.argv[1:8]
    os.environ["SCRYPT_N"] = "1024"
    world = open_world(
        ServerConfig(
            event_store="immudb",
            immudb_address=host,
            immudb_port=int(port),
            immudb_database=database,
        )
    )
    world.recorder.max_notification_id()  # connect before the start signal
    while not os.path.exists(go_file):
        time.sleep(0.005)
    wins: list[str] = []
    losses: list[list[str]] = []
    batches: list[list[int]] = []
    for n in range(int(items)):
        item = f"item-{n}"
        try:
            recordings = world.handle(RemoveItemFromInventory("room", item, actor=holder))
        except DomainError as exc:
            losses.append([item, type(exc).__name__])
            continue
        batches.append([r.notification.id for r in recordings])
        recordings = world.handle(AddItemToInventory(holder, item, actor=holder))
        batches.append([r.notification.id for r in recordings])
        wins.append(item)
    world.close()
    with open(out_file, "w", encoding="utf-8") as fh:
        json.dump({"wins": wins, "losses": losses, "batches": batches}, fh)


if __name__ == "__main__":
    main()
