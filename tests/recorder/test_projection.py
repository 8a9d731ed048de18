"""The library's projection suites on immudb (a view, ProjectionRunner, EventSourcedProjection)."""

from __future__ import annotations

from typing import ClassVar

from eventsourcing.tests.projection import (
    AggregateEventCountersProjectionTestCase,
    EventCountersView,
    EventCountersViewTestCase,
    EventSourcedProjectionTestCase,
)
from eventsourcing.utils import Environment

from aethyr_immudb_recorder import ImmudbFactory
from tests import immudb_harness
from tests.recorder.counters_view import ImmudbEventCounters
from tests.recorder.support import env_for


class TestImmudbEventCountersView(EventCountersViewTestCase):
    def setUp(self) -> None:
        env = env_for(immudb_harness.fresh_database("p"))
        self.factory = ImmudbFactory(Environment(name="eventcounters", env=env))

    def tearDown(self) -> None:
        self.factory.close()

    def construct_event_counters_view(self) -> EventCountersView:
        return self.factory.tracking_recorder(ImmudbEventCounters)


class TestAggregateEventCountersProjection(AggregateEventCountersProjectionTestCase):
    view_class = ImmudbEventCounters
    env: ClassVar[dict[str, str]] = {}

    def setUp(self) -> None:
        self.env = env_for(immudb_harness.fresh_database("p"))  # type: ignore[misc]


class TestEventSourcedProjection(EventSourcedProjectionTestCase):
    env: ClassVar[dict[str, str]] = {}

    def setUp(self) -> None:
        self.env = env_for(immudb_harness.fresh_database("p"))  # type: ignore[misc]


del AggregateEventCountersProjectionTestCase
del EventCountersViewTestCase
del EventSourcedProjectionTestCase
