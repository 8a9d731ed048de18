"""Build and run a throwaway immudb server: for tests, benchmarks and manual work.

immudb is not packaged for Debian or PyPI, so the server is built from the Go
module proxy through a tiny wrapper module of our own (``launcher/immudb_server/``: a
``go.mod`` that requires ``github.com/codenotary/immudb`` at a pinned version,
repeats immudb's two ``replace`` lines, and a ``main.go`` that calls
``command.Execute()``). ``go install ...@version`` cannot be used because
immudb's own ``go.mod`` has ``replace`` directives.

The binary is cached in an ignored folder (``.cache/immudb/<version>/immudb`` in
a source checkout, else ``~/.cache/aethyr-immudb/<version>/immudb``); a second
build is a no-op. ``IMMUDB_BIN`` points to an existing binary instead, and
``AETHYR_IMMUDB_VERSION`` builds another version (``go mod tidy`` resolves it).

:class:`ImmudbServer` starts a server on 127.0.0.1 with a free port and a
temporary data dir, with the pgsql, web and metrics listeners off, waits until
it answers a health check *and* is the process listening on its port, and stops
it (SIGTERM, then SIGKILL if it hangs). It can also be killed and restarted on
the same data dir, for fault tests.

Durability: servers are *synced* by default (``--synced=true``, immudb's own
default: every commit is flushed to disk before it is acknowledged). An
unsynced server (``synced=False``) is faster, but a crash (kill -9, power loss)
can leave its data dir corrupt: in 2 of 2 tries a SIGKILLed unsynced server
would not restart on its data. Tests that do not test durability pass
``synced=False`` explicitly to stay fast.

From the command line::

    python -m aethyr_immudb_recorder.launcher build        # build (or reuse) and print the path
    python -m aethyr_immudb_recorder.launcher start        # run a synced local server until Ctrl-C
    python -m aethyr_immudb_recorder.launcher start --port 3322 --dir ./immudb-data
    python -m aethyr_immudb_recorder.launcher start --unsynced   # faster, not crash-safe
    python -m aethyr_immudb_recorder.launcher start --tls-dir ./tls          # TLS
    python -m aethyr_immudb_recorder.launcher start --tls-dir ./tls --mtls   # mutual TLS

TLS: ``--tls-dir D`` (``ImmudbServer(tls=True)`` from Python, ``mtls=True`` for
mutual TLS) writes a throwaway CA, a server certificate for 127.0.0.1 and
localhost and a client certificate into ``D`` (:mod:`aethyr_immudb_recorder.tls`),
starts immudb with ``--certificate --pkey`` (and ``--mtls --clientcas``) and
prints the paths to give the client (``IMMUDB_TLS_CA``, ``IMMUDB_TLS_CERT``,
``IMMUDB_TLS_KEY``).

Passwords never go on the server's command line (every local user can read it
with ``ps``): ``ImmudbServer(admin_password=...)`` hands it to immudb through its
environment (``IMMUDB_ADMIN_PASSWORD``), and ``launcher start`` reads it from
``--admin-password-file`` or the launcher's own ``IMMUDB_ADMIN_PASSWORD``.

    python -m aethyr_immudb_recorder.launcher start --replica-of 127.0.0.1:3322 --port 3323
    python -m aethyr_immudb_recorder.launcher start --replica-of 127.0.0.1:3322 --sync

``--replica-of HOST:PORT`` (``ImmudbServer(replica_of=...)``) starts a server whose
databases replicate the primary's: it watches the primary's database list and
creates, for each database but ``systemdb`` and ``defaultdb``, a replica database
of the same name (immudb's per-database replication settings: ``replica=true`` and
the primary's host, port, database and credentials; the primary's login is
``--primary-user`` and the ``IMMUDB_PRIMARY_PASSWORD`` environment variable,
``immudb``/``immudb`` by default). ``--sync`` (``sync=True``) makes the replication
synchronous: the replica database gets ``syncReplication=true`` and the
*primary's* database is switched (``UpdateDatabaseV2``) to ``syncReplication=true``
and ``syncAcks=1``, so the primary acknowledges a commit only once a replica holds
it - and stops acknowledging while no synchronous replica is connected
(``docs/replication.md``). A primary database with ``syncFrequency`` 0 gets 1 ms and
is reloaded: with 0 immudb never exports a transaction to a synchronous replica
(:mod:`aethyr_immudb_recorder.sync_replication`).

``start`` exits non-zero with the server's own error (for example the bind error
when ``--port`` is taken by another server). SIGTERM and SIGINT (Ctrl-C) stop the
server and remove what the launcher created (a temporary data dir and its log).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aethyr_immudb_recorder.settings import ImmudbKeys

if TYPE_CHECKING:
    from aethyr_immudb_recorder.tls import TlsFiles

PINNED_VERSION = "1.11.1"
"""The immudb version the wrapper module's ``go.mod`` and ``go.sum`` pin."""

