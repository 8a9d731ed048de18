"""Reads from immudb replicas, replication lag, and promoting a replica to primary.

immudb replicates per database: a database created with replication settings
(``CreateDatabaseV2``: ``replica=true`` and the primary's host, port, database
and credentials) copies every transaction of the primary's database, with the
same ids and hashes. Synchronous replication is a setting of the *primary's*
database (``syncReplication=true``, ``syncAcks=N``: a commit is acknowledged
only once N replicas hold it) and of the replica's (``syncReplication=true``).
This module builds on that and adds nothing of its own to the data:

* :class:`ReplicaSet` routes the reads that may go to a replica. Before each
  such read it asks the primary for its latest committed transaction id
  (``CurrentState``, one small RPC) and waits until a replica has committed that
  transaction too, polling the replica's ``CurrentState``; the read then goes to
  that replica. A replica that does not catch up within ``IMMUDB_REPLICA_MAX_WAIT``
  seconds, or does not answer, is skipped, and the read goes to the primary. So a
  read from a replica sees everything the primary had committed when the read
  began, exactly like a read from the primary would: a follower never skips or
  repeats a notification because its replica lags.
* :func:`replication_lag` measures how far each replica is behind, in
  transactions and seconds (for ``aethyr-es stats`` and the metrics).
* :func:`promote` switches a replica's database to a primary (``UpdateDatabaseV2``
  with ``replica=false``), after the old primary is gone.

Which recorder calls may go to a replica (only in a factory given
``IMMUDB_REPLICAS``): ``select_notifications`` (so subscriptions and projection
followers), ``select_events``, ``select_records``, ``notification_id_at_tx`` and
``transaction_ids``. ``select_notifications`` first reads any replica without waiting:
a full page (or one reaching ``stop``) is complete, since notification ids are dense
and never change. For a short page it reads the primary's notification counter (the
log's last id and the transaction that wrote it): nothing past the page there, and the
short page is all there is; else it waits (:meth:`ReplicaSet.reader_at`) for a replica
to hold *that* transaction - the position the page needs, not the primary's latest
transaction - and reads the page again. So a replay or a follower catching up pages
through a lagging replica at full speed, a follower at the end of the log does not wait
at all, and one that needs new notifications waits only for them. Writes,
``max_notification_id``, ``max_tracking_id``, schema checks, the subscription's wake-up
polls and that counter read always go to the primary.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import grpc
from eventsourcing.persistence import OperationalError, PersistenceError
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.errors import details_of
from aethyr_immudb_recorder.settings import ImmudbSettings

logger = logging.getLogger(__name__)

_POLL = 0.002  # seconds between a waiting reader's polls of a replica's state


@dataclasses.dataclass(frozen=True)
class ReplicaLag:
    """How far one replica is behind its primary."""

    #: ``host:port`` of the replica.
    replica: str
    #: Transactions the primary had committed that the replica had not, when asked.
    transactions: int
    #: Seconds the replica took to commit what the primary had committed when asked
    #: (0 when it already had it; the whole wait when it did not catch up in time).
    seconds: float
    #: Whether the replica caught up within the wait.
    caught_up: bool = True
    #: False when the replica did not answer (then the numbers are meaningless).
    reachable: bool = True


def replica_settings(primary: ImmudbSettings, address: str) -> ImmudbSettings:
    """The settings of a replica datastore: ``primary``'s, at ``address``, read-only.

    The replica never creates or tunes its database (it is the primary's copy), and
    does not retry an unreachable server: the read falls back to the primary instead.
    """
    host, port = parse_address(address)
    return dataclasses.replace(
        primary,
        host=host,
        port=port,
        create_table=False,
        sync_frequency_ms=None,
        max_retries=0,
        replicas=(),
    )


def parse_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port``; ``ValueError`` naming what is wrong."""
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, got {address!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"expected host:port with a numeric port, got {address!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"expected a TCP port number (1-65535) in {address!r}")
    return host, port


class ReplicaSet:
    """The primary's datastore and its replicas' datastores; picks where a read goes.

    :meth:`reader` is the only routing decision: it returns a replica's datastore
    once that replica has committed every transaction the primary had committed
    when :meth:`reader` was called, else the primary's. Replicas are tried in
    turn, starting with the next one each call (reads spread over them).
    """

    def __init__(
        self,
        primary: ImmudbDatastore,
        replicas: Sequence[ImmudbDatastore],
        *,
        max_wait: float,
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.max_wait = max_wait
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        names = ", ".join(r.settings.address for r in self.replicas)
        return f"ReplicaSet(primary={self.primary.settings.address!r}, replicas=[{names}])"

    def reader(self) -> ImmudbDatastore:
        """A datastore holding all the primary has committed now (a replica if one does)."""
        if not self.replicas:
            return self.primary
        return self.reader_at(self.primary.current_tx_id())

    def reader_at(self, target: int, *, prefer: ImmudbDatastore | None = None) -> ImmudbDatastore:
        """A datastore holding transaction ``target`` of the primary's (and every one
        before it): a replica that has committed it or does within ``max_wait``, else the
        primary. ``prefer`` (one of the replicas) is tried first.

        For a reader that knows the position it needs (a follower needs the transaction
        that wrote the primary's last notification, not the primary's latest transaction,
        which may be a later write of anything else), so it waits no longer than that.
        """
        if not self.replicas:
            return self.primary
        with self._lock:
            start = next(self._turn) % len(self.replicas)
        order = [self.replicas[(start + i) % len(self.replicas)] for i in range(len(self.replicas))]
        if prefer is not None and prefer in order:
            order.remove(prefer)
            order.insert(0, prefer)
        deadline = time.monotonic() + self.max_wait
        for replica in order:
            lag = _catch_up(replica, target, deadline)
            self._observe(lag)
            if lag.reachable and lag.caught_up:
                return replica
        logger.debug(
            "no replica caught up with tx %d in %.3fs: reading the primary", target, self.max_wait
        )
        return self.primary

    def next_replica(self) -> ImmudbDatastore | None:
        """The next replica in turn, unchecked (for reads that can tell when they are
        complete, like a full page of notifications); ``None`` without replicas."""
        if not self.replicas:
            return None
        with self._lock:
            return self.replicas[next(self._turn) % len(self.replicas)]

    def lag(self) -> list[ReplicaLag]:
        """Each replica's lag now (see :func:`replication_lag`); updates the metrics."""
        found = replication_lag(self.primary, self.replicas, max_wait=self.max_wait)
        for lag in found:
            self._observe(lag)
        return found

    def _observe(self, lag: ReplicaLag) -> None:
        if not lag.reachable:
            return
        metrics = self.primary.metrics
        metrics.replication_lag.labels(replica=lag.replica).set(lag.seconds)
        metrics.replication_lag_transactions.labels(replica=lag.replica).set(lag.transactions)

    def close(self) -> None:
        """Close the replicas' datastores (the primary's belongs to the factory)."""
        for replica in self.replicas:
            replica.close()


def _catch_up(replica: ImmudbDatastore, target: int, deadline: float) -> ReplicaLag:
    """Wait (until ``deadline``) for ``replica`` to commit transaction ``target``."""
    started = time.monotonic()
    address = replica.settings.address
    first: int | None = None
    while True:
        try:
            current = replica.current_tx_id()
        except PersistenceError as exc:
            logger.debug("replica %s did not answer: %s", address, exc)
            return ReplicaLag(address, 0, 0.0, caught_up=False, reachable=False)
        if first is None:
            first = current
        behind = max(0, target - first)
        now = time.monotonic()
        if current >= target:
            return ReplicaLag(address, behind, 0.0 if behind == 0 else now - started)
        if now >= deadline:
            return ReplicaLag(address, behind, now - started, caught_up=False)
        time.sleep(_POLL)


def replication_lag(
    primary: ImmudbDatastore, replicas: Sequence[ImmudbDatastore], *, max_wait: float = 5.0
) -> list[ReplicaLag]:
    """How far each replica is behind ``primary``, measured now.

    ``transactions``: the primary's latest committed transaction id minus the
    replica's, both read now. ``seconds``: how long the replica then took to commit
    the primary's latest transaction (0 when it already had it; at most
    ``max_wait``, when it is still behind after that - a lower bound).
    """
    target = primary.current_tx_id()
    return [_catch_up(replica, target, time.monotonic() + max_wait) for replica in replicas]


# -- administration (promote, replica databases) ----------------------------------


class ReplicationError(OperationalError):
    """A replication administration step failed (the message says which and why)."""


def _admin(address: str, user: str, password: str, database: str) -> tuple[Any, Any, Any]:
    channel = grpc.insecure_channel(address)
    stub = schema_pb2_grpc.ImmuServiceStub(channel)
    try:
        response = stub.OpenSession(
            schema_pb2.OpenSessionRequest(
                username=user.encode(), password=password.encode(), databaseName=database
            ),
            timeout=10.0,
        )
    except grpc.RpcError as exc:
        channel.close()
        raise ReplicationError(f"cannot open a session on {address}: {details_of(exc)}") from None
    return channel, stub, (("sessionid", response.sessionID),)


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did."""

    database: str
    #: False when the database already was a primary (nothing was changed).
    was_replica: bool
    #: ``host:port`` of the primary it replicated (empty when it was not a replica).
    old_primary: str
    #: The database's latest committed transaction after the switch.
    last_tx: int


def promote(
    address: str,
    database: str,
    *,
    user: str,
    password: str,
    force: bool = False,
    timeout: float = 10.0,
) -> Promotion:
    """Switch ``database`` at ``address`` from replica to primary.

    ``UpdateDatabaseV2`` with ``replica=false``, the primary's address and
    credentials cleared and ``syncReplication=false``: replication stops, and the
    transactions a synchronous replica had received but not yet been allowed to
    commit (the primary's last acknowledged ones) are committed. Then waits until
    the database is writable and returns its latest transaction id. Idempotent: a
    database that is already a primary is left alone.

    Refuses (:class:`ReplicationError`) while the old primary still answers a health
    check, unless ``force``: two primaries would each accept writes (split brain).
    """
    channel, stub, metadata = _admin(address, user, password, database)
    try:
        current = stub.GetDatabaseSettingsV2(
            schema_pb2.DatabaseSettingsRequest(), metadata=metadata, timeout=timeout
        ).settings.replicationSettings
        if not current.replica.value:
            state = stub.CurrentState(empty_pb2.Empty(), metadata=metadata, timeout=timeout)
            return Promotion(database, False, "", int(state.txId))
        old = f"{current.primaryHost.value}:{current.primaryPort.value}"
        if not force and answers(old):
            raise ReplicationError(
                f"the primary of {database!r} at {old} still answers: stop it first "
                "(two primaries would both accept writes), or force the promotion"
            )
        rs = schema_pb2.ReplicationNullableSettings(
            replica=schema_pb2.NullableBool(value=False),
            syncReplication=schema_pb2.NullableBool(value=False),
            syncAcks=schema_pb2.NullableUint32(value=0),
            primaryDatabase=schema_pb2.NullableString(value=""),
            primaryHost=schema_pb2.NullableString(value=""),
            primaryPort=schema_pb2.NullableUint32(value=0),
            primaryUsername=schema_pb2.NullableString(value=""),
            primaryPassword=schema_pb2.NullableString(value=""),
            prefetchTxBufferSize=schema_pb2.NullableUint32(value=0),
            replicationCommitConcurrency=schema_pb2.NullableUint32(value=0),
            allowTxDiscarding=schema_pb2.NullableBool(value=False),
            skipIntegrityCheck=schema_pb2.NullableBool(value=False),
            waitForIndexing=schema_pb2.NullableBool(value=False),
        )
        try:
            stub.UpdateDatabaseV2(
                schema_pb2.UpdateDatabaseRequest(
                    database=database,
                    settings=schema_pb2.DatabaseNullableSettings(replicationSettings=rs),
                ),
                metadata=metadata,
                timeout=timeout,
            )
        except grpc.RpcError as exc:
            raise ReplicationError(
                f"cannot promote {database!r} at {address}: {details_of(exc)}"
            ) from None
        # Precommitted transactions become committed on the store's next sync.
        precommitted = int(
            stub.CurrentState(empty_pb2.Empty(), metadata=metadata, timeout=timeout).txId
        )
        deadline = time.monotonic() + timeout
        last = precommitted
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = int(stub.CurrentState(empty_pb2.Empty(), metadata=metadata, timeout=timeout).txId)
            if now == last:
                break
            last = now
        return Promotion(database, True, old, last)
    finally:
        channel.close()


def answers(address: str, timeout: float = 1.0) -> bool:
    """Whether an immudb server answers a health check at ``address``."""
    channel = grpc.insecure_channel(address)
    try:
        stub = schema_pb2_grpc.ImmuServiceStub(channel)
        stub.Health(empty_pb2.Empty(), timeout=timeout)
        return True
    except grpc.RpcError:
        return False
    finally:
        channel.close()
