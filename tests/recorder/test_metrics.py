"""The recorder's Prometheus metrics appear in a scrape."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from aethyr_immudb_recorder import ImmudbFactory
from aethyr_immudb_recorder.metrics import metrics_for
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from tests import immudb_harness
from tests.recorder.support import env_for

registry_for_topic = CollectorRegistry()


def test_metrics_are_visible_in_a_scrape() -> None:
    registry = CollectorRegistry()
    env = Environment("World", env_for(immudb_harness.fresh_database("x")))
    factory = ImmudbFactory(env, registry=registry)
    try:
        recorder = factory.application_recorder()
        assert isinstance(recorder, ImmudbApplicationRecorder)
        event = StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b"")
        recorder.insert_events([event])
        with pytest.raises(IntegrityError):
            recorder.insert_events([event])
        with recorder.subscribe() as subscription:
            recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b""
                    )
                ]
            )
            assert next(subscription).id == 1
            assert next(subscription).id == 2
        recorder.select_notifications(None, 10)
        snapshots = factory.aggregate_recorder("snapshots")
        snapshots.insert_events(
            [StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="s", state=b"")]
        )
    finally:
        factory.close()
    scrape = generate_latest(registry).decode()
    for line in (
        'aethyr_recorder_stored_events_appended_total{kind="event"} 2.0',
        'aethyr_recorder_stored_events_appended_total{kind="snapshot"} 1.0',
        "# TYPE aethyr_recorder_replication_lag_seconds gauge",
        "aethyr_recorder_integrity_conflicts_total 1.0",
        'aethyr_recorder_errors_total{kind="integrity"} 1.0',
        "aethyr_recorder_append_seconds_count",
        'aethyr_recorder_select_seconds_count{operation="select_notifications"}',
        "aethyr_recorder_sessions_opened_total",
        "aethyr_recorder_subscription_lag_seconds_count",
        "# TYPE aethyr_recorder_retries_total counter",
    ):
        assert line in scrape, line


def test_many_factories_share_one_metrics_object_per_registry() -> None:
    registry = CollectorRegistry()
    first = ImmudbFactory({}, registry=registry)
    second = ImmudbFactory({}, registry=registry)
    assert first.datastore.metrics is second.datastore.metrics
    default = ImmudbFactory({})
    assert default.datastore.metrics is metrics_for(None)
    assert default.datastore.metrics.registry is REGISTRY
    for factory in (first, second, default):
        factory.close()


def test_registry_can_be_injected_by_topic() -> None:
    factory = ImmudbFactory({"IMMUDB_METRICS_REGISTRY_TOPIC": f"{__name__}:registry_for_topic"})
    assert factory.datastore.metrics.registry is registry_for_topic
    factory.close()
