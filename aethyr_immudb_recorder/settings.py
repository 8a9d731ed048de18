"""The recorder's configuration, read from an eventsourcing ``Environment``.

:class:`ImmudbKeys` names every environment key (the one place they are written);
:class:`ImmudbSettings` holds the validated values. This module imports nothing
else of the recorder but its errors, so the factory can import it (not the reverse).

Every key is looked up through :meth:`eventsourcing.utils.Environment.get`, so
an application-name prefix wins (``WORLD_IMMUDB_HOST`` before ``IMMUDB_HOST``).
:meth:`ImmudbSettings.from_env` validates each value and raises
:class:`~aethyr_immudb_recorder.errors.ConfigurationError` naming both
candidate keys when one is invalid. The password is kept out of ``repr``.

Security settings (``docs/security.md``):

* ``IMMUDB_PASSWORD_FILE``: read the password from a file (a mounted container
  secret); one trailing newline is stripped. Setting it together with
  ``IMMUDB_PASSWORD`` is an error.
* ``IMMUDB_TLS_CA`` (a PEM file): connect over TLS and verify the server's
  certificate against this CA; ``IMMUDB_TLS_CERT`` + ``IMMUDB_TLS_KEY``: present
  this client certificate too (mutual TLS). ``IMMUDB_TLS_SERVER_NAME``: the name
  to check the server's certificate against when it differs from ``IMMUDB_HOST``.
  The files are read once, here: a missing or unreadable one is a
  ``ConfigurationError`` before any connection.
* ``IMMUDB_ALLOW_DEFAULT_PASSWORD``: without it, immudb's factory login
  (``immudb``/``immudb``) is refused for any host that is not a loopback address,
  before anything is sent (:func:`check_default_password`).
* ``IMMUDB_CREATE_DATABASE`` (default: ``CREATE_TABLE``): create the database when
  it is missing. Only this needs immudb's superuser; a ``readwrite`` user of an
  existing database runs the recorder without it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.utils import Environment, strtobool

from aethyr_immudb_recorder.errors import ConfigurationError

T = TypeVar("T")

_DATABASE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")

DEFAULT_USER = "immudb"
DEFAULT_PASSWORD = "immudb"  # noqa: S105 (immudb's documented factory default, to detect it)


class ImmudbKeys:
    """The names of the recorder's environment keys: one class constant per key,
    named like its value (eventsourcing's style, as on its own factories).

    This is the one place they are written. :class:`ImmudbSettings` reads them,
    and :class:`~aethyr_immudb_recorder.factory.ImmudbFactory` inherits them, so
    ``ImmudbFactory.IMMUDB_HOST`` works as it does for eventsourcing's factories.
    Each key may carry the application's prefix (``WORLD_IMMUDB_HOST``).
    """

    IMMUDB_HOST = "IMMUDB_HOST"
    IMMUDB_PORT = "IMMUDB_PORT"
    IMMUDB_USER = "IMMUDB_USER"
    IMMUDB_PASSWORD = "IMMUDB_PASSWORD"  # noqa: S105 (the name of a key, not a password)
    IMMUDB_PASSWORD_SETTING = "IMMUDB_PASSWORD_SETTING"  # noqa: S105 (a key's name)
    IMMUDB_DATABASE = "IMMUDB_DATABASE"
    CREATE_TABLE = "CREATE_TABLE"
    IMMUDB_MAX_TX_ENTRIES = "IMMUDB_MAX_TX_ENTRIES"
    IMMUDB_TIMEOUT = "IMMUDB_TIMEOUT"
    IMMUDB_CONNECT_TIMEOUT = "IMMUDB_CONNECT_TIMEOUT"
    IMMUDB_POOL_SIZE = "IMMUDB_POOL_SIZE"
    IMMUDB_POOL_TIMEOUT = "IMMUDB_POOL_TIMEOUT"
    IMMUDB_MAX_RETRIES = "IMMUDB_MAX_RETRIES"
    IMMUDB_RETRY_DELAY = "IMMUDB_RETRY_DELAY"
    IMMUDB_RETRY_MAX_DELAY = "IMMUDB_RETRY_MAX_DELAY"
    IMMUDB_CONFLICT_RETRIES = "IMMUDB_CONFLICT_RETRIES"
    IMMUDB_POLL_INTERVAL = "IMMUDB_POLL_INTERVAL"
    IMMUDB_SESSION_KEEPALIVE = "IMMUDB_SESSION_KEEPALIVE"
    IMMUDB_SESSION_REUSE = "IMMUDB_SESSION_REUSE"
    IMMUDB_MAX_MESSAGE_LENGTH = "IMMUDB_MAX_MESSAGE_LENGTH"
    IMMUDB_METRICS_REGISTRY_TOPIC = "IMMUDB_METRICS_REGISTRY_TOPIC"
    IMMUDB_SYNC_FREQUENCY_MS = "IMMUDB_SYNC_FREQUENCY_MS"
    IMMUDB_INDEX_FLUSH_THRESHOLD = "IMMUDB_INDEX_FLUSH_THRESHOLD"
    IMMUDB_GROUP_COMMIT = "IMMUDB_GROUP_COMMIT"
    IMMUDB_PASSWORD_FILE = "IMMUDB_PASSWORD_FILE"  # noqa: S105 (the name of a key)
    IMMUDB_ALLOW_DEFAULT_PASSWORD = "IMMUDB_ALLOW_DEFAULT_PASSWORD"  # noqa: S105 (a key's name)
    IMMUDB_CREATE_DATABASE = "IMMUDB_CREATE_DATABASE"
    IMMUDB_TLS_CA = "IMMUDB_TLS_CA"
    IMMUDB_TLS_CERT = "IMMUDB_TLS_CERT"
    IMMUDB_TLS_KEY = "IMMUDB_TLS_KEY"
    IMMUDB_TLS_SERVER_NAME = "IMMUDB_TLS_SERVER_NAME"
    IMMUDB_REPLICAS = "IMMUDB_REPLICAS"
    IMMUDB_REPLICA_MAX_WAIT = "IMMUDB_REPLICA_MAX_WAIT"


@dataclasses.dataclass(frozen=True)
class ImmudbSettings:
    """Validated connection, pool, retry and polling settings (defaults in brackets)."""

    host: str = "127.0.0.1"
    port: int = 3322
    user: str = "immudb"
    password: str = dataclasses.field(default="immudb", repr=False)
    database: str = "defaultdb"
    create_table: bool = True
    max_tx_entries: int = 10_000
    timeout: float = 30.0
    connect_timeout: float = 10.0
    pool_size: int = 10
    pool_timeout: float = 30.0
    max_retries: int = 8
    retry_delay: float = 0.05
    retry_max_delay: float = 2.0
    conflict_retries: int = 500
    poll_interval: float = 0.05
    session_keepalive: float = 30.0
    #: Hand a closed datastore's logged-in sessions to the next one of the same login
    #: (:mod:`aethyr_immudb_recorder.session_reuse`): each login costs immudb a bcrypt check.
    session_reuse: bool = True
    max_message_length: int = 64 * 1024 * 1024
    #: How the application's users set the password, named by the default-password
    #: warning (``aethyr-es`` passes its own key; default: this module's key).
    password_setting: str = ImmudbKeys.IMMUDB_PASSWORD
    sync_frequency_ms: int | None = None
    #: ``indexSettings.flushThreshold`` of a database the recorder creates: an index is
    #: written to disk at least every this many inserts (immudb's default: 100,000), so
    #: after a crash immudb re-reads at most that many from the log before the first
    #: read (docs/recorder.md, "After a crash").
    index_flush_threshold: int = 1000
    group_commit: bool = True
    #: Create the database when it is missing (needs immudb's superuser).
    create_database: bool = True
    #: Accept the default ``immudb`` password for a host that is not loopback.
    allow_default_password: bool = False
    #: TLS: the CA certificate (PEM) the server's certificate must chain to; ``None``: plaintext.
    tls_ca: bytes | None = dataclasses.field(default=None, repr=False, compare=False)
    #: Mutual TLS: the client certificate chain and its private key (PEM).
    tls_cert: bytes | None = dataclasses.field(default=None, repr=False, compare=False)
    tls_key: bytes | None = dataclasses.field(default=None, repr=False, compare=False)
    #: The host name to verify the server's certificate against (default: ``host``).
    tls_server_name: str | None = None

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (a CA is configured)."""
        return self.tls_ca is not None

    @property
    def mutual_tls(self) -> bool:
        """Whether the client presents a certificate."""
        return self.tls_cert is not None

    #: ``host:port`` of immudb servers replicating this database (lag-tolerant reads
    #: go there; see :mod:`aethyr_immudb_recorder.replicas`).
    replicas: tuple[str, ...] = ()
    #: Seconds a read waits for a replica to catch up before reading the primary.
    replica_max_wait: float = 5.0

    @property
    def address(self) -> str:
        """``host:port`` of the immudb gRPC endpoint."""
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Environment) -> ImmudbSettings:
        """Read and validate every setting from ``env`` (see ``docs/recorder.md``)."""
        F = ImmudbKeys  # noqa: N806 (short, like the keys it names)
        reader = _Reader(env)
        database = reader.get(F.IMMUDB_DATABASE, cls.database, str)
        if not _DATABASE_NAME.match(database):
            reader.fail(
                F.IMMUDB_DATABASE,
                "expected a lower-case immudb database name (letters, digits, '_' or '-')",
                database,
            )
        create_table = reader.get(F.CREATE_TABLE, cls.create_table, _bool)
        tls_ca = reader.file(F.IMMUDB_TLS_CA)
        tls_cert = reader.file(F.IMMUDB_TLS_CERT)
        tls_key = reader.file(F.IMMUDB_TLS_KEY, secret=True)
        if (tls_cert is None) != (tls_key is None):
            missing = F.IMMUDB_TLS_KEY if tls_key is None else F.IMMUDB_TLS_CERT
            reader.fail(missing, "mutual TLS needs both IMMUDB_TLS_CERT and IMMUDB_TLS_KEY", None)
        if tls_cert is not None and tls_ca is None:
            reader.fail(
                F.IMMUDB_TLS_CA,
                "a client certificate (IMMUDB_TLS_CERT) needs the CA that verifies the server",
                None,
            )
        settings = cls(
            host=reader.get(F.IMMUDB_HOST, cls.host, _non_empty),
            port=reader.get(F.IMMUDB_PORT, cls.port, _port),
            user=reader.get(F.IMMUDB_USER, cls.user, _non_empty),
            password=reader.password(F.IMMUDB_PASSWORD, F.IMMUDB_PASSWORD_FILE, cls.password),
            database=database,
            create_table=create_table,
            create_database=reader.get(F.IMMUDB_CREATE_DATABASE, create_table, _bool),
            allow_default_password=reader.get(
                F.IMMUDB_ALLOW_DEFAULT_PASSWORD, cls.allow_default_password, _bool
            ),
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_server_name=reader.get(F.IMMUDB_TLS_SERVER_NAME, None, _non_empty),
            max_tx_entries=reader.get(F.IMMUDB_MAX_TX_ENTRIES, cls.max_tx_entries, _positive_int),
            timeout=reader.get(F.IMMUDB_TIMEOUT, cls.timeout, _positive_float),
            connect_timeout=reader.get(
                F.IMMUDB_CONNECT_TIMEOUT, cls.connect_timeout, _positive_float
            ),
            pool_size=reader.get(F.IMMUDB_POOL_SIZE, cls.pool_size, _positive_int),
            pool_timeout=reader.get(F.IMMUDB_POOL_TIMEOUT, cls.pool_timeout, _positive_float),
            max_retries=reader.get(F.IMMUDB_MAX_RETRIES, cls.max_retries, _non_negative_int),
            retry_delay=reader.get(F.IMMUDB_RETRY_DELAY, cls.retry_delay, _non_negative_float),
            retry_max_delay=reader.get(
                F.IMMUDB_RETRY_MAX_DELAY, cls.retry_max_delay, _non_negative_float
            ),
            conflict_retries=reader.get(
                F.IMMUDB_CONFLICT_RETRIES, cls.conflict_retries, _non_negative_int
            ),
            poll_interval=reader.get(F.IMMUDB_POLL_INTERVAL, cls.poll_interval, _positive_float),
            session_keepalive=reader.get(
                F.IMMUDB_SESSION_KEEPALIVE, cls.session_keepalive, _positive_float
            ),
            session_reuse=reader.get(F.IMMUDB_SESSION_REUSE, cls.session_reuse, _bool),
            max_message_length=reader.get(
                F.IMMUDB_MAX_MESSAGE_LENGTH, cls.max_message_length, _positive_int
            ),
            password_setting=reader.get(
                F.IMMUDB_PASSWORD_SETTING, cls.password_setting, _non_empty
            ),
            sync_frequency_ms=reader.get(
                F.IMMUDB_SYNC_FREQUENCY_MS, cls.sync_frequency_ms, _non_negative_int
            ),
            index_flush_threshold=reader.get(
                F.IMMUDB_INDEX_FLUSH_THRESHOLD, cls.index_flush_threshold, _positive_int
            ),
            group_commit=reader.get(F.IMMUDB_GROUP_COMMIT, cls.group_commit, _bool),
            replicas=reader.get(F.IMMUDB_REPLICAS, cls.replicas, _addresses),
            replica_max_wait=reader.get(
                F.IMMUDB_REPLICA_MAX_WAIT, cls.replica_max_wait, _non_negative_float
            ),
        )
        check_default_password(settings)
        return settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` or 127.0.0.0/8, ::1).

    Decided from the text alone: no name is resolved (nothing is sent anywhere).
    Any other host name counts as not loopback.
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def uses_default_password(settings: ImmudbSettings) -> bool:
    """Whether the settings log in with immudb's factory credentials."""
    return settings.user == DEFAULT_USER and settings.password == DEFAULT_PASSWORD


def check_default_password(settings: ImmudbSettings) -> None:
    """Refuse immudb's default login for a host that is not loopback.

    Anyone who can reach such a server can read and write every database with the
    factory password, so the recorder will not use it there unless
    ``IMMUDB_ALLOW_DEFAULT_PASSWORD`` says so. Called before any connection is
    opened (:meth:`ImmudbSettings.from_env` and the datastore's first use); on
    loopback the datastore only warns.
    """
    if (
        uses_default_password(settings)
        and not settings.allow_default_password
        and not is_loopback(settings.host)
    ):
        msg = (
            f"refusing to log in to immudb at {settings.address} with the default "
            "password: set a real one (the setting "
            f"{settings.password_setting}, or IMMUDB_PASSWORD_FILE), or set "
            "IMMUDB_ALLOW_DEFAULT_PASSWORD=yes to accept the risk"
        )
        raise ConfigurationError(msg)


class _Reader:
    """Reads one key at a time and reports a bad value with both candidate keys."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def fail(self, key: str, expected: str, raw: str | None, *, secret: bool = False) -> None:
        keys = " or ".join(repr(k) for k in self.env.create_keys(key))
        shown = "<hidden>" if secret else repr(raw)
        got = "" if raw is None else f", got {shown}"
        msg = f"Invalid immudb recorder setting {keys}: {expected}{got}"
        raise ConfigurationError(msg)

    def password(self, key: str, file_key: str, default: str) -> str:
        """The password from ``key`` or from the file ``file_key`` names (not both)."""
        path = self.env.get(file_key)
        if path is None or path.strip() == "":
            return self.get(key, default, str, secret=True)
        raw = self.env.get(key)
        if raw is not None and raw != "":
            keys = " or ".join(repr(k) for k in self.env.create_keys(key))
            files = " or ".join(repr(k) for k in self.env.create_keys(file_key))
            msg = f"Invalid immudb recorder settings: set {keys} or {files}, not both"
            raise ConfigurationError(msg)
        data = self.file(file_key, secret=True)
        assert data is not None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(file_key, "the password file is not UTF-8", path)
        password = text.removesuffix("\n").removesuffix("\r")
        if not password:
            self.fail(file_key, "the password file is empty", path)
        return password

    def file(self, key: str, *, secret: bool = False) -> bytes | None:
        """The bytes of the file ``key`` names (``None`` when unset).

        ``secret`` only says the file holds a secret; its path is shown either way
        (a path is not a secret), its content never.
        """
        path = self.env.get(key)
        if path is None or path.strip() == "":
            return None
        try:
            with open(path.strip(), "rb") as fh:
                return fh.read()
        except OSError as exc:
            self.fail(key, f"cannot read the file ({exc.strerror})", path.strip())
            raise  # pragma: no cover (fail always raises)

    def get(
        self,
        key: str,
        default: T,
        parse: Callable[[str], T],
        *,
        secret: bool = False,
    ) -> T:
        raw = self.env.get(key)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip() if not secret else raw)
        except ValueError as exc:
            self.fail(key, str(exc) or "invalid value", raw, secret=secret)
            raise  # pragma: no cover (fail always raises)


def _non_empty(raw: str) -> str:
    if not raw:
        raise ValueError("expected a non-empty string")
    return raw


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a TCP port number (1-65535)") from None
    if not 0 < value < 65536:
        raise ValueError("expected a TCP port number (1-65535)")
    return value


def _addresses(raw: str) -> tuple[str, ...]:
    """``"h:p,h:p"`` as a tuple of checked ``host:port`` strings."""
    out: list[str] = []
    for part in raw.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host:
            raise ValueError("expected a comma-separated list of host:port")
        out.append(f"{host}:{_port(port)}")
    return tuple(out)


def _bool(raw: str) -> bool:
    try:
        return strtobool(raw)
    except ValueError:
        raise ValueError("expected a boolean (y/yes/t/true/on/1 or n/no/f/false/off/0)") from None


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None


def _positive_float(raw: str) -> float:
    value = _float(raw)
    if value <= 0:
        raise ValueError("expected a number of seconds > 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = _float(raw)
    if value < 0:
        raise ValueError("expected a number of seconds >= 0")
    return value


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    return value
