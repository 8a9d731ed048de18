"""How immudb's errors become eventsourcing's exceptions.

Every server error reaches the client as a :class:`grpc.RpcError` whose status
code is usually ``UNKNOWN``; the meaning is in the ``details()`` text. This
module sorts an error into one :class:`ErrorKind` (:func:`classify`) and turns
it into the matching exception of :mod:`eventsourcing.persistence`
(:func:`translate`). The datastore uses the kind to decide what to retry:

==================  =================================  ==========================================
kind                details() contains / gRPC code     outcome
==================  =================================  ==========================================
integrity           key already exists (SQL), or       IntegrityError, never retried
                    FAILED_PRECONDITION KeyMustNotExist
                    (KV: an event key is taken)
modified            FAILED_PRECONDITION                the recorder re-reads the counter or
                    KeyNotModifiedAfterTxID            tracking key and tries again (a
                                                       StaleCounterError when that runs out)
not_found           key not found (a KV read)          the reader's "absent", never raised
duplicate_keys      duplicated keys ... single batch   IntegrityError (the recorder checks first)
conflict            tx read conflict (MVCC)            retried with jittered backoff
session             session not found / no session     session reopened, retried
unavailable         UNAVAILABLE                        retried, then OperationalError
timeout             DEADLINE_EXCEEDED, CANCELLED       OperationalError
too_many_entries    max number of entries per tx ...   BatchTooLargeError (a DataError)
too_large           max ... length exceeded            DataError
auth                invalid user name or password      InterfaceError
permission          permission denied, requires        PermissionDeniedError, a ProgrammingError
                    READWRITE permission (SQL),        (the user's permission on the database
                    PERMISSION_DENIED                  does not allow the call)
tls                 a TLS handshake failure (see       OperationalError, never retried
                    :func:`tls_failure`)
missing_database    database does not exist            ProgrammingError
missing_table       table does not exist               ProgrammingError
other               anything else                      InternalError
==================  =================================  ==========================================

Messages never include a password: they are built from the server's
``details()`` text, which never echoes credentials.
"""

from __future__ import annotations

import enum

import grpc
from eventsourcing.persistence import (
    DataError,
    InfrastructureFactoryError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)


class ErrorKind(enum.Enum):
    """What an immudb error means for the recorder (see the module docstring)."""

    INTEGRITY = "integrity"
    MODIFIED = "modified"
    NOT_FOUND = "not_found"
    DUPLICATE_KEYS = "duplicate_keys"
    CONFLICT = "conflict"
    SESSION = "session"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    TOO_MANY_ENTRIES = "too_many_entries"
    TOO_LARGE = "too_large"
    AUTH = "auth"
    PERMISSION = "permission"
    TLS = "tls"
    MISSING_DATABASE = "missing_database"
    MISSING_TABLE = "missing_table"
    OTHER = "other"


RETRYABLE = frozenset({ErrorKind.CONFLICT, ErrorKind.SESSION, ErrorKind.UNAVAILABLE})
"""Kinds the datastore retries; every other kind is raised at once."""


class ConfigurationError(InfrastructureFactoryError, ValueError):
    """A configuration value is missing or invalid; the message names the keys looked for."""


class StaleCounterError(OperationalError):
    """Other writers kept moving the notification counter (or a tracking key) past
    ``IMMUDB_CONFLICT_RETRIES`` attempts; nothing of this batch was written."""


class TlsError(OperationalError):
    """The TLS connection to immudb could not be set up; the message names the cause.

    Raised at once, never retried: a wrong CA, a host-name mismatch or a
    plaintext/TLS mix-up does not heal by itself.
    """


class PermissionDeniedError(ProgrammingError):
    """The immudb user lacks the permission the call needs; nothing was written."""


class StoreNeedsUpgradeError(ProgrammingError):
    """The database holds this table in the SQL layout of earlier versions.

    Run ``aethyr-es store upgrade`` (or :func:`aethyr_immudb_recorder.upgrade.upgrade_store`)
    to copy it into the KV layout first.
    """


