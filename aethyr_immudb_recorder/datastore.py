"""The connection to one immudb database: channel, session pool, transactions, retries.

:class:`ImmudbDatastore` is what every recorder of a factory shares. It

* opens nothing until first used (the factory's constructor stays cheap);
* connects over TLS (``grpc.secure_channel``, the server's certificate verified
  against ``IMMUDB_TLS_CA``, a client certificate presented with
  ``IMMUDB_TLS_CERT`` / ``IMMUDB_TLS_KEY``) or in plaintext; a TLS failure is one
  :class:`~aethyr_immudb_recorder.errors.TlsError` naming the cause, raised at once;
* refuses immudb's default password for a host that is not loopback before it
  opens the channel (:func:`~aethyr_immudb_recorder.settings.check_default_password`);
* talks to immudb through one gRPC channel and the raw ``ImmuService`` stub from
  immudb-py's generated code, adding the ``sessionid`` / ``transactionid``
  headers per call (immudb-py swaps stubs on the client object, which is not
  thread-safe, and gives interactive transactions no deadline);
* keeps a pool of up to ``IMMUDB_POOL_SIZE`` immudb sessions, each used by one
  thread at a time, sends a keep-alive before reusing a session idle for
  ``IMMUDB_SESSION_KEEPALIVE`` seconds, and reopens sessions the server forgot
  (expired, or lost in a restart);
* creates the database when it is missing and ``IMMUDB_CREATE_DATABASE`` (default:
  ``CREATE_TABLE``) is true - the one step that needs immudb's superuser; a user
  without the right gets a :class:`~aethyr_immudb_recorder.errors.PermissionDeniedError`
  saying so;
* runs every operation through :meth:`ImmudbDatastore.run`, which retries
  ``tx read conflict`` with jittered exponential backoff (up to
  ``IMMUDB_CONFLICT_RETRIES`` times) and lost sessions or an unavailable server
  with bounded exponential backoff (``IMMUDB_MAX_RETRIES``,
  ``IMMUDB_RETRY_DELAY``, ``IMMUDB_RETRY_MAX_DELAY``), then translates the
  error (:mod:`aethyr_immudb_recorder.errors`). ``IntegrityError`` is never retried.
* offers the KV calls the recorders use (:meth:`ImmudbDatastore.kv_set`,
  :meth:`~ImmudbDatastore.kv_get`, :meth:`~ImmudbDatastore.kv_scan`) next to the
  SQL ones the read-model views use (:meth:`ImmudbDatastore.query`,
  :meth:`~ImmudbDatastore.transaction`);
* applies ``IMMUDB_SYNC_FREQUENCY_MS`` to the database (at creation, or with
  ``UpdateDatabaseV2`` when it differs) and reads its ``maxTxEntries`` once;
* serialises SQL writers in the process with one lock per immudb database
  (:func:`writer_lock`; ``run(..., write=True)``): every SQL read-write
  transaction reads the maximum primary key of every ``AUTO_INCREMENT`` table,
  so concurrent SQL writers would otherwise mostly conflict. KV writes do not
  take it (their preconditions do that job).
"""

from __future__ import annotations

import collections
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import grpc
from eventsourcing.persistence import OperationalError, PersistenceError
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

from aethyr_immudb_recorder.errors import (
    RETRYABLE,
    ErrorKind,
    PermissionDeniedError,
    TlsError,
    classify,
    details_of,
    tls_failure,
    translate,
)
from aethyr_immudb_recorder.metrics import Metrics, metrics_for
from aethyr_immudb_recorder.session_reuse import PARKED, LoginKey, login_key
from aethyr_immudb_recorder.settings import (
    ImmudbSettings,
    check_default_password,
    uses_default_password,
)
from aethyr_immudb_recorder.sqlvalues import Params, Row, named_params, rows_of
from aethyr_immudb_recorder.sync_replication import safe_sync_frequency_ms

logger = logging.getLogger(__name__)

T = TypeVar("T")

_READ_WRITE = 2  # schema_pb2.TxMode.ReadWrite
_READ_ONLY = 0

_locks_guard = threading.Lock()
_writer_locks: dict[tuple[str, str], threading.RLock] = {}


