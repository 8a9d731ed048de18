"""Tamper evidence: check what the store returns against immudb's cryptographic proofs.

immudb keeps, per database, a hash chain over every transaction (each tx's ``Alh``
commits to all earlier ones) and a Merkle tree over each tx's entries. A *state*
``(txId, Alh)`` therefore pins the whole history up to ``txId``. This module keeps the
last state it verified in a small JSON file (the *trusted state*) and, on every run of
:func:`verify_events`:

1. **Consistency.** Reads the server's current tx id and asks for a *dual proof* that
   the current history extends the trusted state (``VerifiableTxById`` with
   ``proveSinceTx``). A server whose history is shorter than the trusted state, or
   whose history differs (another data dir, a rewritten log), fails here with
   :class:`InconsistentHistoryError`.
2. **Blobs, one proof per transaction.** Reads the notification log the ordinary way
   (a ``Scan`` of the ``n`` keys: one blob per transaction holding every event that
   transaction committed), or with ``aggregate_id`` that aggregate's ``a`` blobs, and
   asks for ``VerifiableGet`` of each blob's key: an *inclusion proof* of the value in
   its transaction plus a dual proof of that transaction against the trusted state.
   The proven value must equal, byte for byte, the value the scan returned, and its
   records are decoded (and counted); a difference is a :class:`TamperedRowError`
   naming the notification ids, the transaction and, for an aggregate, the versions.
3. **Trust moves forward.** The newest verified state is written back to the file
   (atomically, mode 0600), so the next run proves the history grew append-only.

The first run against a database with no trusted state trusts the server's current
state (trust on first use) and says so in the report; pin the file somewhere the
server's operator cannot write to make later runs meaningful.

immudb-py 1.5.0 is used for the proof maths only, with two of its gaps avoided: its
``login`` calls ``RootService.init``, which would fetch (and trust) the server's
current state, and ``currentState()`` does the same; :class:`PinnedState` ignores
``init`` and only ever holds a state this module loaded or verified.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from eventsourcing.persistence import DataError
from immudb import ImmudbClient
from immudb.exceptions import ErrCorruptedData
from immudb.grpc import schema_pb2
from immudb.rootService import RootService, State

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.keys import (
    SCAN_LIMIT,
    WHOLE,
    Layout,
    Record,
    decode_records,
    oid_key,
)
from aethyr_immudb_recorder.recorders import table_identifier

STATE_FILE_VERSION = 1


class VerificationError(Exception):
    """The store failed a cryptographic check (base class; the message says which)."""


class InconsistentHistoryError(VerificationError):
    """The server's history does not extend the trusted state (truncated or rewritten)."""


class TamperedRowError(VerificationError):
    """A row returned by the store differs from the value immudb proves for it."""


@dataclass(frozen=True)
class TrustedState:
    """A verified ``(database, tx id, Alh)``: everything up to ``tx_id`` is pinned."""

    database: str
    tx_id: int
    tx_hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "tx_id": self.tx_id, "tx_hash": self.tx_hash.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrustedState:
        return cls(str(data["database"]), int(data["tx_id"]), bytes.fromhex(data["tx_hash"]))


class StateFile:
    """The JSON file holding one trusted state per ``address/database``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": STATE_FILE_VERSION, "states": {}}
        except (OSError, ValueError) as exc:
            msg = f"cannot read the trusted-state file {str(self.path)!r}: {exc}"
            raise VerificationError(msg) from None
        if not isinstance(data, dict) or not isinstance(data.get("states"), dict):
            msg = f"the trusted-state file {str(self.path)!r} is not in the expected format"
            raise VerificationError(msg)
        return data

    def load(self, key: str) -> TrustedState | None:
        entry = self._read()["states"].get(key)
        if entry is None:
            return None
        try:
            return TrustedState.from_json(entry)
        except (KeyError, TypeError, ValueError):
            msg = f"the trusted state for {key!r} in {str(self.path)!r} is malformed"
            raise VerificationError(msg) from None

    def save(self, key: str, state: TrustedState) -> None:
        """Replace the state for ``key`` atomically (write a temp file, then rename)."""
        data = self._read()
        data["version"] = STATE_FILE_VERSION
        data["states"][key] = state.to_json()
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class PinnedState(RootService):  # type: ignore[misc]
    """An immudb-py root service that trusts only the state it is given.

    ``init`` (called by ``ImmudbClient.login``) does nothing, unlike the library's,
    which would fetch and trust whatever the server says.
    """

    def __init__(self, state: State | None = None) -> None:
        super().__init__()
        self.state = state

    def init(self, dbname: str, service: Any) -> None:
        return None

    def get(self) -> State:
        if self.state is None:
            msg = "no trusted state to verify against"
            raise VerificationError(msg)
        return self.state

    def set(self, root: State) -> None:
        self.state = root


@dataclass
class VerificationReport:
    """What :func:`verify_events` checked."""

    database: str
    trusted_before: int | None
    verified_tx: int
    rows: int = 0
    transactions: int = 0
    aggregate_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        scope = f"aggregate {self.aggregate_id!r}" if self.aggregate_id else "the whole log"
        if self.trusted_before is None:
            trust = f"no trusted state before: trusted the server's tx {self.verified_tx}"
        else:
            trust = f"history extends the trusted tx {self.trusted_before} to tx {self.verified_tx}"
        return (
            f"verified {self.rows} event row(s) of {scope} in database {self.database!r} "
            f"against immudb proofs ({self.transactions} proof(s), one per transaction); "
            f"{trust}"
        )


def compare_blob(key: bytes, tx: int, returned: bytes, proven: bytes) -> list[Record]:
    """The records of a blob whose scanned value equals its proven one, else
    :class:`TamperedRowError` naming what differs."""
    if returned != proven:
        try:
            records = decode_records(proven[1:])
            what = _describe(records)
        except DataError:
            what = "a value that does not decode"
        msg = (
            f"the store returned a value for {what} (key {key!r}, tx {tx}) that differs "
            "from the value immudb proves"
        )
        raise TamperedRowError(msg)
    try:
        return decode_records(returned[1:]) if returned[:1] == WHOLE else []
    except DataError as exc:
        msg = f"the proven value of key {key!r} (tx {tx}) cannot be decoded ({exc})"
        raise TamperedRowError(msg) from None


def _describe(records: list[Record]) -> str:
    if not records:
        return "no events"
    ids = f"notification ids {records[0].notification_id}-{records[-1].notification_id}"
    first = records[0]
    return f"{ids} (aggregate {str(first.originator_id)!r}, version {first.originator_version})"


def _entries(datastore: ImmudbDatastore, prefix: bytes, seek: bytes) -> Iterator[Any]:
    """Every entry under ``prefix`` in key order, as the store's reads return them."""
    while True:
        request = schema_pb2.ScanRequest(seekKey=seek, prefix=prefix, limit=SCAN_LIMIT)
        page = datastore.scan(request, "verify_scan")
        yield from page
        if len(page) < SCAN_LIMIT:
            return
        seek = page[-1].key


