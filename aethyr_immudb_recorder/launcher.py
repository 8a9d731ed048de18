"""Build and run a throwaway immudb server: for tests, benchmarks and manual work.

immudb is not packaged for Debian or PyPI, so the server is built from the Go
module proxy through a tiny wrapper module of our own (``immudb_server/``: a
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
it answers a health check, and stops it (SIGTERM, then SIGKILL if it hangs).
It can also be killed and restarted on the same data dir, for fault tests.

From the command line::

    python -m aethyr_immudb_recorder.launcher build        # build (or reuse) and print the path
    python -m aethyr_immudb_recorder.launcher start        # run a local server until Ctrl-C
    python -m aethyr_immudb_recorder.launcher start --port 3322 --dir ./immudb-data
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
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

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
    checkout = Path(__file__).resolve().parent.parent
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
    unless ``keep_data`` is true or the folder was given. ``kill`` and
    ``start`` again reuse the same port and data dir (crash/restart tests).
    Only loopback addresses are accepted.

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
        synced: bool = False,
        keep_data: bool = False,
        startup_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"ImmudbServer binds loopback only, not {host!r}")
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
            *self.extra_args,
        ]

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
        return self

    def _launch(self) -> None:
        cmd = self.command()
        if not self._given_dir:  # removed by a failed first start: start() again works
            self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUDB_")}
        env["HOME"] = str(self.data_dir)  # keep immudb from reading a stray ~/immudb.toml
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        try:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            log.close()
        self.wait_ready()

    def _remove_data(self) -> None:
        """Remove the data folder and its log (only ever called when not ``keep_data``)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self) -> None:
        """Poll the gRPC health check until it answers or the timeout passes."""
        from immudb import ImmudbClient

        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ImmudbStartError(
                    f"immudb exited with code {self.process.returncode}: {self.log_tail()}"
                )
            client = ImmudbClient(self.address, timeout=1)
            try:
                if client.healthCheck():
                    return
            except Exception as exc:  # grpc raises while the port is not yet bound
                last = exc
            finally:
                with contextlib.suppress(Exception):
                    client.channel.close()
            time.sleep(0.05)
        self.kill()
        raise ImmudbStartError(
            f"immudb did not answer on {self.address} within {self.startup_timeout}s"
            f" ({last!r}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; remove temp data."""
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


@contextlib.contextmanager
def running_server(**kwargs: object) -> Iterator[ImmudbServer]:
    """``with running_server() as server:`` a started :class:`ImmudbServer`."""
    server = ImmudbServer(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.stop()


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
    s.add_argument("--synced", action="store_true", help="fsync every commit")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build_immudb(force=args.force))
        elif args.command == "path":
            print(os.environ.get("IMMUDB_BIN") or cached_binary_path())
        else:
            server = ImmudbServer(port=args.port, data_dir=args.dir, synced=args.synced)
            server.start()
            print(
                f"immudb listening on {server.address} (user immudb, password immudb), "
                f"data in {server.data_dir}; Ctrl-C stops it",
                flush=True,
            )
            try:
                while server.running:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
    except (ImmudbBuildError, ImmudbStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
