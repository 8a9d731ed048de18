"""ServerConfig: the one place for the game's configuration.

Every setting has a documented default (``docs/configuration.md``). Three sources are
layered, the later winning::

    defaults  <  a TOML file (``--config FILE`` or ``AETHYR_CONFIG``)  <  ``AETHYR_<KEY>``

so ``AETHYR_EVENT_SOURCING_ENABLED=1`` alone turns event sourcing on with the defaults.
Values are checked all at once: a bad configuration raises one :class:`ConfigError`
naming every bad key. The immudb password is held in a :class:`Secret`, so it never
appears in a ``repr``, a log line or an error message.

This module imports only the standard library: the game can read its configuration
without touching any event-sourcing code.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "AETHYR_"
CONFIG_FILE_ENV = "AETHYR_CONFIG"
EVENT_STORES = ("immudb", "sqlite", "popo")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class ConfigError(ValueError):
    """A configuration with one or more bad values; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class Secret:
    """A string that hides itself: ``repr`` and ``str`` print ``'***'``.

    Call :meth:`reveal` at the single place the real value is needed (building the
    persistence environment).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ServerConfig:
    """The game server's settings (see ``docs/configuration.md`` for each key).

    Build one with :meth:`load` (file + environment) or directly with keyword
    arguments (tests); :meth:`validate` runs in ``__post_init__`` either way.
    """

    #: Master switch. Off: the game uses only the live world, no event-sourcing code runs.
    event_sourcing_enabled: bool = False
    #: Which persistence module the World application uses: immudb, sqlite or popo.
    event_store: str = "immudb"
    immudb_address: str = "127.0.0.1"
    immudb_port: int = 3322
    immudb_username: str = "immudb"
    immudb_password: Secret = field(default_factory=lambda: Secret("immudb"))
    immudb_database: str = "aethyr"
    #: Read the immudb password from this file instead (a mounted container secret;
    #: one trailing newline stripped). Wins over ``immudb_password``.
    immudb_password_file: str = ""
    #: TLS to immudb: the CA certificate (PEM) that verifies the server; empty: plaintext.
    immudb_tls_ca: str = ""
    #: Mutual TLS: the client certificate and key (PEM) presented to immudb.
    immudb_tls_cert: str = ""
    immudb_tls_key: str = ""
    #: Accept immudb's default password for a server that is not on loopback.
    immudb_allow_default_password: bool = False
    #: Where the client keeps immudb's last verified state (for ``verify``).
    immudb_state_file: str = "aethyr-immudb-state.json"
    #: ``host:port`` of immudb replicas of ``immudb_database``: the lag-tolerant reads
    #: (projection follower, ``world --source replay``, ``world --at``, ``history``,
    #: ``verify``) go there (``docs/replication.md``). Env: ``"h:p,h:p"``.
    immudb_replicas: tuple[str, ...] = ()
    #: Take an aggregate snapshot every this many events (0 disables snapshots).
    snapshot_threshold: int = 100
    #: The sqlite database file used when ``event_store = "sqlite"``.
    sqlite_path: str = "aethyr-events.sqlite"
    #: The durable outbox (a sqlite file) between the game and the event store.
    outbox_path: str = "aethyr-outbox.sqlite"
    #: The world checkpoint boot starts from (a local file; see ``docs/checkpoint.md``);
    #: empty: next to the outbox, ``<outbox_path>.checkpoint`` (:attr:`checkpoint_file`).
    checkpoint_path: str = ""
    #: Save a checkpoint every this many recorded events (and at shutdown); 0: never.
    checkpoint_interval: int = 10000
    #: How many outbox entries the delivery thread takes per round.
    outbox_batch_size: int = 100
    #: Seconds the delivery thread sleeps when the outbox is empty.
    outbox_poll_interval: float = 0.2
    #: Seconds boot and ``play`` (at exit) wait, at most, for the outbox to drain.
    outbox_drain_timeout: float = 10.0
    #: Transient store faults: retries per attempt round and exponential back-off.
    retry_attempts: int = 5
    retry_base_delay: float = 0.1
    retry_max_delay: float = 5.0
    #: Seconds without a heartbeat after which another process may take over the
    #: writer lease of the event store (``docs/operations.md``).
    writer_lease_timeout: float = 15.0
    #: Keep the read-model projections up to date while the game runs.
    projections_enabled: bool = True
    #: ``serve`` on a store other processes can open (not ``popo``): run the world
    #: projection as a child process (``aethyr-es project``, started after boot and
    #: stopped after the outbox drained, once it applied the log) instead of a thread
    #: in the game's process. ``play`` and embedding programs keep it in process.
    projection_process: bool = True
    #: The world projection commits at most one view transaction per this many
    #: seconds: the events that arrive meanwhile go into the next (at most
    #: ``MAX_BATCH``), and the first event after a quiet spell is applied at once.
    #: On a busy game fewer, larger commits (on immudb each costs the server an index
    #: flush and, synced, a flush to disk), the read model at most that much later;
    #: the ``project`` child also reads the log no more often (immudb's poll). 0:
    #: commit what is there at once.
    projection_batch_wait: float = 0.25
    #: ``serve`` on a store other processes can open (not ``popo``): deliver the outbox
    #: from a child process that holds the writer lease while the game runs, instead of
    #: a thread of the game's process (``docs/server.md``). ``play`` and embedding
    #: programs keep the delivery thread.
    delivery_process: bool = True
    #: ``serve``: how much lower the CPU priority of its child processes (the world
    #: projection, the delivery) is than the game's (added to the nice value, 0-19;
    #: 0: the same priority), so that on a busy machine the game's answers go first.
    background_nice: int = 10
    #: ``serve`` on Linux: also run those children under the ``SCHED_IDLE`` policy, so
    #: the game preempts them the moment it has work (a nice value alone lets a running
    #: child finish its time slice first, a few milliseconds). Off: nice only.
    background_idle: bool = True
    #: Export Prometheus metrics over HTTP (loopback) on ``metrics_port``.
    metrics_enabled: bool = False
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9464
    #: Id of the room new players start in.
    start_room: str = "start-room"
    #: With event sourcing off: the game's own storage (a SQLite file written as the
    #: world changes, loaded at boot). Empty: no storage, the world lives in memory only.
    storage_path: str = "aethyr-world.sqlite"
    #: ``serve``: seconds a session may stay silent before it is closed.
    idle_timeout: float = 900.0
    #: ``serve``: seconds a SIGTERM waits, at most, for the outbox to drain.
    shutdown_drain_timeout: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.immudb_password, str):  # accept a plain str from callers
            object.__setattr__(self, "immudb_password", Secret(self.immudb_password))
        if isinstance(self.immudb_replicas, list):  # a TOML array, or a caller's list
            object.__setattr__(self, "immudb_replicas", tuple(self.immudb_replicas))
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    # ------------------------------------------------------------------ checks
    def problems(self) -> list[str]:
        """Every problem with these values (empty when valid)."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            expected = _TYPES[f.name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                out.append(
                    f"{f.name}: expected {expected.__name__}, got {_describe(f.name, value)}"
                )
        if out:
            return out
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f"{f.name}: must be a finite number, got {value!r}")
        if out:
            return out
        if self.event_store not in EVENT_STORES:
            out.append(
                f"event_store: must be one of {', '.join(EVENT_STORES)}, got {self.event_store!r}"
            )
        for name in ("immudb_port", "metrics_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                out.append(f"{name}: must be between 1 and 65535, got {port}")
        for name in ("immudb_address", "immudb_username", "immudb_database", "metrics_address"):
            if not getattr(self, name).strip():
                out.append(f"{name}: must not be blank")
        if not self.immudb_password.reveal():
            out.append("immudb_password: must not be blank")
        for name in ("immudb_password_file", "immudb_tls_ca", "immudb_tls_cert", "immudb_tls_key"):
            path = getattr(self, name)
            if path and not os.access(path, os.R_OK):
                reason = "does not exist" if not os.path.exists(path) else "is not readable"
                out.append(f"{name}: the file {path!r} {reason}")
        if bool(self.immudb_tls_cert) != bool(self.immudb_tls_key):
            out.append("immudb_tls_cert, immudb_tls_key: mutual TLS needs both")
        if self.immudb_tls_cert and not self.immudb_tls_ca:
            out.append("immudb_tls_ca: a client certificate needs the CA that verifies the server")
        for replica in self.immudb_replicas:
            problem = _address_problem(replica)
            if problem:
                out.append(f"immudb_replicas: {problem}")
        for name in ("outbox_path", "sqlite_path", "start_room"):
            if not getattr(self, name).strip():
                out.append(f"{name}: must not be blank")
        if self.snapshot_threshold < 0:
            out.append(f"snapshot_threshold: must be >= 0, got {self.snapshot_threshold}")
        if self.checkpoint_interval < 0:
            out.append(f"checkpoint_interval: must be >= 0, got {self.checkpoint_interval}")
        if self.outbox_batch_size < 1:
            out.append(f"outbox_batch_size: must be >= 1, got {self.outbox_batch_size}")
        for name in ("outbox_poll_interval", "retry_base_delay"):
            if getattr(self, name) <= 0:
                out.append(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.writer_lease_timeout <= 0:
            out.append(f"writer_lease_timeout: must be > 0, got {self.writer_lease_timeout}")
        for name in ("idle_timeout", "shutdown_drain_timeout"):
            if getattr(self, name) <= 0:
                out.append(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.outbox_drain_timeout < 0:
            out.append(f"outbox_drain_timeout: must be >= 0, got {self.outbox_drain_timeout}")
        if not 0 <= self.projection_batch_wait <= 10:
            out.append(
                "projection_batch_wait: must be between 0 and 10 seconds, "
                f"got {self.projection_batch_wait}"
            )
        if not 0 <= self.background_nice <= 19:
            out.append(f"background_nice: must be between 0 and 19, got {self.background_nice}")
        if self.retry_attempts < 0:
            out.append(f"retry_attempts: must be >= 0, got {self.retry_attempts}")
        if self.retry_max_delay < self.retry_base_delay:
            out.append(
                f"retry_max_delay: must be >= retry_base_delay ({self.retry_base_delay}), "
                f"got {self.retry_max_delay}"
            )
        return out

    @property
    def checkpoint_file(self) -> str:
        """Where the world checkpoint lives: ``checkpoint_path``, or next to the outbox."""
        return self.checkpoint_path.strip() or self.outbox_path + ".checkpoint"

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServerConfig:
        """Defaults, then the TOML file (``path`` or ``AETHYR_CONFIG``), then ``AETHYR_*``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        file_path = path if path is not None else env.get(CONFIG_FILE_ENV) or None
        if file_path is not None:
            values.update(_read_toml(Path(file_path), problems))
        for key in _TYPES:
            raw = env.get(ENV_PREFIX + key.upper())
            if raw is None:
                continue
            try:
                values[key] = _parse_env(key, raw)
            except ValueError as exc:
                problems.append(f"{key} (env {ENV_PREFIX}{key.upper()}): {exc}")
        try:
            config = cls(**values)
        except ConfigError as exc:
            raise ConfigError(problems + exc.problems) from None
        if problems:
            raise ConfigError(problems)
        return config

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with some values changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ output
    def eventsourcing_env(self) -> dict[str, str]:
        """The environment for ``World(env=...)`` selecting the configured store.

        The password is revealed here only; do not log the returned mapping.
        """
        env: dict[str, str]
        if self.event_store == "immudb":
            env = {
                "PERSISTENCE_MODULE": "aethyr_immudb_recorder",
                "IMMUDB_HOST": self.immudb_address,
                "IMMUDB_PORT": str(self.immudb_port),
                "IMMUDB_USER": self.immudb_username,
                # what the recorder's default-password warning tells users to set
                "IMMUDB_PASSWORD_SETTING": (
                    f"immudb_password in the config file or {ENV_PREFIX}IMMUDB_PASSWORD"
                    f" (or {ENV_PREFIX}IMMUDB_PASSWORD_FILE)"
                ),
                "IMMUDB_DATABASE": self.immudb_database,
                "IMMUDB_MAX_RETRIES": str(self.retry_attempts),
                "IMMUDB_RETRY_DELAY": str(self.retry_base_delay),
                "IMMUDB_RETRY_MAX_DELAY": str(self.retry_max_delay),
                "IMMUDB_ALLOW_DEFAULT_PASSWORD": "yes"
                if self.immudb_allow_default_password
                else "no",
            }
            if self.immudb_password_file:  # read by the recorder when the store is opened
                env["IMMUDB_PASSWORD_FILE"] = self.immudb_password_file
            else:
                env["IMMUDB_PASSWORD"] = self.immudb_password.reveal()
            for key, path in (
                ("IMMUDB_TLS_CA", self.immudb_tls_ca),
                ("IMMUDB_TLS_CERT", self.immudb_tls_cert),
                ("IMMUDB_TLS_KEY", self.immudb_tls_key),
            ):
                if path:
                    env[key] = path
        elif self.event_store == "sqlite":
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "ORIGINATOR_ID_TYPE": "text",
            }
        else:
            env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        return env

    def redacted(self) -> dict[str, Any]:
        """Every setting as plain values, with the password masked (safe to print)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["immudb_password"] = str(self.immudb_password)  # "***"
        return out


def _address_problem(address: object) -> str | None:
    """Why ``address`` is not a ``host:port`` string (``None`` when it is one)."""
    if not isinstance(address, str):
        return f"expected host:port strings, got {type(address).__name__}"
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host.strip() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"expected host:port (port 1-65535), got {address!r}"
    return None


def _describe(key: str, value: object) -> str:
    if key == "immudb_password":
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"


#: Each key's type, from the dataclass's own annotations (one list of keys to keep).
_TYPES: dict[str, type] = {
    f.name: typing.get_origin(hint) or hint
    for f in fields(ServerConfig)
    for hint in [typing.get_type_hints(ServerConfig)[f.name]]
}

#: The keys ServerConfig understands, in declaration order.
KEYS: tuple[str, ...] = tuple(_TYPES)


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        problems.append(f"config file {str(path)!r}: cannot be read ({exc.strerror})")
        return {}
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
        problems.append(f"config file {str(path)!r}: not UTF-8 (byte {exc.start}: {exc.reason})")
        return {}
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {str(path)!r}: not valid TOML ({exc})")
        return {}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _TYPES:
            problems.append(f"{key}: unknown key in config file {str(path)!r}")
        elif key == "immudb_password":
            if isinstance(value, str):
                values[key] = Secret(value)
            else:
                problems.append(f"{key}: expected str, got {type(value).__name__}")
        else:
            values[key] = value
    return values


def _parse_env(key: str, raw: str) -> Any:
    expected = _TYPES[key]
    text = raw.strip()
    if expected is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")
    if expected is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if expected is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if expected is Secret:
        return Secret(raw)
    if expected is tuple:  # immudb_replicas: "h:p,h:p"
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return raw
