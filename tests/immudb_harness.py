"""One throwaway immudb server for the whole test session, shared by every test.

Tests (pytest functions and the library's unittest suites alike) call
:func:`server` to get it: the first call builds or reuses the binary and starts
the server through :mod:`aethyr_immudb_recorder.launcher`; ``tests/conftest.py``
stops it at the end of the session. :func:`fresh_database` gives each test a
new immudb database, so notification ids start at 1. At the very end,
:func:`reap_leftover_servers` kills any other immudb server the test process started
and left running (a test that failed before its clean-up, say).

When the server cannot be built or started, tests skip with the reason on a
developer's machine, but fail when ``AETHYR_REQUIRE_IMMUDB`` or ``CI`` is set
(the README's test command and CI set it): CI never skips immudb tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aethyr_immudb_recorder.launcher import (
    ImmudbBuildError,
    ImmudbServer,
    ImmudbStartError,
)

if TYPE_CHECKING:
    from immudb import ImmudbClient

_lock = threading.Lock()
_server: ImmudbServer | None = None
_failure: str | None = None
#: One logged-in admin client for :func:`fresh_database`, kept for the session: every
#: login costs the server a bcrypt check (about 66 ms of its CPU), once per database
#: otherwise.
_admin: ImmudbClient | None = None
_admin_lock = threading.Lock()

ADMIN_USER = "immudb"
ADMIN_PASSWORD = "immudb"  # the throwaway server's default admin password


def immudb_required() -> bool:
    """True where a missing immudb must fail the run rather than skip."""
    flags = (os.environ.get("AETHYR_REQUIRE_IMMUDB", ""), os.environ.get("CI", ""))
    return any(f.strip().lower() not in ("", "0", "false", "no") for f in flags)


def server() -> ImmudbServer:
    """The session's running immudb server (started on first use)."""
    global _server, _failure
    with _lock:
        if _server is None and _failure is None:
            candidate = ImmudbServer(synced=False)  # fast; durability is tested elsewhere
            try:
                _server = candidate.start()
            except (ImmudbBuildError, ImmudbStartError, OSError) as exc:
                candidate.stop()
                _failure = f"immudb server unavailable: {exc}"
        if _server is None:
            assert _failure is not None
            if immudb_required():
                pytest.fail(_failure, pytrace=False)
            pytest.skip(_failure)
        return _server


_tls_servers: dict[bool, ImmudbServer] = {}


def tls_server(*, mtls: bool = False) -> ImmudbServer:
    """The session's TLS server (``mtls``: the mutual-TLS one), started on first use.

    Its throwaway CA, server and client certificates are in ``tls_files``;
    :meth:`ImmudbServer.client_env` gives the recorder's settings for it.
    """
    server()  # skip or fail as the plain server does when immudb is unavailable
    with _lock:
        srv = _tls_servers.get(mtls)
        if srv is None:
            candidate = ImmudbServer(synced=False, tls=True, mtls=mtls)
            try:
                srv = candidate.start()
            except (ImmudbBuildError, ImmudbStartError, OSError) as exc:
                candidate.stop()
                pytest.fail(f"TLS immudb server unavailable: {exc}", pytrace=False)
            _tls_servers[mtls] = srv
        return srv


def stop() -> None:
    """Stop the session's servers, if any were started."""
    global _server
    _close_admin()
    with _lock:
        # Throwaway, unsynced servers whose data dir is removed: SIGKILL, then remove
        # the data. A graceful stop only made the session wait (3.3 s of a fast run,
        # per test process; 21.9 s once with the default 10 s per server), and
        # tests/test_launcher.py checks the graceful stop itself.
        servers = list(_tls_servers.values())
        if _server is not None:
            servers.append(_server)
        for srv in servers:
            srv.kill()
            srv.stop()  # the process is gone: this removes the temporary data dir
        _server = None
        _tls_servers.clear()


def _close_admin() -> None:
    global _admin
    with _admin_lock:
        if _admin is not None:
            _admin.channel.close()
            _admin = None


#: ``maxTxEntries`` of the test databases: enough for the library suites' 1000-event
#: batches plus tracking. immudb preallocates its transaction buffers by this limit
#: (``maxConcurrency`` of them): a database used with 10,000 held about 47 MB of the
#: server's memory, one with 1,024 about 6 MB, and faulting in and scanning that memory
#: for some 190 test databases was a good part of a fast run's system time.
TEST_MAX_TX_ENTRIES = 2_048


def fresh_database(prefix: str = "t", *, max_tx_entries: int = TEST_MAX_TX_ENTRIES) -> str:
    """Create a new, empty immudb database on the session's server; return its name.

    The database allows ``max_tx_entries`` entries per transaction
    (:data:`TEST_MAX_TX_ENTRIES` unless a test needs larger transactions: the
    recorder's own default is 10,000), and embeds values in its transaction log,
    as the databases the recorder creates do. One admin login serves the whole
    session (a new login for each database cost the server more CPU than the
    creation itself); should its token be refused, it logs in again once.
    """
    from immudb import ImmudbClient
    from immudb.datatypesv2 import DatabaseSettingsV2

    global _admin
    srv = server()
    name = f"{prefix}{uuid.uuid4().hex[:20]}"
    settings = DatabaseSettingsV2(maxTxEntries=max_tx_entries, embeddedValues=True)
    with _admin_lock:
        for attempt in (1, 2):
            if _admin is None:
                client = ImmudbClient(srv.address, timeout=30)
                try:
                    client.login(ADMIN_USER, ADMIN_PASSWORD)
                except BaseException:
                    client.channel.close()
                    raise
                _admin = client
            try:
                _admin.createDatabaseV2(name, settings, True)
            except Exception:
                _admin.channel.close()
                _admin = None
                if attempt == 2:
                    raise
            else:
                break
    return name


def leftover_servers() -> list[int]:
    """Process ids of immudb servers that this process started and that still run.

    Read from ``/proc`` (Linux): the children of this process whose executable is
    called ``immudb``; none where there is no ``/proc``.
    """
    me = os.getpid()
    found = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != me:  # fields: state, ppid, ...
                continue
            exe = Path(os.readlink(entry / "exe"))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, a zombie, or not ours to read
        if exe.name.startswith("immudb"):
            found.append(int(entry.name))
    return found


def _temporary_data_dir(pid: int) -> Path | None:
    """The ``--dir`` of server ``pid`` if the launcher made it (``<tmp>/immudb-*``)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        data_dir = Path(os.fsdecode(args[args.index(b"--dir") + 1]))
    except (OSError, ValueError, IndexError):
        return None
    made = data_dir.parent == Path(tempfile.gettempdir()) and data_dir.name.startswith("immudb-")
    return data_dir if made else None


def reap_leftover_servers() -> list[int]:
    """SIGKILL the :func:`leftover_servers`; their process ids.

    A data dir the launcher created for one of them (``<tmp>/immudb-*``) goes too, with
    its log, as :meth:`ImmudbServer.stop` would have removed it; a given data dir stays.
    """
    pids = leftover_servers()
    for pid in pids:
        data_dir = _temporary_data_dir(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                data_dir.with_name(f"{data_dir.name}.log").unlink()
    return pids
