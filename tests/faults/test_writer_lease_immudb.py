"""The writer lease on a real immudb: refusal of a live writer, takeover of a crashed
one, fencing of a writer that lost its lease, and release (issue "One truth")."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import TrackingRecorder

from aethyr_domain import commands as c
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.writer_lease import WRITER, LeaseHeldError, LeaseLostError, WriterLease
from tests.faults.support import immudb_config
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb


def test_lease_on_immudb_refuses_takes_over_fences_and_releases(tmp_path):
    config = immudb_config(server(), fresh_database("lease"), tmp_path)
    first, second = open_world(config), open_world(config)  # two writers' connections
    try:
        clock = [10_000_000]
        old = WriterLease.acquire(first.recorder, timeout=2.0, clock=lambda: clock[0])
        assert isinstance(first.recorder, TrackingRecorder)
        assert isinstance(second.recorder, TrackingRecorder)
        position = first.recorder.max_tracking_id(WRITER)
        with pytest.raises(LeaseHeldError, match="another writer"):
            WriterLease.acquire(second.recorder, timeout=2.0, clock=lambda: clock[0])
        assert second.recorder.max_tracking_id(WRITER) == position  # refused: no write
        events = Decider().decide(c.CreateRoom("hall", "Hall", "")).events
        old.append([first.mapper.to_stored_event(e) for e in events])
        clock[0] += 2_500  # the old writer stops heartbeating (paused, or crashed)
        new = WriterLease.acquire(second.recorder, timeout=2.0, clock=lambda: clock[0])
        assert new.epoch == old.epoch + 1
        late = Decider().decide(c.CreateRoom("late", "Late", "")).events
        with pytest.raises(LeaseLostError):
            old.append([first.mapper.to_stored_event(e) for e in late])
        assert second.recorder.select_events("late") == []
        assert len(second.recorder.select_events("hall")) == 2
        assert new.release() is True
        again = WriterLease.acquire(first.recorder, timeout=2.0, clock=lambda: clock[0])
        assert again.epoch == new.epoch + 1  # released: taken at once
        again.release()
    finally:
        first.close()
        second.close()


def test_an_immudb_store_of_an_earlier_version_opens_and_takes_the_lease(tmp_path):
    from aethyr_domain.application import World

    class OldWorld(World):
        name = "World"  # the same tables

        def construct_recorder(self):
            return self.factory.application_recorder()

    config = immudb_config(server(), fresh_database("oldlayout"), tmp_path)
    old = OldWorld(env=config.eventsourcing_env())
    old.handle(c.CreateRoom("hall", "Hall", ""))
    old.close()
    app = open_world(config)
    try:
        assert app.get("hall").name == "Hall"
        lease = WriterLease.acquire(app.recorder)
        events = Decider().decide(c.CreateRoom("cellar", "Cellar", "")).events
        lease.append([app.mapper.to_stored_event(e) for e in events])
        assert app.get("cellar").name == "Cellar"
        assert lease.release()
    finally:
        app.close()


def test_group_commit_on_immudb_sets_a_refused_entry_aside_and_records_the_rest(tmp_path):
    from aethyr_domain.outbox.delivery import deliver_pending
    from aethyr_domain.outbox.queue import Outbox
    from tests.game.outbox_support import decide

    config = immudb_config(server(), fresh_database("groupcommit"), tmp_path)
    app = open_world(config)
    try:
        outbox = Outbox(config.outbox_path)
        decider = Decider()
        for rid in ("a", "b", "c", "d", "e"):
            decide(outbox, app.mapper, decider, c.CreateRoom(rid, rid.upper(), ""))
        app.handle(c.CreateRoom("d", "taken by another path", ""))
        lease = WriterLease.acquire(app.recorder)
        result = deliver_pending(outbox, app, batch_size=10, lease=lease)
        assert (result.delivered, result.dead) == (4, 1)
        assert [d["command"] for d in outbox.dead_letters()] == ["CreateRoom"]
        assert {app.get(r).name for r in "abce"} == {"A", "B", "C", "E"}
        assert app.get("d").name == "taken by another path"
        lease.check()  # an event's refusal is not mistaken for a lost lease
        assert lease.release()
        outbox.close()
    finally:
        app.close()
