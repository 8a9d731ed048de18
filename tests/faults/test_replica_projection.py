"""A projection following an immudb replica under load ends byte-identical to one
following the primary (issue 15; real primary and replica servers on loopback).

The game (``boot``, scripted actions through the outbox) writes to the primary while
two world projections follow in background threads, each into its own in-memory
view:

* one on a ``World`` opened on the primary alone;
* one on a ``World`` opened ``lag_tolerant`` with ``immudb_replicas`` naming an
  asynchronous replica, as ``aethyr-es project`` opens it.

Once the game's outbox is drained, both views must reach the primary's last
notification id, and the canonical world JSON of both read models must be the same
bytes, equal to the live world and to a replay of the log. The replica path must
really have been taken: the replica's datastore served notification pages, and the
replication lag gauges of the routed follower got samples for the replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, world_from_dict
from aethyr_immudb_recorder.launcher import ImmudbServer
from tests import immudb_harness
from tests.faults.game_load import GameLoad
from tests.faults.support import immudb_config

pytestmark = pytest.mark.immudb

ACTIONS = 300

#: The metrics registry of the replica follower's recorder (``IMMUDB_METRICS_REGISTRY_TOPIC``
#: takes a topic), so its lag gauges are not mixed with other tests' samples.
REGISTRY = CollectorRegistry()


class ReadCounter:
    """Counts the operations a real datastore runs (each still runs, unchanged)."""

    def __init__(self, datastore: Any) -> None:
        self.operations: list[str] = []
        run = datastore.run

        def counted(operation: str, func: Any, **kwargs: Any) -> Any:
            self.operations.append(operation)
            return run(operation, func, **kwargs)

        datastore.run = counted


def _read_model(view: MemoryWorldView) -> str:
    return dumps(world_from_dict(view.query(world_dict)))


def test_projection_following_a_replica_under_load_equals_one_following_the_primary(
    tmp_path: Path,
) -> None:
    immudb_harness.server()  # skips or fails like every immudb test when there is none
    primary = ImmudbServer(synced=False, data_dir=tmp_path / "primary").start()
    replica = ImmudbServer(
        synced=False, data_dir=tmp_path / "replica", replica_of=primary.address
    ).start()
    config = immudb_config(primary, "aethyr", tmp_path, projections_enabled=False)
    routed_config = config.replace(immudb_replicas=(replica.address,))
    try:
        manager = boot(config)  # creates the database on the primary
        replica.replicate("aethyr")  # (the replica's watcher would, within 0.2 s)
        direct = open_world(config)
        routed = open_world(
            routed_config,
            lag_tolerant=True,
            IMMUDB_METRICS_REGISTRY_TOPIC=f"{__name__}:REGISTRY",
        )
        replicas = routed.recorder.replicas  # type: ignore[attr-defined]
        assert direct.recorder.replicas is None  # type: ignore[attr-defined]
        assert [r.settings.address for r in replicas.replicas] == [replica.address]
        on_replica = ReadCounter(replicas.replicas[0])
        on_primary = ReadCounter(replicas.primary)
        followers = [
            ProjectionService(direct, MemoryWorldView(), max_batch=50),
            ProjectionService(routed, MemoryWorldView(), max_batch=50),
        ]
        try:
            for follower in followers:
                follower.start()
            # The game writes while both projections follow.
            load = GameLoad(manager)
            for i in range(ACTIONS):
                assert load.next_action()
                if i == ACTIONS // 2:  # both follow while the game goes on writing
                    for follower in followers:
                        follower.wait(1, timeout=30)
                    midway = [f.view.max_tracking_id(f.app.name) or 0 for f in followers]
            sink: Any = manager.sink
            assert sink.drain(120), sink.deliverer.last_error
            live = dumps(manager.state)
            head = direct.recorder.max_notification_id()
            assert head is not None and head > ACTIONS
            for follower in followers:
                follower.wait(head, timeout=60)
            via_primary, via_replica = (_read_model(f.view) for f in followers)  # type: ignore[arg-type]
        finally:
            for follower in followers:
                follower.stop()
            manager.close()
        replayed = dumps(rebuild_world_state(direct))
        replayed_from_replica = dumps(rebuild_world_state(routed))
        direct.close()
        routed.close()
    finally:
        replica.stop()
        primary.stop()

    assert all(0 < position < head for position in midway)
    assert via_replica == via_primary  # byte-identical read models
    assert via_primary == live == replayed == replayed_from_replica
    # The routed follower read the replica: its notification pages came from it ...
    assert on_replica.operations.count("select_notifications") > 0, on_replica.operations
    # ... and waiting at the end of the log checked the replica's lag (gauges sampled).
    lag = REGISTRY.get_sample_value(
        "aethyr_recorder_replication_lag_transactions", {"replica": replica.address}
    )
    assert lag is not None and lag >= 0
    print(
        f"\nreplica projection: {head} notifications; routed follower ran "
        f"{on_replica.operations.count('select_notifications')} notification page(s) "
        f"from the replica, {on_primary.operations.count('select_notifications')} from "
        f"the primary; positions midway {midway}"
    )
