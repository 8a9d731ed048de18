"""The library's InfrastructureFactoryTestCase, plus selection and table naming."""

from __future__ import annotations

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import InfrastructureFactoryTestCase
from eventsourcing.utils import Environment, get_topic

import aethyr_immudb_recorder
from aethyr_immudb_recorder import Factory, ImmudbFactory
from aethyr_immudb_recorder.recorders import (
    ImmudbAggregateRecorder,
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
    ImmudbTrackingRecorder,
)
from tests import immudb_harness
from tests.recorder.support import env_for


class TestImmudbFactory(InfrastructureFactoryTestCase[ImmudbFactory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase", env_for(immudb_harness.fresh_database("f")))
        super().setUp()

    def expected_factory_class(self) -> type[ImmudbFactory]:
        return ImmudbFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return ImmudbAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return ImmudbApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return ImmudbTrackingRecorder

    class MyTrackingRecorder(ImmudbTrackingRecorder):
        pass

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return self.MyTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return ImmudbProcessRecorder

    def test_table_names_are_namespaced_by_env_name(self) -> None:
        factory = InfrastructureFactory.construct(self.env)
        try:
            assert isinstance(factory, ImmudbFactory)
            events = factory.application_recorder()
            snapshots = factory.aggregate_recorder("snapshots")
            tracking: ImmudbTrackingRecorder = factory.tracking_recorder()
            process = factory.process_recorder()
            assert isinstance(events, ImmudbApplicationRecorder)
            assert isinstance(snapshots, ImmudbAggregateRecorder)
            assert isinstance(process, ImmudbProcessRecorder)
            self.assertEqual(events.events_table_name, "testcase_events")
            self.assertEqual(snapshots.events_table_name, "testcase_snapshots")
            self.assertEqual(tracking.tracking_table_name, "testcase_tracking")
            self.assertEqual(process.events_table_name, "testcase_events")
            self.assertEqual(process.tracking_table_name, "testcase_tracking")
        finally:
            factory.close()

    class MyApplicationRecorder(ImmudbApplicationRecorder):
        pass

    class MyProcessRecorder(ImmudbProcessRecorder):
        pass

    def test_recorder_topics_select_the_application_and_process_classes(self) -> None:
        self.env[ImmudbFactory.APPLICATION_RECORDER_TOPIC] = get_topic(self.MyApplicationRecorder)
        self.env[ImmudbFactory.PROCESS_RECORDER_TOPIC] = get_topic(self.MyProcessRecorder)
        factory = ImmudbFactory(self.env)
        try:
            self.assertIs(type(factory.application_recorder()), self.MyApplicationRecorder)
            self.assertIs(type(factory.process_recorder()), self.MyProcessRecorder)
        finally:
            factory.close()

    def test_default_prefixes_without_a_name(self) -> None:
        factory = ImmudbFactory(Environment("", dict(self.env)))
        try:
            self.assertEqual(factory._events_table(), "stored_events")
            self.assertEqual(factory._tracking_table(), "notification_tracking")
        finally:
            factory.close()


def test_package_exposes_exactly_one_concrete_factory() -> None:
    factories = {
        member
        for member in vars(aethyr_immudb_recorder).values()
        if isinstance(member, type)
        and issubclass(member, InfrastructureFactory)
        and not getattr(member, "__parameters__", None)
    }
    assert factories == {ImmudbFactory}
    assert Factory is ImmudbFactory


def test_constructor_is_cheap_and_lazy() -> None:
    """Building a factory opens no connection, even towards a port nobody listens on."""
    factory = ImmudbFactory({"IMMUDB_PORT": "1", "IMMUDB_DATABASE": "nothing_here"})
    assert factory.datastore._stub is None
    factory.close()
    assert factory.datastore.closed


def test_persistence_module_selects_the_factory_with_a_prefixed_env() -> None:
    database = immudb_harness.fresh_database("f")
    env = {
        f"WORLD_{key}" if key.startswith("IMMUDB_") else key: value
        for key, value in env_for(database).items()
    }
    env["IMMUDB_HOST"] = "192.0.2.1"  # unprefixed key loses to WORLD_IMMUDB_HOST
    factory = InfrastructureFactory.construct(Environment("World", env))
    try:
        assert isinstance(factory, ImmudbFactory)
        assert factory.settings.host == immudb_harness.server().host
        assert factory.settings.database == database
        recorder = factory.application_recorder()
        assert recorder.max_notification_id() is None
    finally:
        factory.close()
