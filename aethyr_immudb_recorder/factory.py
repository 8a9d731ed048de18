"""The eventsourcing infrastructure factory of the immudb persistence module.

``PERSISTENCE_MODULE=aethyr_immudb_recorder`` makes eventsourcing construct
:class:`ImmudbFactory`. The constructor only reads and validates settings (see
:class:`~aethyr_immudb_recorder.settings.ImmudbSettings`); the first recorder
method that needs the server opens the connection. Table names follow the
PostgreSQL module: ``{name}_events``, ``{name}_snapshots`` (any purpose),
``{name}_tracking`` and ``{name}_dcb_events`` (DCB), where ``name`` is the
application's or projection's name in lower case (``stored`` / ``notification`` when it is empty).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from eventsourcing.dcb.api import DCBRecorder
from eventsourcing.dcb.persistence import DCBInfrastructureFactory
from eventsourcing.persistence import (
    InfrastructureFactory,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.errors import ConfigurationError
from aethyr_immudb_recorder.metrics import metrics_for
from aethyr_immudb_recorder.recorders import (
    ImmudbAggregateRecorder,
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
    ImmudbTrackingRecorder,
)
from aethyr_immudb_recorder.replicas import ReplicaSet, replica_settings
from aethyr_immudb_recorder.settings import ImmudbKeys, ImmudbSettings

R = TypeVar("R")
TImmudbTrackingRecorder = TypeVar("TImmudbTrackingRecorder", bound=ImmudbTrackingRecorder)


class ImmudbFactory(
    ImmudbKeys,
    InfrastructureFactory[ImmudbTrackingRecorder],
    DCBInfrastructureFactory[ImmudbTrackingRecorder],
):
    """Builds immudb recorders sharing one lazily connected :class:`ImmudbDatastore`.

    It is also eventsourcing's ``DCBInfrastructureFactory``: :meth:`dcb_recorder`
    gives the dynamic-consistency-boundary recorder of :mod:`aethyr_immudb_recorder.dcb`.

    The names of its environment keys are class constants inherited from
    :class:`~aethyr_immudb_recorder.settings.ImmudbKeys` (eventsourcing style:
    ``ImmudbFactory.IMMUDB_HOST == "IMMUDB_HOST"``); they are written only there.
    """

    aggregate_recorder_class = ImmudbAggregateRecorder
    application_recorder_class = ImmudbApplicationRecorder
    tracking_recorder_class = ImmudbTrackingRecorder
    process_recorder_class = ImmudbProcessRecorder

    def __init__(
        self,
        env: Environment | EnvType | None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(env)
        self.settings = ImmudbSettings.from_env(self.env)
        if registry is None:
            registry = self._registry_from_env()
        metrics = metrics_for(registry)
        self.datastore = ImmudbDatastore(self.settings, metrics)
        #: Where lag-tolerant reads go (``IMMUDB_REPLICAS``); ``None`` without replicas.
        self.replicas: ReplicaSet | None = None
        if self.settings.replicas:
            self.replicas = ReplicaSet(
                self.datastore,
                [
                    ImmudbDatastore(replica_settings(self.settings, address), metrics)
                    for address in self.settings.replicas
                ],
                max_wait=self.settings.replica_max_wait,
            )

    def _registry_from_env(self) -> CollectorRegistry | None:
        topic = self.env.get(self.IMMUDB_METRICS_REGISTRY_TOPIC)
        if not topic:
            return None
        keys = " or ".join(
            repr(k) for k in self.env.create_keys(self.IMMUDB_METRICS_REGISTRY_TOPIC)
        )
        try:
            registry = resolve_topic(topic)
        except Exception as exc:
            msg = f"Invalid immudb recorder setting {keys}: cannot resolve {topic!r} ({exc})"
            raise ConfigurationError(msg) from None
        if not isinstance(registry, CollectorRegistry):
            msg = f"Invalid immudb recorder setting {keys}: {topic!r} is not a CollectorRegistry"
            raise ConfigurationError(msg)
        return registry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.env.name!r}, datastore={self.datastore!r})"

    def env_create_table(self) -> bool:
        """Whether to create missing databases and tables (``CREATE_TABLE``, default yes)."""
        return self.settings.create_table

    def _recorder_class(self, topic_key: str, default: type[R], base: type[Any]) -> type[R]:
        """The class the ``topic_key`` setting names (a subclass of ``base``), else ``default``."""
        topic = self.env.get(topic_key)
        if not topic:
            return default
        cls = resolve_topic(topic)
        assert issubclass(cls, base)
        return cast("type[R]", cls)

    def _events_table(self, purpose: str = "events") -> str:
        return (self.env.name.lower() or "stored") + "_" + purpose

    def _tracking_table(self) -> str:
        return (self.env.name.lower() or "notification") + "_tracking"

    def aggregate_recorder(self, purpose: str = "events") -> ImmudbAggregateRecorder:
        recorder = type(self).aggregate_recorder_class(
            datastore=self.datastore, events_table_name=self._events_table(purpose)
        )
        if purpose == "snapshots":
            recorder.stored_kind = "snapshot"
        recorder.replicas = self.replicas
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def application_recorder(self) -> ImmudbApplicationRecorder:
        cls = self._recorder_class(
            self.APPLICATION_RECORDER_TOPIC,
            type(self).application_recorder_class,
            ImmudbApplicationRecorder,
        )
        recorder = cls(datastore=self.datastore, events_table_name=self._events_table())
        recorder.replicas = self.replicas
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def tracking_recorder(
        self, tracking_recorder_class: type[TImmudbTrackingRecorder] | None = None
    ) -> TImmudbTrackingRecorder:
        if tracking_recorder_class is None:
            tracking_recorder_class = self._recorder_class(
                self.TRACKING_RECORDER_TOPIC,
                cast("type[TImmudbTrackingRecorder]", type(self).tracking_recorder_class),
                ImmudbTrackingRecorder,
            )
        assert issubclass(tracking_recorder_class, ImmudbTrackingRecorder)
        recorder = tracking_recorder_class(
            datastore=self.datastore, tracking_table_name=self._tracking_table()
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def process_recorder(self) -> ImmudbProcessRecorder:
        cls = self._recorder_class(
            self.PROCESS_RECORDER_TOPIC, type(self).process_recorder_class, ImmudbProcessRecorder
        )
        recorder = cls(
            datastore=self.datastore,
            events_table_name=self._events_table(),
            tracking_table_name=self._tracking_table(),
        )
        recorder.replicas = self.replicas
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def dcb_recorder(self) -> DCBRecorder:
        """An :class:`~aethyr_immudb_recorder.dcb.ImmudbDCBRecorder` on table
        ``{name}_dcb_events`` (``dcb_dcb_events`` when the name is empty), beside
        the aggregate tables of an application with the same name."""
        from aethyr_immudb_recorder.dcb import ImmudbDCBRecorder

        table = (self.env.name.lower() or "dcb") + "_dcb_events"
        recorder = ImmudbDCBRecorder(datastore=self.datastore, events_table_name=table)
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def close(self) -> None:
        """Close the datastore's (and the replicas') channels; their idle sessions go to
        the next datastore of the same login (``IMMUDB_SESSION_REUSE``) or are closed."""
        if self.replicas is not None:
            self.replicas.close()
        self.datastore.close()

    def __exit__(self, *args: Any) -> None:
        super().__exit__(*args)
        self.close()
