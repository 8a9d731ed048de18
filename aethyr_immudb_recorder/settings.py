"""The recorder's configuration, read from an eventsourcing ``Environment``.

Every key is looked up through :meth:`eventsourcing.utils.Environment.get`, so
an application-name prefix wins (``WORLD_IMMUDB_HOST`` before ``IMMUDB_HOST``).
:meth:`ImmudbSettings.from_env` validates each value and raises
:class:`~aethyr_immudb_recorder.errors.ConfigurationError` naming both
candidate keys when one is invalid. The password is kept out of ``repr``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.utils import Environment, strtobool

from aethyr_immudb_recorder.errors import ConfigurationError

T = TypeVar("T")

_DATABASE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


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
    max_message_length: int = 64 * 1024 * 1024
    #: How the application's users set the password, named by the default-password
    #: warning (``aethyr-es`` passes its own key; default: this module's key).
    password_setting: str = "IMMUDB_PASSWORD"  # noqa: S105 (the name of a key)
    sync_frequency_ms: int | None = None
    group_commit: bool = True

    @property
    def address(self) -> str:
        """``host:port`` of the immudb gRPC endpoint."""
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Environment) -> ImmudbSettings:
        """Read and validate every setting from ``env`` (see ``docs/recorder.md``)."""
        from aethyr_immudb_recorder.factory import ImmudbFactory as F

        reader = _Reader(env)
        database = reader.get(F.IMMUDB_DATABASE, cls.database, str)
        if not _DATABASE_NAME.match(database):
            reader.fail(
                F.IMMUDB_DATABASE,
                "expected a lower-case immudb database name (letters, digits, '_' or '-')",
                database,
            )
        return cls(
            host=reader.get(F.IMMUDB_HOST, cls.host, _non_empty),
            port=reader.get(F.IMMUDB_PORT, cls.port, _port),
            user=reader.get(F.IMMUDB_USER, cls.user, _non_empty),
            password=reader.get(F.IMMUDB_PASSWORD, cls.password, str, secret=True),
            database=database,
            create_table=reader.get(F.CREATE_TABLE, cls.create_table, _bool),
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
            max_message_length=reader.get(
                F.IMMUDB_MAX_MESSAGE_LENGTH, cls.max_message_length, _positive_int
            ),
            password_setting=reader.get(
                F.IMMUDB_PASSWORD_SETTING, cls.password_setting, _non_empty
            ),
            sync_frequency_ms=reader.get(
                F.IMMUDB_SYNC_FREQUENCY_MS, cls.sync_frequency_ms, _non_negative_int
            ),
            group_commit=reader.get(F.IMMUDB_GROUP_COMMIT, cls.group_commit, _bool),
        )


class _Reader:
    """Reads one key at a time and reports a bad value with both candidate keys."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def fail(self, key: str, expected: str, raw: str | None, *, secret: bool = False) -> None:
        keys = " or ".join(repr(k) for k in self.env.create_keys(key))
        shown = "<hidden>" if secret else repr(raw)
        msg = f"Invalid immudb recorder setting {keys}: {expected}, got {shown}"
        raise ConfigurationError(msg)

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
