"""Why a synchronously replicated immudb database must never have ``syncFrequency`` 0.

immudb 1.11.1's primary answers a synchronous replica's ``ExportTx`` request
(``pkg/database/database.go``, ``ExportTxByID``) by waiting for the requested
transaction with a deadline of ``4 x syncFrequency`` of the *primary's* database::

    ctx, cancel = context.WithTimeout(ctx, d.options.storeOpts.SyncFrequency*4)
    err = d.WaitForTx(ctx, req.Tx, req.AllowPreCommitted)
    if ctx.Err() != nil {
        return nil, mayCommitUpToTxID, mayCommitUpToAlh, nil   // no transaction
    }

With ``syncFrequency`` 0 that deadline has passed before the wait begins, so the
primary answers every request with "no transaction": the replica never receives
one, never acknowledges one, and the primary - waiting for ``syncAcks`` replicas -
never acknowledges a commit. Every write then ends only at the client's deadline
(``IMMUDB_TIMEOUT``: ``OperationalError``, DEADLINE_EXCEEDED). The benchmarks hit
exactly that once the synced backend moved to ``IMMUDB_SYNC_FREQUENCY_MS=0``.

The same deadline sets the latency of a single synchronous writer: the replica
reports what it precommitted only in its *next* request, which it usually sends
before its apply goroutine has precommitted the transaction just received; that
request then waits the full ``4 x syncFrequency`` (no newer transaction comes while
the writer waits for its acknowledgement) before the replica asks again and
acknowledges. So a lone writer pays about ``4 x syncFrequency`` per commit (80 ms at
immudb's default of 20 ms, 4 ms at 1 ms), and an idle synchronous replica polls its
primary every ``4 x syncFrequency``.

Also from the code: ``UpdateDatabaseV2`` only *saves* a new ``syncFrequency``
(``pkg/server/server.go``: it re-applies the replication settings, not the store's
options); a loaded database keeps the old value until it is unloaded and loaded
again (or the server restarts). So fixing the setting of a loaded database needs a
reload, which :func:`reload_database` does.

Used by the recorder (it never applies ``IMMUDB_SYNC_FREQUENCY_MS=0`` to a
synchronously replicated primary database) and by the launcher (``--sync`` raises
the primary database's ``syncFrequency`` to :data:`MIN_SYNC_FREQUENCY_MS` and
reloads it).
"""

from __future__ import annotations

from typing import Any

MIN_SYNC_FREQUENCY_MS = 1
"""The smallest ``syncFrequency`` (ms) a synchronously replicated primary database may have."""


def is_sync_primary(settings: Any) -> bool:
    """Whether ``settings`` (immudb's ``DatabaseNullableSettings``) describe a primary
    database with synchronous replication (``syncReplication`` on, not a replica)."""
    rs = settings.replicationSettings
    return bool(rs.syncReplication.value) and not bool(rs.replica.value)


def safe_sync_frequency_ms(wanted: int, settings: Any) -> int:
    """``wanted``, raised to :data:`MIN_SYNC_FREQUENCY_MS` for a synchronously
    replicated primary database (``settings``: its ``DatabaseNullableSettings``)."""
    if is_sync_primary(settings):
        return max(wanted, MIN_SYNC_FREQUENCY_MS)
    return wanted


def reload_database(stub: Any, metadata: Any, database: str, timeout: float) -> None:
    """Unload and load ``database`` so its saved settings (``syncFrequency``) take
    effect. Open sessions on it keep working (they name the database, not the
    loaded instance); a call that runs during the reload may fail once."""
    from immudb.grpc import schema_pb2

    stub.UnloadDatabase(
        schema_pb2.UnloadDatabaseRequest(database=database), metadata=metadata, timeout=timeout
    )
    stub.LoadDatabase(
        schema_pb2.LoadDatabaseRequest(database=database), metadata=metadata, timeout=timeout
    )