def _server_state(datastore: ImmudbDatastore) -> State:
    response = datastore.current_state()
    return State(
        db=response.db,
        txId=int(response.txId),
        txHash=bytes(response.txHash),
        publicKey=b"",
        signature=b"",
    )


def verify_events(
    datastore: ImmudbDatastore,
    table: str,
    state_file: str | os.PathLike[str],
    *,
    aggregate_id: str | None = None,
) -> VerificationReport:
    """Verify the notification log (or one aggregate's events) and advance the trusted state.

    ``table`` is the events table name the recorder uses as its key prefix
    (``world_events``). Raises :class:`InconsistentHistoryError` when the server's
    history does not extend the trusted state, :class:`TamperedRowError` when a
    returned value differs from its proven one; the state file is left untouched
    in both cases.
    """
    layout = Layout(table_identifier(table))
    settings = datastore.settings
    key = f"{settings.address}/{settings.database}"
    store = StateFile(state_file)
    trusted = store.load(key)
    current = _server_state(datastore)
    report = VerificationReport(
        database=settings.database,
        trusted_before=None if trusted is None else trusted.tx_id,
        verified_tx=current.txId,
        aggregate_id=aggregate_id,
    )
    if aggregate_id is None:
        prefix = seek = layout.log
    else:
        prefix = seek = layout.aggregate_prefix(oid_key(aggregate_id))
    pinned = PinnedState()
    client = ImmudbClient(settings.address, rs=pinned, timeout=int(settings.timeout))
    try:
        client.login(settings.user, settings.password, settings.database)
        if trusted is None:
            pinned.set(current)  # trust on first use
            report.notes.append("first use: trusted the server's current state")
        else:
            _check_extends(client, pinned, trusted, current)
        for entry in _entries(datastore, prefix, seek):
            entry_key, tx = bytes(entry.key), int(entry.tx)
            if tx > current.txId:
                continue  # committed after the state this run verifies against
            try:
                proven = client.verifiedGet(entry_key)
            except ErrCorruptedData:
                msg = (
                    f"key {entry_key!r} (tx {tx}): immudb's inclusion or consistency "
                    "proof does not verify"
                )
                raise TamperedRowError(msg) from None
            if int(proven.id) != tx:
                msg = f"key {entry_key!r}: the store says tx {tx}, immudb proves tx {proven.id}"
                raise TamperedRowError(msg)
            records = compare_blob(entry_key, tx, bytes(entry.value), bytes(proven.value))
            report.rows += len(records)
            report.transactions += 1
        final = pinned.get()
    finally:
        with contextlib.suppress(Exception):
            client.channel.close()
    report.verified_tx = int(final.txId)
    store.save(key, TrustedState(settings.database, int(final.txId), bytes(final.txHash)))
    return report


def _check_extends(
    client: ImmudbClient, pinned: PinnedState, trusted: TrustedState, current: State
) -> None:
    """Prove the server's current history extends ``trusted`` (dual proof)."""
    if current.txId < trusted.tx_id:
        msg = (
            f"the server's history of database {trusted.database!r} ends at tx {current.txId}, "
            f"before the trusted state at tx {trusted.tx_id}: history was truncated or "
            "replaced (a different data dir or a restored backup?)"
        )
        raise InconsistentHistoryError(msg)
    pinned.set(
        State(
            db=trusted.database,
            txId=trusted.tx_id,
            txHash=trusted.tx_hash,
            publicKey=b"",
            signature=b"",
        )
    )
    try:
        proven = client.verifiedTxById(current.txId)
    except ErrCorruptedData:
        proven = None
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        proven = None  # the server cannot even build the proof from the trusted tx
    if proven is None:
        msg = (
            f"the server's history of database {trusted.database!r} up to tx {current.txId} "
            f"does not extend the trusted state at tx {trusted.tx_id}: the consistency proof "
            "failed (history was rewritten or this is a different server)"
        )
        raise InconsistentHistoryError(msg)
