"""Prometheus metrics of the immudb recorder.

One :class:`Metrics` object exists per :class:`prometheus_client.CollectorRegistry`
(:func:`metrics_for` caches them), so building many factories in one process
never registers a metric twice. The default registry is prometheus-client's
global ``REGISTRY``, which ``prometheus_client.start_http_server`` and
``generate_latest()`` expose; inject another with the factory's ``registry``
argument or the ``IMMUDB_METRICS_REGISTRY_TOPIC`` setting.

The prefix is ``aethyr_recorder_``, outside immudb's own ``immudb_`` namespace (the
server exports ``immudb_*`` metrics itself). Counters are named without ``_total``
(the client adds it to their samples); durations are in seconds; there are no
pre-computed rates. ``docs/metrics.md`` lists every metric with its labels.

==================================================  =========  ==============================
name (all prefixed ``aethyr_recorder_``)            type       meaning
==================================================  =========  ==============================
``stored_events_appended_total{kind}``              counter    rows written: ``kind`` is
                                                               ``event`` or ``snapshot``
``append_seconds``                                  histogram  one successful write
``select_seconds{operation}``                       histogram  one read
``integrity_conflicts_total``                       counter    writes refused as
                                                               IntegrityError
``retries_total{reason}``                           counter    conflict / session /
                                                               unavailable
``errors_total{kind}``                              counter    errors raised, by kind
``sessions_opened_total``                           counter    immudb sessions opened
``sessions_reused_total``                           counter    sessions taken over from a
                                                               closed datastore
``subscription_lag_seconds``                        histogram  wake-up to delivery of new
                                                               events
``replication_lag_seconds{replica}``                gauge      seconds a replica took to
                                                               catch up with the primary
``replication_lag_transactions{replica}``           gauge      transactions a replica is
                                                               behind the primary
==================================================  =========  ==============================
"""

from __future__ import annotations

import threading
import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """The recorder's collectors, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.stored_events_appended = Counter(
            "aethyr_recorder_stored_events_appended",
            "Stored events written to immudb, by kind: event (an aggregate's events "
            "table) or snapshot (a snapshots table).",
            ["kind"],
            registry=registry,
        )
        self.append_seconds = Histogram(
            "aethyr_recorder_append_seconds",
            "Duration of one successful write (events, snapshots, tracking, schema set-up), "
            "retries included.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.select_seconds = Histogram(
            "aethyr_recorder_select_seconds",
            "Duration of one read from immudb.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.integrity_conflicts = Counter(
            "aethyr_recorder_integrity_conflicts",
            "Writes refused with IntegrityError (version clash or tracking not increasing).",
            registry=registry,
        )
        self.retries = Counter(
            "aethyr_recorder_retries",
            "Calls retried after a transient fault.",
            ["reason"],
            registry=registry,
        )
        self.errors = Counter(
            "aethyr_recorder_errors",
            "Errors raised to the caller, by kind.",
            ["kind"],
            registry=registry,
        )
        self.sessions_opened = Counter(
            "aethyr_recorder_sessions_opened",
            "immudb sessions opened.",
            registry=registry,
        )
        self.sessions_reused = Counter(
            "aethyr_recorder_sessions_reused",
            "Logged-in immudb sessions a closed datastore of the same login handed over.",
            registry=registry,
        )
        self.subscription_lag = Histogram(
            "aethyr_recorder_subscription_lag_seconds",
            "Delay from a subscription being woken (local insert or poll) to the new "
            "notifications being queued for the consumer.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.replication_lag = Gauge(
            "aethyr_recorder_replication_lag_seconds",
            "Seconds the immudb replica took, at its last lag-tolerant read or lag "
            "check, to commit every transaction the primary had committed (0 when it "
            "already had them).",
            ["replica"],
            registry=registry,
        )
        self.replication_lag_transactions = Gauge(
            "aethyr_recorder_replication_lag_transactions",
            "Transactions the primary had committed that the immudb replica had not, "
            "at its last lag-tolerant read or lag check.",
            ["replica"],
            registry=registry,
        )


_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(registry: CollectorRegistry | None = None) -> Metrics:
    """The :class:`Metrics` of ``registry`` (the global ``REGISTRY`` by default)."""
    target = REGISTRY if registry is None else registry
    with _lock:
        metrics = _cache.get(target)
        if metrics is None:
            metrics = Metrics(target)
            _cache[target] = metrics
        return metrics
