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
2. **Rows.** Reads the events rows the ordinary way (the recorder's SQL), then for each
   row asks for ``VerifiableSQLGet`` by primary key: an *inclusion proof* of the row's
   encoded value in its transaction plus a dual proof of that transaction against the
   trusted state. The proven value is decoded and compared column by column with what
   the query returned; a difference is a :class:`TamperedRowError` naming the
   notification id, aggregate id, version and column.
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
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from immudb import ImmudbClient
from immudb.datatypesv2 import PrimaryKeyIntValue
from immudb.exceptions import ErrCorruptedData
from immudb.rootService import RootService, State

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import table_identifier

#: Rows read per page when listing the events to verify.
PAGE_SIZE = 500
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
            f"against immudb proofs; {trust}"
        )


def decode_row(value: bytes, names: dict[int, str], types: dict[int, str]) -> dict[str, Any]:
    """Decode immudb's encoded SQL row value into ``{column name: value}``.

    Layout: ``u32 column count``, then per non-NULL column ``u32 column id``,
    ``u32 length`` and the value (INTEGER: 8-byte big-endian two's complement,
    BOOLEAN: one byte, VARCHAR: UTF-8, BLOB: raw bytes).
    """
    try:
        (count,) = struct.unpack_from(">I", value, 0)
        pos = 4
        row: dict[str, Any] = {}
        for _ in range(count):
            col_id, length = struct.unpack_from(">II", value, pos)
            pos += 8
            raw = value[pos : pos + length]
            if len(raw) != length:
                raise ValueError("truncated column")
            pos += length
            kind = types.get(col_id, "BLOB")
            if kind == "INTEGER":
                decoded: Any = int.from_bytes(raw, "big", signed=True)
            elif kind == "BOOLEAN":
                decoded = raw != b"\x00"
            elif kind == "VARCHAR":
                decoded = raw.decode("utf-8")
            else:
                decoded = bytes(raw)
            row[names.get(col_id, f"#{col_id}")] = decoded
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        msg = f"the proven row value cannot be decoded ({exc})"
        raise TamperedRowError(msg) from None
    return row


#: The columns compared, in the order a row tuple lists them.
COMPARED = ("notification_id", "originator_id", "originator_version", "topic", "state")


def compare_row(row: tuple[Any, ...], proven: dict[str, Any]) -> None:
    """Raise :class:`TamperedRowError` if ``row`` (as the store returned it) differs."""
    nid, oid, version = row[0], row[1], row[2]
    for name, returned in zip(COMPARED, row, strict=True):
        expected = proven.get(name)
        if isinstance(returned, (bytes, bytearray, memoryview)):
            returned = bytes(returned)
        if returned != expected:
            msg = (
                f"row notification_id={nid} (aggregate {oid!r}, version {version}): column "
                f"{name!r} returned by the store differs from the value immudb proves"
            )
            raise TamperedRowError(msg)


def _rows(
    datastore: ImmudbDatastore, table: str, aggregate_id: str | None
) -> Iterator[tuple[Any, ...]]:
    columns = ", ".join(COMPARED)
    where = "notification_id > @after"
    params: dict[str, Any] = {"after": 0, "limit": PAGE_SIZE}
    if aggregate_id is not None:
        where += " AND originator_id = @oid"
        params["oid"] = aggregate_id
    sql = (
        f"SELECT {columns} FROM {table} WHERE {where} "  # noqa: S608 (checked identifier)
        "ORDER BY notification_id LIMIT @limit"
    )
    while True:
        page = datastore.run("verify_select", lambda s: datastore.query(s, sql, dict(params)))
        yield from page
        if len(page) < PAGE_SIZE:
            return
        params["after"] = page[-1][0]


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
    """Verify the events table (or one aggregate's rows) and advance the trusted state.

    Raises :class:`InconsistentHistoryError` when the server's history does not
    extend the trusted state, :class:`TamperedRowError` when a returned row differs
    from its proven value; the state file is left untouched in both cases.
    """
    table = table_identifier(table)
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
    pinned = PinnedState()
    client = ImmudbClient(settings.address, rs=pinned, timeout=int(settings.timeout))
    try:
        client.login(settings.user, settings.password, settings.database)
        if trusted is None:
            pinned.set(current)  # trust on first use
            report.notes.append("first use: trusted the server's current state")
        else:
            _check_extends(client, pinned, trusted, current)
        for row in _rows(datastore, table, aggregate_id):
            try:
                entry = client.verifiableSQLGet(table, [PrimaryKeyIntValue(int(row[0]))])
            except ErrCorruptedData:
                msg = (
                    f"row notification_id={row[0]} (aggregate {row[1]!r}, version {row[2]}): "
                    "immudb's inclusion or consistency proof does not verify"
                )
                raise TamperedRowError(msg) from None
            proven = decode_row(
                bytes(entry.sqlEntry.value), dict(entry.ColNamesById), dict(entry.ColTypesById)
            )
            compare_row(tuple(row), proven)
            report.rows += 1
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