MIN_GO = (1, 25)
"""immudb 1.11.x declares ``go 1.25.0``."""

_SOURCE_DIR = Path(__file__).with_name("immudb_server")
_LOOPBACK = "127.0.0.1"


class ImmudbBuildError(RuntimeError):
    """The immudb server binary could not be built or found."""


class ImmudbStartError(RuntimeError):
    """The immudb server did not start or did not answer its health check."""


def requested_version() -> str:
    """The immudb version to build: ``AETHYR_IMMUDB_VERSION`` or the pinned one."""
    return os.environ.get("AETHYR_IMMUDB_VERSION", "").strip().lstrip("v") or PINNED_VERSION


def cache_root() -> Path:
    """Where built binaries are cached.

    ``AETHYR_IMMUDB_CACHE`` wins; in a source checkout (editable install) it is
    the checkout's ignored ``.cache/immudb``; otherwise the user's cache dir.
    """
    configured = os.environ.get("AETHYR_IMMUDB_CACHE")
    if configured:
        return Path(configured).expanduser()
    checkout = Path(__file__).resolve().parents[2]  # launcher/ -> package -> checkout
    if (checkout / "pyproject.toml").is_file() and os.access(checkout, os.W_OK):
        return checkout / ".cache" / "immudb"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "aethyr-immudb"


def cached_binary_path(version: str | None = None) -> Path:
    """The path the binary for ``version`` is (or will be) cached at."""
    return cache_root() / (version or requested_version()) / "immudb"


def _go_version(go: str) -> tuple[int, int]:
    out = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digits = out.removeprefix("go").split(".")
    return int(digits[0]), int(digits[1].split("rc")[0].split("beta")[0])


