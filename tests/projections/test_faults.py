"""A view that cannot apply an event never stops the follower: it is reported (aggregate,
version, error) in the log, the metrics and the store, retried with bounded backoff, and
the follower carries on once the view can apply it. The issue-12 value (an integer beyond
64 bits) is applied by every view."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError, Tracking
from eventsourcing.sqlite import SQLiteDatastore

from aethyr_domain.application import World
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.faults import (
    Backoff,
    ProjectionApplyError,
    ProjectionFault,
)
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.read.projections.stored_faults import stored_faults
from aethyr_domain.read.projections.view import Rows, WorldView
from aethyr_domain.read.replay import replay_world
from aethyr_domain.read.world_dump import canonical_json
from tests.projections.conftest import BACKENDS
from tests.projections.legacy import REPRO_VALUE, record_legacy_attribute
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, play

NAME = WorldProjection.name
FAST = Backoff(first=0.02, maximum=0.1)


class DiskOnFireError(RuntimeError):
    """What the failing view raises."""


class FailsOnEvent:
    """A view mixin: refuses every transaction that would apply notification ``fail_at``
    while ``failures_left`` > 0 (each refusal counts one), as a view whose store cannot
    take that event's rows would; then it applies it like any other."""

    fail_at = 0
    failures_left = 0
    refusals = 0
    error: type[Exception] = DiskOnFireError

    def apply(
        self,
        tracking: Tracking | None,
        change: Callable[[Rows], None],
        *,
        first: int | None = None,
    ) -> None:
        if tracking is not None and self.failures_left > 0:
            position = self.max_tracking_id(tracking.application_name) or 0  # type: ignore[attr-defined]
            if position < self.fail_at <= tracking.notification_id:
                self.failures_left -= 1
                self.refusals += 1
                msg = f"no space left for event #{self.fail_at}"
                raise self.error(msg)
        super().apply(tracking, change, first=first)  # type: ignore[misc]


class FailingMemoryView(FailsOnEvent, MemoryWorldView):
    pass


class FailingSQLiteView(FailsOnEvent, SQLiteWorldView):
    pass


MakeFailing = Callable[[], Any]


@pytest.fixture(params=BACKENDS)
def failing_view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeFailing]:
    """``failing_view()``: a new :class:`FailsOnEvent` view on this test's store."""
    if request.param == "memory":
        yield FailingMemoryView
    elif request.param == "sqlite":
        datastore = SQLiteDatastore(db_name=str(tmp_path / "views.db"))
        yield lambda: FailingSQLiteView(datastore)
        datastore.close()
    else:
        from aethyr_domain.read.projections.immudb_view import ImmudbWorldView
        from tests.recorder.support import fresh_datastore

        class FailingImmudbView(FailsOnEvent, ImmudbWorldView):
            pass

        immudb = fresh_datastore()
        yield lambda: FailingImmudbView(datastore=immudb)
        immudb.close()


def projected(view: WorldView) -> str:
    return canonical_json(view.query(world_dict))


def replayed(world: World) -> str:
    return canonical_json(replay_world(world).world)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def stuck() -> float:
    return float(metrics.STUCK_EVENTS.labels(NAME)._value.get())


def event_errors() -> float:
    return float(metrics.FOLLOWER_ERRORS.labels(NAME, "event")._value.get())


