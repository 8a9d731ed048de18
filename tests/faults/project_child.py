"""Child process of the projection-crash test: catch the immudb view up, one line per event.

Usage: python project_child.py HOST PORT DATABASE
The parent SIGKILLs it after a number of "P" lines it picks.
"""

from __future__ import annotations

import sys

from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections.opening import open_view
from aethyr_domain.read.projections.runner import ProjectionService


def main() -> None:
    host, port, database = sys.argv[1:4]
    config = ServerConfig(
        event_store="immudb", immudb_address=host, immudb_port=int(port), immudb_database=database
    )
    app = open_world(config)
    view = open_view(config)
    print("READY", flush=True)
    ProjectionService(app, view).catch_up(progress=lambda nid: print(f"P {nid}", flush=True))


if __name__ == "__main__":
    main()
