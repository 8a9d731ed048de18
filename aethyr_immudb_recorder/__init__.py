"""aethyr_immudb_recorder: an immudb persistence module for the eventsourcing library.

Select it in any eventsourcing application with
``PERSISTENCE_MODULE=aethyr_immudb_recorder``; configure it with the
``IMMUDB_*`` keys (see ``docs/recorder.md``). The package exposes exactly one
concrete infrastructure factory, :class:`ImmudbFactory` (also as ``Factory``); it is
also eventsourcing's ``DCBInfrastructureFactory`` (:class:`ImmudbDCBRecorder`).
"""

from aethyr_immudb_recorder._version import __version__ as __version__
from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.dcb import ImmudbDCBRecorder, ImmudbDCBSubscription
from aethyr_immudb_recorder.errors import (
    BatchTooLargeError,
    ConfigurationError,
    PermissionDeniedError,
    StaleCounterError,
    StoreNeedsUpgradeError,
    TlsError,
)
from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.metrics import Metrics, metrics_for
from aethyr_immudb_recorder.recorders import (
    ImmudbAggregateRecorder,
    ImmudbApplicationRecorder,
    ImmudbProcessRecorder,
    ImmudbTrackingRecorder,
)
from aethyr_immudb_recorder.settings import ImmudbSettings
from aethyr_immudb_recorder.sql_tracking import ImmudbSQLTrackingRecorder
from aethyr_immudb_recorder.subscription import ImmudbSubscription

Factory = ImmudbFactory

__all__ = [
    "BatchTooLargeError",
    "ConfigurationError",
    "Factory",
    "ImmudbAggregateRecorder",
    "ImmudbApplicationRecorder",
    "ImmudbDCBRecorder",
    "ImmudbDCBSubscription",
    "ImmudbDatastore",
    "ImmudbFactory",
    "ImmudbProcessRecorder",
    "ImmudbSQLTrackingRecorder",
    "ImmudbSettings",
    "ImmudbSubscription",
    "ImmudbTrackingRecorder",
    "Metrics",
    "PermissionDeniedError",
    "StaleCounterError",
    "StoreNeedsUpgradeError",
    "TlsError",
    "metrics_for",
]
