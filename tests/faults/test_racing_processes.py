"""Two OS processes race for the same items on one immudb database (1,000 attempts).

Each item must end in exactly one place, each (aggregate, version) has one winner,
the loser of a race gets the domain's error (after the World's reload-and-retry), and
the notification ids of one command are contiguous: commands never interleave.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from aethyr_domain.commands import CreateGameObject, CreateRoom
from aethyr_domain.outbox.event_store import iter_notifications, open_world
from tests.faults.support import immudb_config
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

CHILD = Path(__file__).with_name("racer_child.py")
ITEMS = 500  # each of the two processes tries every item: 1,000 attempts


def test_two_processes_race_for_the_same_items(tmp_path):
    srv = server()
    database = fresh_database("race")
    config = immudb_config(srv, database, tmp_path)
    app = open_world(config)
    app.handle(CreateRoom("room", "The Pit", "Everything starts here."))
    for holder in ("holder-a", "holder-b"):
        app.handle(CreateGameObject(holder, holder, "chest", container_id="room"))
    for n in range(ITEMS):
        app.handle(CreateGameObject(f"item-{n}", f"gem {n}", "gem", container_id="room"))
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                srv.host,
                str(srv.port),
                database,
                holder,
                str(ITEMS),
                str(go),
                str(tmp_path / f"{holder}.json"),
            ],
            cwd=Path(__file__).parents[2],
        )
        for holder in ("holder-a", "holder-b")
    ]
    go.touch()
    for child in children:
        assert child.wait(timeout=240) == 0
    a, b = (json.loads((tmp_path / f"{h}.json").read_text()) for h in ("holder-a", "holder-b"))
    try:
        # Every attempt ended: a win or the domain's refusal.
        assert len(a["wins"]) + len(a["losses"]) == ITEMS == len(b["wins"]) + len(b["losses"])
        assert set(a["wins"]).isdisjoint(b["wins"])
        errors = Counter(name for _item, name in a["losses"] + b["losses"])
        assert set(errors) <= {"InvariantViolationError", "ConcurrencyConflictError"}
        # Each item is in exactly one place, and both sides of every link agree.
        room = app.get("room")
        places: Counter[str] = Counter()
        for n in range(ITEMS):
            item = app.get(f"item-{n}")
            assert item.container_id is not None
            container = app.get(item.container_id)
            assert f"item-{n}" in container.inventory
            places[item.container_id] += 1
        assert places["holder-a"] == len(a["wins"]) and places["holder-b"] == len(b["wins"])
        assert places["room"] == len(room.inventory) - 2 == ITEMS - len(a["wins"]) - len(b["wins"])
        # One winner per version; one command's notifications are contiguous.
        keys = Counter(
            (str(n.originator_id), n.originator_version) for n in iter_notifications(app)
        )
        assert max(keys.values()) == 1
        ids = [i for batch in a["batches"] + b["batches"] for i in batch]
        assert len(ids) == len(set(ids))
        for batch in a["batches"] + b["batches"]:
            assert batch == list(range(batch[0], batch[0] + len(batch)))
        print(
            f"\nracing processes: {2 * ITEMS} attempts, wins a={len(a['wins'])} "
            f"b={len(b['wins'])}, refusals {dict(errors)}"
        )
    finally:
        app.close()
