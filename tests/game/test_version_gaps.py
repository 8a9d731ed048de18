"""Delivery never writes a version gap into the log (SQLite event store).

After an asynchronous failover the promoted store may lack events the game had
acknowledged; the outbox's later entries for those aggregates then carry versions
past the store's. Here the loss is made directly: an entry is marked delivered
without reaching the store (what the old primary acknowledged and the replica never
got). Delivery must refuse the entries that would skip ahead (dead letters saying
why), deliver the others, and leave a log that replays.
"""

from __future__ import annotations

import pytest

from aethyr_domain import commands as c
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_store import iter_notifications, last_version, open_world
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.outbox.version_gaps import refuse_version_gaps
from tests.game.outbox_support import decide


@pytest.fixture
def world(tmp_path):
    app = open_world(ServerConfig(event_store="sqlite", sqlite_path=str(tmp_path / "ev.sqlite")))
    yield app
    app.close()


def test_entries_that_skip_versions_become_dead_letters_and_the_log_stays_whole(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    decide(outbox, world.mapper, decider, c.CreateRoom("b", "B", ""))
    assert deliver_pending(outbox, world).delivered == 2
    version_a = last_version(world, "a")
    # Acknowledged, then lost with the old primary: never reaches this store.
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "lost"))
    [lost] = outbox.pending(10)
    outbox.mark_batch_delivered([lost.seq])
    # Decided on a World that had the lost event: they skip ahead of the store.
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "after"))
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", "later"))
    decide(outbox, world.mapper, decider, c.UpdateRoomDescription("b", "fine"))
    decide(outbox, world.mapper, decider, c.CreateRoom("c", "C", ""))

    result = deliver_pending(outbox, world, batch_size=10)

    assert (result.delivered, result.dead) == (2, 2)
    dead = outbox.dead_letters()
    assert [d["command"] for d in dead] == ["UpdateRoomDescription"] * 2
    for letter in dead:
        assert "VersionGapError" in letter["error"]
        assert f"at version {version_a} in the event store" in letter["error"]
        assert "docs/replication.md" in letter["error"]
    assert outbox.backlog() == 0
    assert last_version(world, "a") == version_a  # nothing of "a" was written
    assert world.get("a").description == ""
    assert world.get("b").description == "fine"
    assert world.get("c").name == "C"
    # The log has no gap: every aggregate's versions run 1..n.
    versions: dict[str, list[int]] = {}
    for n in iter_notifications(world):
        versions.setdefault(str(n.originator_id), []).append(n.originator_version)
    for found in versions.values():
        assert found == list(range(1, len(found) + 1))
    outbox.close()


def test_a_batch_without_gaps_is_kept_whole_and_the_store_is_read_only_when_needed(tmp_path, world):
    outbox = Outbox(tmp_path / "o.sqlite")
    decider = Decider()
    decide(outbox, world.mapper, decider, c.CreateRoom("a", "A", ""))
    deliver_pending(outbox, world)
    for text in ("one", "two", "three"):
        decide(outbox, world.mapper, decider, c.UpdateRoomDescription("a", text))
    batch = outbox.pending(10)
    reads: list[str] = []
    original = world.recorder.select_events

    def counting(originator_id, *args, **kwargs):
        reads.append(str(originator_id))
        return original(originator_id, *args, **kwargs)

    world.recorder.select_events = counting
    refused: list[str] = []
    try:
        kept = refuse_version_gaps(world, batch, lambda entry, reason: refused.append(reason))
        again = refuse_version_gaps(world, batch, lambda entry, reason: refused.append(reason))
    finally:
        del world.recorder.select_events
    assert kept == batch and again == batch and refused == []
    # The first check reads nothing: this process delivered "a" up to the version
    # before the batch's first. The same batch again (as after a failed append) no
    # longer matches that hint: one read of the store for "a", none for later entries.
    assert reads == ["a"]
    outbox.close()
