"""Prometheus metrics of the projections, rebuilds and replays.

All metrics live on a module-level :class:`~prometheus_client.CollectorRegistry`
(:data:`REGISTRY`) that the game's metrics endpoint can expose next to its own;
names start with ``aethyr_projection_`` or ``aethyr_replay_``. :func:`expose`
adds them to another registry - the game's endpoint serves prometheus' global
``REGISTRY``, where the recorder's and the outbox's metrics live - so one
scrape shows them all.

Names follow Prometheus' conventions: base units, ``_total`` on counters (the
client adds it to a ``Counter``'s samples), and no pre-computed rates - divide
the ``*_total`` counters with ``rate()``. Every metric is listed, with its type
and labels, in ``docs/metrics.md``.

=====================================================  =====================================
metric                                                 meaning
=====================================================  =====================================
``aethyr_projection_events_processed_total``           events applied by a projection
``aethyr_projection_lag_events``                       store's last notification id minus
                                                       the view's tracking position
``aethyr_projection_lag_seconds``                      age of the newest event not yet
                                                       applied (0 when caught up)
``aethyr_projection_stuck_events``                     events the follower cannot apply
                                                       (it stopped on one: > 0 needs an
                                                       operator)
``aethyr_projection_follower_errors_total``           failures of ``aethyr-es project``,
                                                       by ``reason``: outage or event
``aethyr_projection_rebuild_progress_ratio``           rebuild: events done / events to do
``aethyr_projection_rebuild_events_total``             rebuild: events replayed
``aethyr_projection_rebuild_seconds_total``            rebuild: seconds spent replaying
``aethyr_replay_events_total``                         events replayed into a world
``aethyr_replay_seconds_total``                        seconds spent replaying into a world
=====================================================  =====================================
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_PROCESSED = Counter(
    "aethyr_projection_events_processed",
    "Events applied to the read model by a projection.",
    ["projection"],
    registry=REGISTRY,
)
LAG_EVENTS = Gauge(
    "aethyr_projection_lag_events",
    "Events recorded in the store but not yet applied by the projection.",
    ["projection"],
    registry=REGISTRY,
)
LAG_SECONDS = Gauge(
    "aethyr_projection_lag_seconds",
    "Age in seconds of the oldest event not yet applied (0 when caught up).",
    ["projection"],
    registry=REGISTRY,
)
STUCK_EVENTS = Gauge(
    "aethyr_projection_stuck_events",
    "Events the projection's follower cannot apply: it stopped on one (a processing "
    "error other than an outage) and stays there until an operator acts; 0 otherwise.",
    ["projection"],
    registry=REGISTRY,
)
FOLLOWER_ERRORS = Counter(
    "aethyr_projection_follower_errors",
    "Failures of a projection process (aethyr-es project), each followed by a retry "
    "after a back-off: reason is outage (the store did not answer) or event (an event "
    "could not be applied).",
    ["projection", "reason"],
    registry=REGISTRY,
)
REBUILD_PROGRESS = Gauge(
    "aethyr_projection_rebuild_progress_ratio",
    "Fraction of the event log a running rebuild has replayed (0..1).",
    ["projection"],
    registry=REGISTRY,
)
REBUILD_EVENTS = Counter(
    "aethyr_projection_rebuild_events",
    "Events replayed into fresh tables by rebuilds.",
    ["projection"],
    registry=REGISTRY,
)
REBUILD_SECONDS = Counter(
    "aethyr_projection_rebuild_seconds",
    "Seconds rebuilds spent replaying (rate(events) / rate(seconds) is their speed).",
    ["projection"],
    registry=REGISTRY,
)
REPLAY_EVENTS = Counter(
    "aethyr_replay_events",
    "Events replayed into an in-memory world (rebuild_world_state, time travel).",
    registry=REGISTRY,
)
REPLAY_SECONDS = Counter(
    "aethyr_replay_seconds",
    "Seconds spent replaying events into in-memory worlds.",
    registry=REGISTRY,
)


class _Bridge(Collector):
    """Collects this module's :data:`REGISTRY` on behalf of another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()

    def describe(self) -> Iterable[Metric]:
        return REGISTRY.collect()  # the names, so the target registry refuses clashes


_exposed: set[int] = set()
_exposed_lock = threading.Lock()


def expose(registry: CollectorRegistry | None = None) -> None:
    """Serve the projection metrics from ``registry`` too (default: prometheus'
    global ``REGISTRY``, which ``start_http_server`` exposes). Idempotent."""
    target = registry if registry is not None else prometheus_client.REGISTRY
    with _exposed_lock:
        if id(target) in _exposed:
            return
        target.register(_Bridge())
        _exposed.add(id(target))