def test_backoff_doubles_up_to_its_maximum() -> None:
    delays = [Backoff(first=0.5, maximum=30.0).delay(n) for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert Backoff().delay(10_000) == Backoff().maximum  # no overflow for long outages
    with pytest.raises(ValueError, match="first <= maximum"):
        Backoff(first=2.0, maximum=1.0)


def test_a_failing_event_is_reported_retried_and_passed_once_the_view_recovers(
    failing_view: MakeFailing, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    view = failing_view()
    service = ProjectionService(world, view, backoff=FAST)
    errors_before = event_errors()
    caplog.set_level(logging.WARNING, logger="aethyr_domain.read.projections.runner")
    with service:
        head = world.recorder.max_notification_id() or 0
        view.fail_at = head + 3
        view.failures_left = 10**9
        play(world, live, steps=ACTIONS)
        bad = world.recorder.select_notifications(start=view.fail_at, limit=1)[0]

        # stuck on that event: everything before it applied, the fault reported
        wait_for(lambda: service.fault is not None and service.fault.attempts >= 3)
        fault = service.fault
        assert fault is not None
        assert (fault.notification_id, fault.aggregate_id, fault.version) == (
            bad.id,
            bad.originator_id,
            bad.originator_version,
        )
        assert fault.error == f"DiskOnFireError: no space left for event #{bad.id}"
        assert 0 < fault.retry_in <= FAST.maximum
        assert view.max_tracking_id(world.name) == bad.id - 1
        assert [f.notification_id for f in view.faults()] == [bad.id]  # other processes see it
        assert stuck() == 1
        assert event_errors() - errors_before >= 3
        messages = [r.getMessage() for r in caplog.records]
        assert any(
            f"cannot apply event #{bad.id} (aggregate {bad.originator_id}, "
            f"version {bad.originator_version})"
            in m
            and "DiskOnFireError" in m
            for m in messages
        )
        # the game's writes go on meanwhile
        record_legacy_attribute(world, "hall", "n", REPRO_VALUE)

        view.failures_left = 0  # the disk has room again
        service.wait(world.recorder.max_notification_id(), timeout=30)
        wait_for(lambda: service.fault is None)  # cleared right after the apply
        assert view.faults() == []
        assert stuck() == 0
        assert projected(view) == replayed(world)
    assert service._thread is not None and not service._thread.is_alive()
    assert any("could apply event" in r.getMessage() for r in caplog.records)


def test_start_reports_instead_of_raising_and_the_thread_catches_up(
    failing_view: MakeFailing,
) -> None:
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = failing_view()
    view.fail_at, view.failures_left = 4, 2
    service = ProjectionService(world, view, backoff=FAST)
    service.start()  # the game's boot: must not fail
    try:
        assert service.fault is not None and service.fault.notification_id == 4
        service.wait(world.recorder.max_notification_id(), timeout=30)
        wait_for(lambda: service.fault is None)
        assert view.refusals == 2
        assert view.faults() == []
        assert projected(view) == replayed(world)
    finally:
        service.stop()


def test_catch_up_raises_a_typed_error_naming_the_event_and_keeps_what_came_before(
    failing_view: MakeFailing,
) -> None:
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = failing_view()
    view.fail_at, view.failures_left = 5, 2  # the batch, then the event on its own
    with pytest.raises(ProjectionApplyError) as info:
        ProjectionService(world, view).catch_up(batch_size=100)
    bad = world.recorder.select_notifications(start=5, limit=1)[0]
    assert info.value.notification_id == 5
    assert info.value.aggregate_id == bad.originator_id
    assert info.value.version == bad.originator_version
    assert str(info.value) == (
        f"the read model cannot apply event #5 (aggregate {bad.originator_id}, version "
        f"{bad.originator_version}): DiskOnFireError: no space left for event #5"
    )
    assert isinstance(info.value.__cause__, DiskOnFireError)
    assert view.max_tracking_id(world.name) == 4  # the batch before it was kept
    ProjectionService(world, view).catch_up(batch_size=100)  # the view recovered
    assert projected(view) == replayed(world)


def test_a_fault_stored_by_an_earlier_process_is_cleared_once_past_it(
    failing_view: MakeFailing,
) -> None:
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = failing_view()
    old = ProjectionFault(NAME, view.generation, 3, "hall", 2, "E: x", 7, "t0", "t1", 30.0)
    view.record_fault(old)
    assert view.faults() == [old]
    with ProjectionService(world, view):
        assert view.faults() == []  # start() caught up, then cleared it


def test_the_issue_12_value_is_applied_by_every_view(failing_view: MakeFailing) -> None:
    """Reproduction 1 at the read model: an integer beyond 64 bits (a store written before
    the values rule holds it) is stored and read back exactly, live and by catch-up."""
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = failing_view()
    with ProjectionService(world, view, backoff=FAST) as service:
        record_legacy_attribute(world, "hall", "n", REPRO_VALUE)
        record_legacy_attribute(world, "ada", "nested", {"n": [-(2**70), 2**64, 1.5, "x"]})
        service.wait(world.recorder.max_notification_id(), timeout=30)
        assert service.fault is None
    rows = {r["id"]: r for r in view.rows("game_objects")}
    assert rows["hall"]["attributes"] == {"n": REPRO_VALUE}
    assert type(rows["hall"]["attributes"]["n"]) is int
    assert rows["ada"]["attributes"]["nested"] == {"n": [-(2**70), 2**64, 1.5, "x"]}
    assert projected(view) == replayed(world)
    again = view.open_generation(view.generation)  # another view on the same rows
    assert projected(again) == replayed(world)


def test_stored_faults_reads_the_store_without_a_view(tmp_path: Path) -> None:
    """``aethyr-es stats`` reads the report through the event store's own connection."""
    path = str(tmp_path / "events.sqlite")
    env = {**FAST_ENV, "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}
    world = World(env={**env, "ORIGINATOR_ID_TYPE": "text"})
    try:
        assert stored_faults(world) == []  # no read model yet: nothing, and nothing created
        datastore = SQLiteDatastore(db_name=path)
        view = SQLiteWorldView(datastore)
        fault = ProjectionFault(NAME, 1, 9, "hall", 3, "TypeError: x", 2, "t0", "t1", 1.0)
        view.record_fault(fault)
        assert stored_faults(world) == [fault]
        view.clear_fault(NAME)
        assert stored_faults(world) == []
        datastore.close()
    finally:
        world.close()
    assert stored_faults(World(env=FAST_ENV)) == []  # in memory: nothing to read


def test_an_outage_while_applying_counts_as_an_outage_not_a_stuck_event() -> None:
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    view = FailingMemoryView()
    view.fail_at, view.failures_left, view.error = 3, 3, OperationalError
    outages = float(metrics.FOLLOWER_ERRORS.labels(NAME, "outage")._value.get())
    with ProjectionService(world, view, backoff=FAST) as service:
        service.wait(world.recorder.max_notification_id(), timeout=30)
        wait_for(lambda: service.fault is None)
    assert float(metrics.FOLLOWER_ERRORS.labels(NAME, "outage")._value.get()) - outages >= 2
    assert stuck() == 0
    assert projected(view) == replayed(world)


def test_a_failure_not_tied_to_an_event_reads_as_following_the_log() -> None:
    error = ProjectionApplyError("OperationalError: immudb server unavailable")
    assert str(error) == (
        "the read model cannot follow the event log: OperationalError: immudb server unavailable"
    )
    fault = ProjectionFault(NAME, 2, None, None, None, error.error, 4, "t0", "t1", 8.0)
    assert fault.line() == (
        "world_projection (generation 2) cannot follow the event log: OperationalError: "
        "immudb server unavailable; 4 attempt(s) since t0, next in 8s"
    )
    assert ProjectionFault.from_row(fault.row()) == fault