def build_immudb(*, force: bool = False, quiet: bool = False) -> Path:
    """Return the path of an immudb server binary, building it if needed.

    Order: ``IMMUDB_BIN`` if set; else the cached build for the requested
    version; else build it with ``go`` into the cache (under a file lock, so
    concurrent callers build once). Raises :class:`ImmudbBuildError` with the
    build output when anything fails.
    """
    explicit = os.environ.get("IMMUDB_BIN")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ImmudbBuildError(f"IMMUDB_BIN={explicit!r} is not an executable file")
        return path
    version = requested_version()
    target = cached_binary_path(version)
    if target.is_file() and not force:
        return target
    go = shutil.which("go")
    if go is None:
        raise ImmudbBuildError(
            "cannot build immudb: no 'go' on PATH (Go >= 1.25 is needed), and IMMUDB_BIN is not set"
        )
    try:
        have = _go_version(go)
    except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
        raise ImmudbBuildError(f"cannot read the Go version: {exc}") from exc
    if have < MIN_GO:
        raise ImmudbBuildError(
            f"Go {have[0]}.{have[1]} is too old to build immudb {version}; need >= 1.25"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / ".build.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and not force:
            return target
        _go_build(go, version, target, quiet=quiet)
    return target


def _go_build(go: str, version: str, target: Path, *, quiet: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="immudb-build-") as work:
        src = Path(work)
        for name in ("main.go", "go.mod", "go.sum"):
            shutil.copy2(_SOURCE_DIR / name, src / name)
        env = dict(os.environ, CGO_ENABLED="0")
        steps: list[list[str]] = []
        if version != PINNED_VERSION:
            mod = (src / "go.mod").read_text()
            mod = mod.replace(
                f"github.com/codenotary/immudb v{PINNED_VERSION}",
                f"github.com/codenotary/immudb v{version}",
            )
            (src / "go.mod").write_text(mod)
            steps.append([go, "mod", "tidy"])
        ldflags = f"-s -X github.com/codenotary/immudb/cmd/version.Version={version}"
        out = target.with_name("immudb.partial")
        steps.append([go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(out), "."])
        if not quiet:
            print(f"building immudb {version} from the Go module proxy...", file=sys.stderr)
        for cmd in steps:
            proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ImmudbBuildError(
                    f"building immudb {version} failed at {' '.join(cmd[:2])!r}:\n"
                    f"{proc.stderr.strip() or proc.stdout.strip()}"
                )
        out.replace(target)
    if not quiet:
        print(f"built {target}", file=sys.stderr)


def free_port(host: str = _LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ImmudbServer:
    """A throwaway immudb server on loopback.

    >>> with ImmudbServer() as server:          # doctest: +SKIP
    ...     client = ImmudbClient(server.address)

    ``data_dir`` defaults to a new temporary folder, removed on :meth:`stop`
    unless ``keep_data`` is true or the folder was given. ``synced`` (default
    True) makes the server flush every commit to disk; pass ``synced=False`` for a
    faster server whose data dir may not survive a crash (see the module docstring). ``kill`` and
    ``start`` again reuse the same port and data dir (crash/restart tests).
    Only loopback addresses are accepted.

    ``replica_of="host:port"`` makes it a replica server: with ``watch`` (the default)
    a thread replicates every database of the primary (but ``systemdb`` and
    ``defaultdb``) within 0.2 s of its creation; without it, only the databases passed
    to :meth:`replicate`. ``sync`` makes the replication synchronous (the replica
    databases and the primary's: ``syncReplication=true``, ``syncAcks=1``). Two
    watching replica servers of one primary both replicate every database, so a
    synchronous one makes every database of the primary synchronous.

    If the *first* :meth:`start` fails (no binary, the server exits or never
    answers), the temporary folder and its log are removed before the error
    propagates - a failed ``with ImmudbServer():`` never reaches ``__exit__``, so
    nobody else would. A folder the caller gave is never removed, and neither is
    the folder of a server that already ran (a failed restart after ``kill``
    keeps the data to inspect; :meth:`stop` removes it as usual). The error
    message carries the tail of the server's log.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        host: str = _LOOPBACK,
        binary: str | os.PathLike[str] | None = None,
        synced: bool = True,
        keep_data: bool = False,
        startup_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
        tls: bool = False,
        mtls: bool = False,
        tls_dir: str | os.PathLike[str] | None = None,
        admin_password: str | None = None,
        replica_of: str | None = None,
        sync: bool = False,
        primary_user: str = "immudb",
        primary_password: str = "immudb",  # noqa: S107 (immudb's factory default)
        watch: bool = True,
    ) -> None:
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"ImmudbServer binds loopback only, not {host!r}")
        if any(arg.split("=", 1)[0] == "--admin-password" for arg in extra_args):
            raise ValueError(
                "pass the admin password as admin_password= (through the environment), "
                "never --admin-password: every local user can read a command line"
            )
        if sync and replica_of is None:
            raise ValueError("sync=True needs replica_of (the primary to replicate)")
        self.replica_of = replica_of
        self.sync = sync
        self.watch = watch
        self._primary_user = primary_user
        self._primary_password = primary_password
        self.replicated: set[str] = set()
        self._follower: threading.Thread | None = None
        self._stop_following = threading.Event()
        if replica_of is not None:
            from aethyr_immudb_recorder.replicas import parse_address

            parse_address(replica_of)  # ValueError for a bad address
        self.host = host
        self.port = port or free_port(host)
        self._given_dir = data_dir is not None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="immudb-"))
        self.binary = Path(binary) if binary else None
        self.synced = synced
        self.keep_data = keep_data or self._given_dir
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._has_run = False  # a server came up on data_dir (its data may matter)
        self.tls = tls or mtls or tls_dir is not None
        self.mtls = mtls
        self._admin_password = admin_password
        self._given_tls_dir = tls_dir is not None
        self.tls_dir = (
            Path(tls_dir) if tls_dir else self.data_dir.parent / f"{self.data_dir.name}-tls"
        )
        self.tls_files: TlsFiles | None = None

    @property
    def admin_password(self) -> str:
        """The admin password the server was started with (``immudb`` unless given)."""
        return self._admin_password or "immudb"

    def client_env(self) -> dict[str, str]:
        """The recorder's connection settings for this server (host, port, TLS files)."""
        env = {ImmudbKeys.IMMUDB_HOST: self.host, ImmudbKeys.IMMUDB_PORT: str(self.port)}
        files = self.tls_files
        if files is not None:
            env[ImmudbKeys.IMMUDB_TLS_CA] = str(files.ca)
            if self.mtls:
                env[ImmudbKeys.IMMUDB_TLS_CERT] = str(files.client_cert)
                env[ImmudbKeys.IMMUDB_TLS_KEY] = str(files.client_key)
        return env

    def _ensure_tls_files(self) -> TlsFiles:
        """The TLS files: those already in a given ``tls_dir`` (a restart keeps its CA,
        so clients keep trusting it), else new ones."""
        if self.tls_files is None:
            from aethyr_immudb_recorder.tls import existing_tls_files, generate_tls_files

            found = existing_tls_files(self.tls_dir) if self._given_tls_dir else None
            self.tls_files = found or generate_tls_files(self.tls_dir)
        return self.tls_files

    @property
    def address(self) -> str:
        """``host:port`` as immudb-py's ``ImmudbClient`` wants it."""
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The server's command line."""
        binary = self.binary or build_immudb()
        return [
            str(binary),
            "--dir",
            str(self.data_dir),
            "--address",
            self.host,
            "--port",
            str(self.port),
            "--pgsql-server=false",
            "--web-server=false",
            "--metrics-server=false",
            f"--synced={'true' if self.synced else 'false'}",
            "--session-timeout=0",
            "--max-sessions=1000",
            "--max-active-databases=1000",
            *self._tls_args(),
            *self.extra_args,
        ]

    def _tls_args(self) -> list[str]:
        if not self.tls:
            return []
        files = self._ensure_tls_files()
        args = ["--certificate", str(files.server_cert), "--pkey", str(files.server_key)]
        if self.mtls:
            args += ["--mtls=true", "--clientcas", str(files.ca)]
        return args

    def start(self) -> ImmudbServer:
        """Start the server and wait until it answers a health check.

        On failure the process is gone and, on a first start, the temporary data
        folder this object created is removed (see the class docstring).
        """
        if self.running:
            return self
        try:
            self._launch()
        except BaseException:
            self.kill()
            if not self._has_run and not self.keep_data:
                self._remove_data()
            raise
        self._has_run = True
        if self.replica_of is not None and self.watch:
            self._start_following()
        return self

    # -- replication -------------------------------------------------------------

    def _start_following(self) -> None:
        self._stop_following.clear()
        self._follower = threading.Thread(
            target=self._follow, name="immudb-replica-follower", daemon=True
        )
        self._follower.start()

    def _stop_follower(self) -> None:
        self._stop_following.set()
        thread, self._follower = self._follower, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _follow(self) -> None:
        """Create a replica database for every new database of the primary (every 0.2 s).

        One session on the primary serves every poll: each login costs the primary a
        bcrypt check (about 66 ms of its CPU), so logging in per poll cost it about a
        third of a core for as long as the replica ran. A failed poll (primary down or
        restarting) drops the session; the next poll logs in again.
        """
        while not self._stop_following.is_set():
            # primary down or restarting: drop the session, try again
            with contextlib.suppress(Exception), self._primary_session() as session:
                while not self._stop_following.is_set():
                    self.replicate_all(session)
                    self._stop_following.wait(0.2)
            self._stop_following.wait(0.2)

    def _primary_session(self) -> contextlib.AbstractContextManager[_Session]:
        assert self.replica_of is not None
        return _admin_session(self.replica_of, self._primary_user, self._primary_password)

    def primary_databases(self, session: _Session | None = None) -> list[str]:
        """The primary's databases that a replica server replicates (all but the system ones);
        through ``session`` (an open admin session on the primary) if given."""
        from immudb.grpc import schema_pb2

        if session is None:
            with self._primary_session() as opened:
                return self.primary_databases(opened)
        stub, metadata = session
        reply = stub.DatabaseListV2(
            schema_pb2.DatabaseListRequestV2(), metadata=metadata, timeout=10.0
        )
        return [d.name for d in reply.databases if d.name not in ("systemdb", "defaultdb")]

    def replicate_all(self, session: _Session | None = None) -> list[str]:
        """Replicate every database of the primary not yet replicated; the new ones."""
        new = [name for name in self.primary_databases(session) if name not in self.replicated]
        for name in new:
            self.replicate(name)
        return new

    def replicate(self, database: str, *, sync_frequency_ms: int | None = None) -> None:
        """Make ``database`` here a replica of the primary's (and, if ``sync``, the
        primary's database synchronous with one ack). Idempotent.

        ``sync_frequency_ms`` sets the replica database's ``syncFrequency`` when it is
        created (immudb's default, 20 ms, otherwise).
        """
        from immudb.grpc import schema_pb2 as s

        assert self.replica_of is not None
        primary_host, _, primary_port = self.replica_of.rpartition(":")
        replication = s.ReplicationNullableSettings(
            replica=s.NullableBool(value=True),
            primaryDatabase=s.NullableString(value=database),
            primaryHost=s.NullableString(value=primary_host),
            primaryPort=s.NullableUint32(value=int(primary_port)),
            primaryUsername=s.NullableString(value=self._primary_user),
            primaryPassword=s.NullableString(value=self._primary_password),
            syncReplication=s.NullableBool(value=self.sync),
        )
        with _admin_session(
            self.replica_of, self._primary_user, self._primary_password, database
        ) as (primary, primary_metadata):
            current = primary.GetDatabaseSettingsV2(
                s.DatabaseSettingsRequest(), metadata=primary_metadata, timeout=10.0
            ).settings
            # What decides whether a replicated transaction fits must match the primary.
            settings = s.DatabaseNullableSettings(replicationSettings=replication)
            for name in ("maxKeyLen", "maxValueLen", "maxTxEntries", "excludeCommitTime"):
                if current.HasField(name):
                    getattr(settings, name).CopyFrom(getattr(current, name))
            if sync_frequency_ms is not None:
                settings.syncFrequency.value = sync_frequency_ms
            with _admin_session(self.address, "immudb", self.admin_password) as (stub, metadata):
                stub.CreateDatabaseV2(
                    s.CreateDatabaseRequest(name=database, settings=settings, ifNotExists=True),
                    metadata=metadata,
                    timeout=10.0,
                )
            if self.sync:
                _make_primary_synchronous(primary, primary_metadata, database, current)
        self.replicated.add(database)

    def _launch(self) -> None:
        cmd = self.command()
        if not self._given_dir:  # removed by a failed first start: start() again works
            self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUDB_")}
        env["HOME"] = str(self.data_dir)  # keep immudb from reading a stray ~/immudb.toml
        if self._admin_password is not None:  # never on the command line (ps shows it)
            env["IMMUDB_ADMIN_PASSWORD"] = self._admin_password
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        try:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            log.close()
        self.wait_ready()

    def _remove_data(self) -> None:
        """Remove the data folder and its log (only ever called when not ``keep_data``).

        Generated TLS material goes too, unless its folder was given.
        """
        shutil.rmtree(self.data_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.log_path.unlink()
        if self.tls_files is not None and not self._given_tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)
            self.tls_files = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self) -> None:
        """Wait until *our* server answers the gRPC health check, or fail.

        An answer alone is not enough: when the port is taken, the health check
        reaches whatever else listens there while our server fails to bind and
        exits. So the server counts as ready only when it answers and its process
        holds the listening socket (read from ``/proc``; where ``/proc`` is
        missing, when it answers and is still alive a moment later). If the
        process exits first, the error carries its log (the bind error).
        """
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                answered = self._health()
            except Exception as exc:  # grpc raises while the port is not yet bound
                answered = False
                last = exc
            if answered:
                owner = self._owns_listener()
                if owner is None:  # no /proc: the best we can do is "still alive"
                    time.sleep(0.5)
                    self._raise_if_exited()
                    return
                if owner:
                    return
                last = ImmudbStartError(f"another process answers on {self.address}")
            time.sleep(0.05)
        self._raise_if_exited()
        self.kill()
        raise ImmudbStartError(
            f"immudb did not answer on {self.address} within {self.startup_timeout}s"
            f" ({last!r}): {self.log_tail()}"
        )

    def _health(self) -> bool:
        """One ``Health`` call (over TLS, with the client certificate, when on)."""
        import grpc
        from google.protobuf import empty_pb2
        from immudb.grpc import schema_pb2_grpc

        if self.tls_files is not None:
            files = self.tls_files
            credentials = grpc.ssl_channel_credentials(
                root_certificates=files.ca.read_bytes(),
                private_key=files.client_key.read_bytes() if self.mtls else None,
                certificate_chain=files.client_cert.read_bytes() if self.mtls else None,
            )
            # A readiness check, not a client: dial the name the certificate carries
            # (a test server may hold a certificate for another name on purpose).
            from aethyr_immudb_recorder.tls import certificate_names

            names = certificate_names(files.server_cert)
            options = []
            if names and self.host not in names:
                options.append(("grpc.ssl_target_name_override", names[0]))
            channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            channel = grpc.insecure_channel(self.address)
        try:
            reply = schema_pb2_grpc.ImmuServiceStub(channel).Health(empty_pb2.Empty(), timeout=1)
            return bool(reply.status)
        finally:
            channel.close()

    def _raise_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ImmudbStartError(
                f"immudb exited with code {self.process.returncode}: {self.log_tail()}"
            )

    def _owns_listener(self) -> bool | None:
        """Whether our process holds a socket listening on our port (None: cannot tell)."""
        if self.process is None:
            return False
        listening = _listening_inodes(self.port)
        if listening is None:
            return None
        fd_dir = Path(f"/proc/{self.process.pid}/fd")
        try:
            targets = [os.readlink(fd_dir / name) for name in os.listdir(fd_dir)]
        except OSError:
            return None if not fd_dir.parent.exists() else False
        return any(t.startswith("socket:[") and t[8:-1] in listening for t in targets)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; remove temp data."""
        self._stop_follower()
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None
        if not self.keep_data:
            self._remove_data()

    def kill(self) -> None:
        """SIGKILL the server (a crash); the data dir is kept for a restart."""
        self._stop_follower()
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.process = None

    def restart(self) -> ImmudbServer:
        """Stop (gracefully) and start again on the same port and data dir."""
        keep = self.keep_data
        self.keep_data = True
        try:
            self.stop()
        finally:
            self.keep_data = keep
        return self.start()

    def __enter__(self) -> ImmudbServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ImmudbServer({self.address}, {state}, data_dir={str(self.data_dir)!r})"


def _make_primary_synchronous(stub: Any, metadata: Any, database: str, current: Any) -> None:
    """Switch the primary's ``database`` (its settings ``current``) to synchronous
    replication with one ack, with a ``syncFrequency`` of at least 1 ms.

    With ``syncFrequency`` 0 immudb's primary never exports a transaction to a
    synchronous replica, so no commit is ever acknowledged
    (:mod:`aethyr_immudb_recorder.sync_replication`); a new value takes effect only
    when the database is loaded again, so the database is reloaded then.
    """
    from immudb.grpc import schema_pb2 as s

    from aethyr_immudb_recorder.sync_replication import MIN_SYNC_FREQUENCY_MS, reload_database

    rs = current.replicationSettings
    too_fast = int(current.syncFrequency.value) < MIN_SYNC_FREQUENCY_MS
    if rs.syncReplication.value and rs.syncAcks.value >= 1 and not too_fast:
        return
    settings = s.DatabaseNullableSettings(
        replicationSettings=s.ReplicationNullableSettings(
            syncReplication=s.NullableBool(value=True),
            syncAcks=s.NullableUint32(value=max(1, int(rs.syncAcks.value))),
        )
    )
    if too_fast:
        settings.syncFrequency.value = MIN_SYNC_FREQUENCY_MS
    stub.UpdateDatabaseV2(
        s.UpdateDatabaseRequest(database=database, settings=settings),
        metadata=metadata,
        timeout=10.0,
    )
    if too_fast:
        reload_database(stub, metadata, database, timeout=10.0)


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the TCP sockets listening on ``port`` (Linux ``/proc/net``), or None."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the inode
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                found.add(fields[9])
    return found if readable else None


#: An open admin session: the gRPC stub and the metadata that carries its session id.
_Session = tuple[Any, tuple[tuple[str, str], ...]]


@contextlib.contextmanager
def _admin_session(
    address: str, user: str, password: str, database: str = "defaultdb"
) -> Iterator[_Session]:
    """``(stub, metadata)`` of a fresh immudb session; closed (with its channel) after."""
    import grpc
    from google.protobuf import empty_pb2
    from immudb.grpc import schema_pb2, schema_pb2_grpc

    channel = grpc.insecure_channel(address)
    try:
        stub: Any = schema_pb2_grpc.ImmuServiceStub(channel)
        response = stub.OpenSession(
            schema_pb2.OpenSessionRequest(
                username=user.encode(), password=password.encode(), databaseName=database
            ),
            timeout=10.0,
        )
        metadata = (("sessionid", response.sessionID),)
        try:
            yield stub, metadata
        finally:
            with contextlib.suppress(grpc.RpcError):
                stub.CloseSession(empty_pb2.Empty(), metadata=metadata, timeout=2.0)
    finally:
        channel.close()


@contextlib.contextmanager
def running_server(**kwargs: object) -> Iterator[ImmudbServer]:
    """``with running_server() as server:`` a started :class:`ImmudbServer`."""
    server = ImmudbServer(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.stop()


class _Stopped(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler of ``launcher start``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    # Ignore further signals first: the clean-up that follows must not be interrupted.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise _Stopped(signum)


def serve(server: ImmudbServer) -> int:
    """Run ``server`` in the foreground until SIGTERM or SIGINT; return the exit code.

    Either signal, at any moment (also while the server is still starting), stops
    the server and removes what was created for it (a temporary data dir and its
    log; a ``--dir`` given by the user is kept). A server that fails to start or
    exits on its own is an error (exit code 1) with the tail of its log.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, _raise_stopped)
    try:
        server.start()
        durability = (
            "synced: every commit is on disk"
            if server.synced
            else "UNSYNCED: a crash can lose the data dir"
        )
        login = (
            "user immudb, password from --admin-password-file"
            if server._admin_password is not None
            else "user immudb, password immudb"
        )
        transport = "mutual TLS" if server.mtls else "TLS" if server.tls else "plaintext"
        if server.replica_of is not None:
            mode = "synchronous" if server.sync else "asynchronous"
            durability += f"; {mode} replica of {server.replica_of}"
        print(
            f"immudb listening on {server.address} ({transport}; {login}), "
            f"data in {server.data_dir}, {durability}; Ctrl-C or SIGTERM stops it",
            flush=True,
        )
        if server.tls_files is not None:
            print(f"TLS files in {server.tls_files.directory}:", flush=True)
            print(server.tls_files.describe(), flush=True)
        while server.running:
            time.sleep(0.2)
        code = server.process.returncode if server.process is not None else None
        print(f"error: immudb exited with code {code}: {server.log_tail()}", file=sys.stderr)
        return 1
    except _Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        print(f"{name}: stopping immudb on {server.address}", file=sys.stderr, flush=True)
        return 0
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            server.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """``python -m aethyr_immudb_recorder.launcher build|path|start``."""
    parser = argparse.ArgumentParser(
        prog="python -m aethyr_immudb_recorder.launcher",
        description="Build immudb from the Go module proxy, or run a local server.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or reuse) the server binary; print its path")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    sub.add_parser("path", help="print where the binary is cached (does not build)")
    s = sub.add_parser("start", help="run a local server on 127.0.0.1 until interrupted")
    s.add_argument("--port", type=int, default=None, help="gRPC port (default: a free one)")
    s.add_argument("--dir", default=None, help="data dir (default: a temporary one, removed)")
    durability = s.add_mutually_exclusive_group()
    durability.add_argument(
        "--synced",
        dest="synced",
        action="store_true",
        default=True,
        help="fsync every commit (the default)",
    )
    durability.add_argument(
        "--unsynced",
        dest="synced",
        action="store_false",
        help="no fsync per commit: faster, but a crash can lose the data dir",
    )
    s.add_argument(
        "--tls-dir",
        metavar="D",
        default=None,
        help="serve TLS: write a throwaway CA, server and client certificate into D",
    )
    s.add_argument(
        "--mtls",
        action="store_true",
        help="mutual TLS: clients must present a certificate of the CA (implies TLS)",
    )
    s.add_argument(
        "--admin-password-file",
        metavar="FILE",
        default=None,
        help="the admin password for a new data dir (else $IMMUDB_ADMIN_PASSWORD, else immudb); "
        "handed to immudb through its environment, never its command line",
    )
    s.add_argument(
        "--replica-of",
        metavar="HOST:PORT",
        default=None,
        help="replicate every database of the immudb primary at HOST:PORT",
    )
    s.add_argument(
        "--sync",
        action="store_true",
        help="with --replica-of: synchronous replication (the primary's databases get "
        "syncReplication=true, syncAcks=1)",
    )
    s.add_argument(
        "--primary-user",
        default="immudb",
        help="with --replica-of: the primary's user (password: IMMUDB_PRIMARY_PASSWORD)",
    )
    args = parser.parse_args(argv)
    if args.command == "start" and args.sync and args.replica_of is None:
        parser.error("--sync needs --replica-of")
    try:
        if args.command == "build":
            print(build_immudb(force=args.force))
        elif args.command == "path":
            print(os.environ.get("IMMUDB_BIN") or cached_binary_path())
        else:
            tls_dir = args.tls_dir
            if args.mtls and tls_dir is None:
                print("error: --mtls needs --tls-dir D (for the certificates)", file=sys.stderr)
                return 2
            return serve(
                ImmudbServer(
                    port=args.port,
                    data_dir=args.dir,
                    synced=args.synced,
                    tls_dir=tls_dir,
                    mtls=args.mtls,
                    admin_password=_admin_password(args.admin_password_file),
                    replica_of=args.replica_of,
                    sync=args.sync,
                    primary_user=args.primary_user,
                    primary_password=os.environ.get("IMMUDB_PRIMARY_PASSWORD") or "immudb",
                )
            )
    except (ImmudbBuildError, ImmudbStartError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _admin_password(path: str | None) -> str | None:
    """The admin password from ``path`` (trailing newline stripped) or the environment."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise OSError(f"cannot read --admin-password-file {path}: {exc.strerror}") from None
        password = text.rstrip("\r\n")
        if not password:
            raise OSError(f"--admin-password-file {path} is empty")
        return password
    return os.environ.get("IMMUDB_ADMIN_PASSWORD") or None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