def writer_lock(address: str, database: str) -> threading.RLock:
    """The process-wide lock that serialises writers to one immudb database."""
    key = (address, database)
    with _locks_guard:
        lock = _writer_locks.get(key)
        if lock is None:
            lock = threading.RLock()
            _writer_locks[key] = lock
        return lock


class Session:
    """One open immudb session (used by one thread at a time).

    ``open_transactions`` counts the interactive transactions begun in it that have not
    ended with a successful ``Commit`` or ``Rollback``: such a session is never handed
    to another datastore (:mod:`aethyr_immudb_recorder.session_reuse`).
    """

    __slots__ = ("id", "last_used", "metadata", "open_transactions")

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.metadata: tuple[tuple[str, str], ...] = (("sessionid", session_id),)
        self.last_used = time.monotonic()
        self.open_transactions = 0

    def __repr__(self) -> str:
        return "Session(<id hidden>)"


class Transaction:
    """An open interactive immudb transaction (see :meth:`ImmudbDatastore.transaction`)."""

    def __init__(self, datastore: ImmudbDatastore, session: Session, transaction_id: str) -> None:
        self._datastore = datastore
        self._session = session
        self._ended = False
        self._stub = datastore.stub
        self._metadata = (*session.metadata, ("transactionid", transaction_id))
        self._timeout = datastore.settings.timeout

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT inside the transaction; the rows as tuples."""
        request = query_request(sql, params)
        stream = self._stub.TxSQLQuery(request, metadata=self._metadata, timeout=self._timeout)
        return rows_of(list(stream))

    def execute(self, sql: str, params: Params | None = None) -> Any:
        """Run statements inside the transaction (applied on commit)."""
        request = exec_request(sql, params)
        return self._stub.TxSQLExec(request, metadata=self._metadata, timeout=self._timeout)

    def commit(self) -> Any:
        result = self._stub.Commit(
            empty_pb2.Empty(), metadata=self._metadata, timeout=self._timeout
        )
        self._end()
        return result

    def rollback(self) -> None:
        # After a failed statement the server has already discarded the tx.
        with suppress(grpc.RpcError):
            self._stub.Rollback(empty_pb2.Empty(), metadata=self._metadata, timeout=self._timeout)
            self._end()

    def _end(self) -> None:
        """The server confirmed the end of the transaction: the session holds one fewer."""
        if not self._ended:
            self._ended = True
            self._session.open_transactions -= 1


class ImmudbDatastore:
    """Sessions, transactions and retries for one immudb database (thread-safe)."""

    def __init__(self, settings: ImmudbSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or metrics_for(None)
        self.database_key = (settings.address, settings.database)
        self.writer_lock = writer_lock(*self.database_key)
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._stub: Any = None
        self._idle: collections.deque[Session] = collections.deque()
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._closed = False
        self._database_checked = False
        self._ensured_tables: set[str] = set()
        self._database_tuned = False
        self.max_tx_entries = settings.max_tx_entries
        #: Whose parked sessions this datastore may take and park
        #: (:mod:`aethyr_immudb_recorder.session_reuse`); ``None``: ``IMMUDB_SESSION_REUSE=no``.
        self._login_key: LoginKey | None = login_key(settings) if settings.session_reuse else None
        self.sessions_lost = 0
        """Sessions dropped because the server forgot them or was unreachable (a restart,
        say); the committers forget which keys they wrote when it changes."""

    def __repr__(self) -> str:
        s = self.settings
        return f"ImmudbDatastore(address={s.address!r}, database={s.database!r})"

    # -- connection ------------------------------------------------------------

    @property
    def stub(self) -> Any:
        """The ``ImmuService`` stub (the channel is created on first use)."""
        stub = self._stub
        if stub is None:
            with self._lock:
                if self._closed:
                    msg = "immudb datastore is closed"
                    raise OperationalError(msg)
                if self._stub is None:
                    check_default_password(self.settings)  # before anything is sent
                    self._channel = open_channel(self.settings)
                    self._stub = schema_pb2_grpc.ImmuServiceStub(self._channel)
                stub = self._stub
        return stub

    def _open_session(self, database: str | None = None) -> Session:
        request = schema_pb2.OpenSessionRequest(
            username=self.settings.user.encode(),
            password=self.settings.password.encode(),
            databaseName=database or self.settings.database,
        )
        try:
            response = self.stub.OpenSession(request, timeout=self.settings.connect_timeout)
        except grpc.RpcError as exc:
            cause = tls_failure(
                exc,
                tls=self.settings.tls,
                mutual=self.settings.mutual_tls,
                first=not self._database_checked,
            )
            if cause is not None:
                mode = (
                    "mutual TLS"
                    if self.settings.mutual_tls
                    else "TLS"
                    if self.settings.tls
                    else "plaintext"
                )
                msg = (
                    f"cannot connect to immudb at {self.settings.address} ({mode}): {cause} "
                    f"[{details_of(exc)}]"
                )
                raise TlsError(msg) from None
            if (
                database is None
                and classify(exc) is ErrorKind.MISSING_DATABASE
                and self.settings.create_database
                and not self._database_checked
            ):
                self._create_database()
                return self._open_session()
            if database is None and classify(exc) is ErrorKind.PERMISSION:
                msg = (
                    f"immudb user {self.settings.user!r} has no permission on database "
                    f"{self.settings.database!r} (grant it read, readwrite or admin: "
                    "`aethyr-es users create`; see docs/security.md) "
                    f"[{details_of(exc)}]"
                )
                raise PermissionDeniedError(msg) from None
            raise
        self._database_checked = True
        _warn_if_default_password(self.settings)
        if database is None and not self._database_tuned:
            self._database_tuned = True
            self._tune_database(response.sessionID)
        self.metrics.sessions_opened.inc()
        return Session(response.sessionID)

    def _create_database(self) -> None:
        """Create the configured database (``maxTxEntries`` = ``IMMUDB_MAX_TX_ENTRIES``).

        The database stores values inside its transaction log (``embeddedValues``,
        fixed at creation; immudb's default is a separate value log): a synced
        commit then flushes two files (transaction log, commit log) instead of
        three, with the same durability (see docs/recorder.md).

        Its indexes are written to disk at least every ``IMMUDB_INDEX_FLUSH_THRESHOLD``
        inserts (``indexSettings.flushThreshold``, default 1,000; immudb's is 100,000).
        immudb writes an index only when it is flushed (a reader's snapshot, that
        threshold, a clean shutdown), and after a crash re-reads every transaction since
        from the log; a ``Get`` waits for every index of the database. An index that no
        reader snapshots (the KV keys when the writers' preconditions are all that read
        them) then lagged by up to 100,000 inserts: after a SIGKILL with 2,000
        transactions in the log, the first read of the head took 0.20 s against 0.006 s
        with 1,000, at the same write rate (``benchmarks/crash_recovery.py``). The other
        index settings stay immudb's: ``maxBulkSize`` > 1 made reads after the restart
        return a fraction of the log. A database created before keeps its threshold:
        immudb applies index settings only when it loads a database.

        Only immudb's superuser may; anyone else gets a :class:`PermissionDeniedError`
        that says the database is missing and who can create it.
        """
        try:
            self._create_database_as_admin()
        except grpc.RpcError as exc:
            if classify(exc) is not ErrorKind.PERMISSION:
                raise
            msg = (
                f"immudb database {self.settings.database!r} does not exist, and creating it "
                f"needs immudb's superuser, which {self.settings.user!r} is not: have an "
                "admin create it (run once with the admin's credentials), or set "
                f"IMMUDB_CREATE_DATABASE=no to fail fast [{details_of(exc)}]"
            )
            raise PermissionDeniedError(msg) from None

    def _create_database_as_admin(self) -> None:
        admin = self._open_session("defaultdb")
        try:
            settings = schema_pb2.DatabaseNullableSettings(
                maxTxEntries=schema_pb2.NullableUint32(value=self.settings.max_tx_entries),
                embeddedValues=schema_pb2.NullableBool(value=True),
            )
            settings.indexSettings.flushThreshold.value = self.settings.index_flush_threshold
            if self.settings.sync_frequency_ms is not None:
                settings.syncFrequency.value = self.settings.sync_frequency_ms
            request = schema_pb2.CreateDatabaseRequest(
                name=self.settings.database, settings=settings, ifNotExists=True
            )
            self.stub.CreateDatabaseV2(
                request, metadata=admin.metadata, timeout=self.settings.timeout
            )
            logger.info("created immudb database %r", self.settings.database)
        finally:
            self._close_session(admin)
        self._database_checked = True

    def _tune_database(self, session_id: str) -> None:
        """Read the database's ``maxTxEntries``; apply ``IMMUDB_SYNC_FREQUENCY_MS`` if it differs.

        ``UpdateDatabaseV2`` needs an admin of the database; without the right a
        warning is logged and the database keeps its setting. immudb saves the new
        value but a loaded database keeps the old one until it is loaded again (a server
        restart). A synchronously replicated primary database never gets 0
        (:mod:`aethyr_immudb_recorder.sync_replication`: its commits would never be
        acknowledged).
        """
        metadata = (("sessionid", session_id),)
        timeout = self.settings.timeout
        try:
            current = self.stub.GetDatabaseSettingsV2(
                schema_pb2.DatabaseSettingsRequest(), metadata=metadata, timeout=timeout
            ).settings
        except grpc.RpcError as exc:
            logger.warning("cannot read the immudb database settings: %s", details_of(exc))
            return
        if current.HasField("maxTxEntries"):
            self.max_tx_entries = int(current.maxTxEntries.value)
        wanted = self.settings.sync_frequency_ms
        if wanted is None:
            return
        safe = safe_sync_frequency_ms(wanted, current)
        if safe != wanted:
            logger.warning(
                "immudb database %r replicates synchronously: its syncFrequency stays at "
                "least %d ms, not %d (with 0 the primary never exports a transaction to its "
                "replica and every commit waits until IMMUDB_TIMEOUT)",
                self.settings.database,
                safe,
                wanted,
            )
            wanted = safe
        if int(current.syncFrequency.value) == wanted:
            return
        settings = schema_pb2.DatabaseNullableSettings()
        settings.syncFrequency.value = wanted
        try:
            self.stub.UpdateDatabaseV2(
                schema_pb2.UpdateDatabaseRequest(
                    database=self.settings.database, settings=settings
                ),
                metadata=metadata,
                timeout=timeout,
            )
            logger.info(
                "set syncFrequency of immudb database %r to %d ms",
                self.settings.database,
                wanted,
            )
        except grpc.RpcError as exc:
            logger.warning(
                "cannot set syncFrequency of immudb database %r to %d ms (it stays %d ms; "
                "UpdateDatabaseV2 needs immudb's superuser, which %r is not): %s",
                self.settings.database,
                wanted,
                int(current.syncFrequency.value),
                self.settings.user,
                details_of(exc),
            )

    def _close_session(self, session: Session) -> None:
        stub = self._stub
        if stub is None:
            return
        with suppress(grpc.RpcError, ValueError):
            stub.CloseSession(empty_pb2.Empty(), metadata=session.metadata, timeout=2.0)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Borrow a pooled session; it is discarded if the server lost it."""
        if not self._slots.acquire(timeout=self.settings.pool_timeout):
            msg = (
                f"no immudb session free within {self.settings.pool_timeout}s "
                "(IMMUDB_POOL_SIZE / IMMUDB_POOL_TIMEOUT)"
            )
            raise OperationalError(msg)
        session: Session | None = None
        discard = False
        try:
            session = self._checkout()
            yield session
        except grpc.RpcError as exc:
            discard = classify(exc) in (ErrorKind.SESSION, ErrorKind.UNAVAILABLE)
            if discard:
                self.sessions_lost += 1
            raise
        finally:
            if session is not None:
                self._checkin(session, discard=discard)
            self._slots.release()

    def _checkout(self) -> Session:
        while True:
            with self._lock:
                session = self._idle.pop() if self._idle else None
            if session is None:
                return self._take_parked() or self._open_session()
            if time.monotonic() - session.last_used < self.settings.session_keepalive:
                return session
            try:
                self.stub.KeepAlive(
                    empty_pb2.Empty(), metadata=session.metadata, timeout=self.settings.timeout
                )
            except grpc.RpcError as exc:
                # The session is dropped either way; only a forgotten one is replaced.
                if classify(exc) is not ErrorKind.SESSION:
                    raise
                self.sessions_lost += 1
                continue
            return session

    def _take_parked(self) -> Session | None:
        """A session a closed datastore of the same login parked, confirmed with a
        ``KeepAlive``; ``None`` when there is none (or the server forgot them all).

        The first one also does what a first login does: it proves the database
        exists and reads (and tunes) the database's settings.
        """
        key = self._login_key
        if key is None:
            return None
        stub = self.stub
        while (session := PARKED.take(key, self._close_session)) is not None:
            try:
                stub.KeepAlive(
                    empty_pb2.Empty(), metadata=session.metadata, timeout=self.settings.timeout
                )
            except grpc.RpcError as exc:
                if classify(exc) is not ErrorKind.SESSION:
                    raise
                self.sessions_lost += 1  # forgotten (a restart): try the next, or log in
                continue
            self._database_checked = True
            if not self._database_tuned:
                self._database_tuned = True
                self._tune_database(session.id)
            session.last_used = time.monotonic()
            self.metrics.sessions_reused.inc()
            return session
        return None

    def _park_or_close(self, sessions: list[Session], *, park: bool = True) -> None:
        """Park the idle ``sessions`` of this closed datastore for the next one of the
        same login; close those with an unfinished transaction (and all of them when
        reuse is off or ``park`` is false)."""
        key = self._login_key
        keep = [s for s in sessions if s.open_transactions == 0] if park and key else []
        for session in sessions:
            if session not in keep:
                self._close_session(session)
        if keep and key is not None:
            PARKED.park(
                key, keep, self._close_session, functools.partial(open_channel, self.settings)
            )

    def _checkin(self, session: Session, *, discard: bool) -> None:
        if self._closed:
            if discard:
                self._close_session(session)
            else:
                self._park_or_close([session])
        elif not discard:
            session.last_used = time.monotonic()
            with self._lock:
                self._idle.append(session)

    # -- retries ---------------------------------------------------------------

    def run(
        self,
        operation: str,
        func: Callable[[Session], T],
        *,
        write: bool = False,
        lock: bool | None = None,
    ) -> T:
        """Run ``func(session)`` with retries and error translation.

        ``write`` counts the call as a write in the metrics. SQL writers also hold
        the database's writer lock for the whole call (``lock`` defaults to
        ``write``; KV writes pass ``lock=False``: their preconditions order them). A
        :class:`~eventsourcing.persistence.PersistenceError` raised by ``func``
        itself (e.g. an ``IntegrityError`` from a tracking check) passes through
        untouched and is never retried.
        """
        conflicts = 0
        transient = 0
        started = time.perf_counter()
        if lock is None:
            lock = write
        while True:
            try:
                if lock:
                    with self.writer_lock, self.session() as session:
                        result = func(session)
                else:
                    with self.session() as session:
                        result = func(session)
            except grpc.RpcError as exc:
                kind = classify(exc)
                if kind is ErrorKind.CONFLICT and conflicts < self.settings.conflict_retries:
                    conflicts += 1
                    self.metrics.retries.labels(reason=kind.value).inc()
                    time.sleep(_jitter(0.001, 0.05, conflicts))
                    continue
                if (
                    kind in RETRYABLE
                    and kind is not ErrorKind.CONFLICT
                    and transient < self.settings.max_retries
                ):
                    transient += 1
                    self.metrics.retries.labels(reason=kind.value).inc()
                    delay = min(
                        self.settings.retry_max_delay,
                        self.settings.retry_delay * (2 ** (transient - 1)),
                    )
                    logger.debug("retrying %s after %s (%.3fs)", operation, kind.value, delay)
                    time.sleep(delay)
                    continue
                error = translate(exc, operation)
                if kind is not ErrorKind.MODIFIED:  # the committer re-reads and retries it
                    self._count_error(kind)
                raise error from exc
            except PersistenceError as exc:
                self._count_error_for(exc)
                raise
            else:
                elapsed = time.perf_counter() - started
                if write:
                    self.metrics.append_seconds.observe(elapsed)
                else:
                    self.metrics.select_seconds.labels(operation=operation).observe(elapsed)
                return result

    def _count_error(self, kind: ErrorKind) -> None:
        if kind is ErrorKind.INTEGRITY:
            self.metrics.integrity_conflicts.inc()
        self.metrics.errors.labels(kind=kind.value).inc()

    def count_integrity_error(self) -> None:
        """Count an ``IntegrityError`` the recorder found before asking immudb."""
        self._count_error(ErrorKind.INTEGRITY)

    def _count_error_for(self, exc: PersistenceError) -> None:
        from eventsourcing.persistence import IntegrityError

        if isinstance(exc, IntegrityError):
            self._count_error(ErrorKind.INTEGRITY)
        else:
            self.metrics.errors.labels(kind=type(exc).__name__.lower()).inc()

    # -- SQL -------------------------------------------------------------------

    def query(self, session: Session, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT outside any transaction; every row as a tuple."""
        request = query_request(sql, params)
        stream = self.stub.SQLQuery(
            request, metadata=session.metadata, timeout=self.settings.timeout
        )
        return rows_of(list(stream))

    def execute(self, session: Session, sql: str, params: Params | None = None) -> Any:
        """Run statements as one atomic transaction; the ``SQLExecResult``."""
        return self.execute_request(session, exec_request(sql, params))

    def execute_request(self, session: Session, request: Any) -> Any:
        """Send a prepared ``SQLExecRequest`` (see :func:`exec_request`); the ``SQLExecResult``.

        Writers build the request before :meth:`run` takes the writer lock, so
        the protobuf work of one thread overlaps another thread's round trip.
        """
        return self.stub.SQLExec(request, metadata=session.metadata, timeout=self.settings.timeout)

    @contextmanager
    def transaction(self, session: Session, *, read_only: bool = False) -> Iterator[Transaction]:
        """An interactive transaction on ``session``; rolled back unless committed."""
        response = self.stub.NewTx(
            schema_pb2.NewTxRequest(mode=_READ_ONLY if read_only else _READ_WRITE),
            metadata=session.metadata,
            timeout=self.settings.timeout,
        )
        session.open_transactions += 1
        tx = Transaction(self, session, response.transactionID)
        committed = False
        try:
            yield tx
            committed = True
        finally:
            if not committed:
                tx.rollback()

    # -- KV --------------------------------------------------------------------

    def kv_set(self, session: Session, request: Any) -> int:
        """Send a prepared ``SetRequest`` (KVs and preconditions); the new tx id."""
        header = self.stub.Set(request, metadata=session.metadata, timeout=self.settings.timeout)
        return int(header.id)

    def kv_get(
        self, session: Session, key: bytes, *, at_revision: int = 0, at_tx: int = 0
    ) -> Any | None:
        """The ``Entry`` of ``key`` (its latest value, or one revision), ``None`` if absent."""
        request = schema_pb2.KeyRequest(key=key, atRevision=at_revision, atTx=at_tx)
        try:
            return self.stub.Get(request, metadata=session.metadata, timeout=self.settings.timeout)
        except grpc.RpcError as exc:
            if classify(exc) is ErrorKind.NOT_FOUND:
                return None
            raise

    def kv_scan(self, session: Session, request: Any) -> list[Any]:
        """The entries of a ``ScanRequest`` (at most 2,500); ``[]`` when nothing matches."""
        try:
            reply = self.stub.Scan(
                request, metadata=session.metadata, timeout=self.settings.timeout
            )
        except grpc.RpcError as exc:
            if classify(exc) is ErrorKind.NOT_FOUND:
                return []
            raise
        return list(reply.entries)

    def scan(self, request: Any, operation: str = "scan") -> list[Any]:
        """:meth:`kv_scan` through :meth:`run` (retries, error translation)."""
        return self.run(operation, lambda session: self.kv_scan(session, request))

    def set(self, request: Any, operation: str = "set") -> int:
        """:meth:`kv_set` through :meth:`run` (a write, without the SQL writer lock); the tx id."""
        return self.run(
            operation, lambda session: self.kv_set(session, request), write=True, lock=False
        )

    def current_state(self) -> Any:
        """The database's ``ImmutableState``: latest committed tx id and its hash (one RPC)."""

        def state(session: Session) -> Any:
            return self.stub.CurrentState(
                empty_pb2.Empty(), metadata=session.metadata, timeout=self.settings.timeout
            )

        return self.run("current_state", state)

    def current_tx_id(self) -> int:
        """The id of the database's latest committed transaction (one cheap RPC)."""
        return int(self.current_state().txId)

    def ensure_tables(self, key: str, check: Callable[[Session], None]) -> None:
        """Run schema set-up ``check`` once per datastore for ``key`` (retried like a write)."""
        if key in self._ensured_tables:
            return
        self.run("create_table", check, write=True)
        self._ensured_tables.add(key)

    # -- life cycle ------------------------------------------------------------

    def close(self) -> None:
        """Hand the idle sessions to the next datastore of the same login (or close them:
        :mod:`aethyr_immudb_recorder.session_reuse`) and close the channel (idempotent)."""
        self._close(park=True)

    def _close(self, *, park: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            channel, self._channel = self._channel, None
        self._park_or_close(idle, park=park)
        if channel is not None:
            channel.close()
        self._stub = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ImmudbDatastore:
        return self

    def __del__(self) -> None:
        # Garbage collection may run while this thread holds the parked sessions' lock.
        with suppress(Exception):
            self._close(park=False)

    def __exit__(self, *exc: object) -> None:
        self.close()


_warned_default: set[str] = set()


def open_channel(settings: ImmudbSettings) -> grpc.Channel:
    """The gRPC channel to ``settings.address``: TLS when a CA is configured, else plaintext.

    Over TLS the server's certificate must chain to ``IMMUDB_TLS_CA`` and name the
    host (``IMMUDB_TLS_SERVER_NAME`` overrides the name checked); with
    ``IMMUDB_TLS_CERT`` / ``IMMUDB_TLS_KEY`` the client presents its certificate.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", settings.max_message_length),
        ("grpc.max_send_message_length", settings.max_message_length),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    if settings.tls_ca is None:
        return grpc.insecure_channel(settings.address, options=options)
    if settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=settings.tls_ca,
        private_key=settings.tls_key,
        certificate_chain=settings.tls_cert,
    )
    return grpc.secure_channel(settings.address, credentials, options=options)


def _warn_if_default_password(settings: ImmudbSettings) -> None:
    """Log a warning (once per server address) when immudb accepted its default admin login.

    Anyone who can reach the port can then read and write every database. The warning
    says how to fix it with what the project ships (the immudb server's
    ``--admin-password`` flag, immudb-py's ``changePassword``) and names the setting
    the caller reads the password from (``IMMUDB_PASSWORD_SETTING``; ``aethyr-es``
    names its ``immudb_password`` key).
    """
    if not uses_default_password(settings):
        return
    with _locks_guard:
        if settings.address in _warned_default:
            return
        _warned_default.add(settings.address)
    logger.warning(
        "immudb at %s accepted its default admin password: change it before real use "
        "(start a new server with IMMUDB_ADMIN_PASSWORD in its environment - not "
        "--admin-password, which every local user can read with ps - or call immudb-py's "
        "ImmudbClient.changePassword) and set %s",
        settings.address,
        settings.password_setting,
    )


def query_request(sql: str, params: Params | None = None) -> Any:
    """The streamed ``SQLQueryRequest`` for ``sql`` with bound ``params``."""
    return schema_pb2.SQLQueryRequest(sql=sql, params=named_params(params or {}), acceptStream=True)


def exec_request(sql: str, params: Params | None = None) -> Any:
    """The ``SQLExecRequest`` for ``sql`` with bound ``params``.

    Its ``noWait`` flag is left unset: immudb 1.11's ``SQLExec`` ignores it,
    because SQL commits never wait for the indexer (``SQLTx.Commit`` is an
    asynchronous commit); reads and the next write's checks catch the index up
    instead. Measured: no difference either way (``docs/performance.md``).
    """
    return schema_pb2.SQLExecRequest(sql=sql, params=named_params(params or {}))


def _jitter(base: float, cap: float, attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 16))))  # noqa: S311
