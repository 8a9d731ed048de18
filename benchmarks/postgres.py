"""A throwaway PostgreSQL cluster for eventsourcing's own ``eventsourcing.postgres`` recorder.

The server comes from the Debian package (``apt-get install -y postgresql`` is
tried once when no ``initdb`` is found and we are root). :class:`TempPostgres`
runs ``initdb`` in a temporary directory, starts the server on 127.0.0.1 with a
free port (as the ``postgres`` user when we are root: PostgreSQL refuses to
run as root), creates the database, and on :meth:`TempPostgres.stop` shuts it
down and deletes the directory. Durability is left at PostgreSQL's defaults
(``fsync=on``, ``synchronous_commit=on``), so its figures include a flush to
disk per commit; :meth:`TempPostgres.start` reads both settings back from the
running server and refuses to go on if either is off.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from aethyr_immudb_recorder.launcher import free_port

_HOST = "127.0.0.1"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL could not be installed or started; the message says why."""


def _bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _install() -> None:
    """Install the Debian package (root only); raise PostgresUnavailableError on failure."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailableError("not installed, and installing needs root and apt-get")
    print("installing PostgreSQL with apt-get (one time)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailableError(f"{' '.join(cmd)} failed: {' | '.join(tail)}")


class TempPostgres:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, database: str = "bench") -> None:
        self.database = database
        self.port = 0
        self.user = "postgres"
        self.version = "unknown"
        self.durability: dict[str, str] = {}
        self._dir: Path | None = None
        self._bin: Path | None = None
        self._run_as: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        """The ``POSTGRES_*`` settings for ``PERSISTENCE_MODULE=eventsourcing.postgres``."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.database,
            "POSTGRES_HOST": _HOST,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": "",
            "POSTGRES_POOL_SIZE": "12",
        }

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [*self._run_as, *args], capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailableError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")
        return done.stdout

    def start(self) -> TempPostgres:
        """Install if needed, initdb, start, create the database (or PostgresUnavailableError)."""
        self._bin = _bin_dir()
        if self._bin is None:
            _install()
            self._bin = _bin_dir()
            if self._bin is None:
                raise PostgresUnavailableError("no initdb found after apt-get install")
        self._dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailableError("running as root but no postgres user") from exc
            os.chown(self._dir, owner.pw_uid, owner.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        data = self._dir / "data"
        bin_dir = self._bin
        self.version = self._run(str(bin_dir / "postgres"), "--version").strip()
        self._run(
            str(bin_dir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
            "-E", "UTF8",
        )  # fmt: skip
        self.port = free_port()
        options = (
            f"-p {self.port} -k {self._dir} -c listen_addresses={_HOST} -c max_connections=100"
        )
        log = self._dir / "server.log"
        self._run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"
        )
        self._run(
            str(bin_dir / "createdb"), "-h", _HOST, "-p", str(self.port), "-U", self.user,
            self.database,
        )  # fmt: skip
        self.durability = self._durability()
        return self

    def _durability(self) -> dict[str, str]:
        """``fsync`` and ``synchronous_commit`` as the server reports them (both must be on)."""
        import psycopg

        with psycopg.connect(
            host=_HOST, port=self.port, user=self.user, dbname=self.database
        ) as conn:
            found = {
                name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("fsync", "synchronous_commit")
            }
        if found != {"fsync": "on", "synchronous_commit": "on"}:
            raise PostgresUnavailableError(f"not at its default durability: {found}")
        return found

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self._dir is None or self._bin is None:
            return
        data = self._dir / "data"
        if (data / "postmaster.pid").exists():
            pg_ctl = str(self._bin / "pg_ctl")
            subprocess.run(
                [*self._run_as, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