class BatchTooLargeError(DataError):
    """A write needs more entries than the database allows in one transaction.

    Nothing was written. Either write smaller batches or use a database created
    with a larger ``maxTxEntries`` (see ``IMMUDB_MAX_TX_ENTRIES``).
    """


def details_of(error: grpc.RpcError) -> str:
    """The server's message of an RPC error ('' if it has none)."""
    details = getattr(error, "details", None)
    text = details() if callable(details) else None
    return str(text or "")


def code_of(error: grpc.RpcError) -> grpc.StatusCode | None:
    """The gRPC status code of an RPC error, if it has one."""
    code = getattr(error, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else None


def classify(error: grpc.RpcError) -> ErrorKind:
    """Sort an immudb RPC error into one :class:`ErrorKind`."""
    text = details_of(error).lower()
    code = code_of(error)
    if "key already exists" in text or "precondition failed: keymustnotexist" in text:
        return ErrorKind.INTEGRITY
    if "precondition failed: keynotmodifiedaftertx" in text:
        return ErrorKind.MODIFIED
    if "key not found" in text:
        return ErrorKind.NOT_FOUND
    if "duplicated keys" in text:
        return ErrorKind.DUPLICATE_KEYS
    if "tx read conflict" in text:
        return ErrorKind.CONFLICT
    if "session not found" in text or "no session found" in text:
        return ErrorKind.SESSION
    if "max number of entries per tx exceeded" in text:
        return ErrorKind.TOO_MANY_ENTRIES
    if (
        "length exceeded" in text
        or "larger than max" in text
        or code is grpc.StatusCode.RESOURCE_EXHAUSTED
    ):
        return ErrorKind.TOO_LARGE
    if (
        "permission denied" in text
        or "does not have permission" in text
        or "requires readwrite permission" in text  # SQL: "access denied: statement requires"
        or code is grpc.StatusCode.PERMISSION_DENIED
    ):
        return ErrorKind.PERMISSION
    if "invalid user name or password" in text or code is grpc.StatusCode.UNAUTHENTICATED:
        return ErrorKind.AUTH
    if "database does not exist" in text:
        return ErrorKind.MISSING_DATABASE
    if "table does not exist" in text:
        return ErrorKind.MISSING_TABLE
    if code is grpc.StatusCode.UNAVAILABLE:
        return ErrorKind.UNAVAILABLE
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        # A call that outlives its deadline sometimes ends as CANCELLED ("Stream
        # removed", RST_STREAM) instead, when the server resets the stream first:
        # the same fault, with the same unknown outcome, so the same kind.
        return ErrorKind.TIMEOUT
    return ErrorKind.OTHER


_EXCEPTION_TYPES: dict[ErrorKind, type[PersistenceError]] = {
    ErrorKind.INTEGRITY: IntegrityError,
    ErrorKind.CONFLICT: OperationalError,
    ErrorKind.MODIFIED: StaleCounterError,
    ErrorKind.NOT_FOUND: ProgrammingError,
    ErrorKind.DUPLICATE_KEYS: IntegrityError,
    ErrorKind.SESSION: OperationalError,
    ErrorKind.UNAVAILABLE: OperationalError,
    ErrorKind.TIMEOUT: OperationalError,
    ErrorKind.TOO_MANY_ENTRIES: BatchTooLargeError,
    ErrorKind.TOO_LARGE: DataError,
    ErrorKind.AUTH: InterfaceError,
    ErrorKind.PERMISSION: PermissionDeniedError,
    ErrorKind.TLS: TlsError,
    ErrorKind.MISSING_DATABASE: ProgrammingError,
    ErrorKind.MISSING_TABLE: ProgrammingError,
    ErrorKind.OTHER: InternalError,
}

_HINTS: dict[ErrorKind, str] = {
    ErrorKind.INTEGRITY: "a record with the same key already exists; nothing was written",
    ErrorKind.CONFLICT: "concurrent writers kept conflicting; retries exhausted",
    ErrorKind.MODIFIED: (
        "another writer moved the notification counter or tracking key since it was read"
    ),
    ErrorKind.NOT_FOUND: "the key does not exist",
    ErrorKind.DUPLICATE_KEYS: "the same key twice in one write; nothing was written",
    ErrorKind.SESSION: "the immudb session could not be renewed; retries exhausted",
    ErrorKind.UNAVAILABLE: "immudb server unavailable; retries exhausted",
    ErrorKind.TIMEOUT: "immudb call timed out or was cancelled (IMMUDB_TIMEOUT)",
    ErrorKind.TOO_MANY_ENTRIES: (
        "the write needs more entries than the database's maxTxEntries allows; "
        "nothing was written (write smaller batches or create the database with "
        "a larger IMMUDB_MAX_TX_ENTRIES)"
    ),
    ErrorKind.TOO_LARGE: "a value exceeds the database's size limits; nothing was written",
    ErrorKind.AUTH: "immudb rejected the credentials (IMMUDB_USER / IMMUDB_PASSWORD)",
    ErrorKind.PERMISSION: (
        "the immudb user's permission on this database does not allow it (writing needs "
        "readwrite, creating databases and users needs admin; see docs/security.md); "
        "nothing was written"
    ),
    ErrorKind.TLS: "the TLS connection to immudb failed",
    ErrorKind.MISSING_DATABASE: (
        "the immudb database does not exist (IMMUDB_CREATE_DATABASE=yes creates it, as "
        "immudb's superuser; `aethyr-es users create ... --create-database` too)"
    ),
    ErrorKind.MISSING_TABLE: "the table does not exist (set CREATE_TABLE=yes to create it)",
    ErrorKind.OTHER: "immudb error",
}


def tls_failure(error: grpc.RpcError, *, tls: bool, mutual: bool, first: bool) -> str | None:
    """Why a connection attempt failed at the TLS layer, or ``None`` if it did not.

    gRPC reports every handshake failure as ``UNAVAILABLE`` with the reason in its
    text. ``tls`` / ``mutual`` say how the client connected; ``first`` whether no
    session was ever opened on this channel (a server that closes a plaintext
    connection at once, before any session, is one that expects TLS; later the
    same text is an ordinary transient fault).
    """
    text = details_of(error).lower()
    if code_of(error) is not grpc.StatusCode.UNAVAILABLE or not text:
        return None
    if not tls:
        if first and "socket closed" in text:
            return (
                "the server closed the plaintext connection at once: it expects TLS "
                "(set IMMUDB_TLS_CA to the CA certificate that signed the server's)"
            )
        return None
    if "wrong_version_number" in text or "packet_length_too_long" in text:
        return (
            "the server does not speak TLS (a plaintext server?): it answered the TLS "
            "handshake with something else (unset IMMUDB_TLS_CA, or enable TLS on the server)"
        )
    if "hostname verification" in text or "peer name" in text:
        return (
            "host-name mismatch: the server's certificate does not name the host connected "
            "to (IMMUDB_HOST, or IMMUDB_TLS_SERVER_NAME, must be one of its names)"
        )
    if any(
        marker in text
        for marker in (
            "certificate_verify_failed",
            "certificate verify failed",
            "certificate signature failure",
            "bad_signature",
            "unable to get local issuer",
            "self signed certificate",
            "self-signed certificate",
        )
    ):
        return (
            "the server's certificate is not signed by the CA in IMMUDB_TLS_CA "
            "(a certificate from the wrong CA)"
        )
    if "certificate has expired" in text or "certificate_expired" in text:
        return "the server's certificate has expired"
    if first and mutual and ("tsi_data_corrupted" in text or "alert" in text):
        return (
            "the server rejected the TLS handshake: it does not accept the client "
            "certificate (IMMUDB_TLS_CERT / IMMUDB_TLS_KEY must be signed by a CA in the "
            "server's --clientcas)"
        )
    if "handshake failed" in text or "tsi_" in text or "ssl_error" in text:
        return "the TLS handshake failed"
    return None


def translate(error: grpc.RpcError, context: str = "") -> PersistenceError:
    """The eventsourcing exception for an immudb RPC error (chain it with ``from``)."""
    kind = classify(error)
    code = code_of(error)
    where = f" during {context}" if context else ""
    code_name = code.name if code is not None else "?"
    message = f"{_HINTS[kind]}{where} [{code_name}: {details_of(error)}]"
    return _EXCEPTION_TYPES[kind](message)
