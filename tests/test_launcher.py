"""The launcher: binary lookup, errors, and a server lifecycle (start, kill, restart)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from immudb import ImmudbClient

from aethyr_immudb_recorder import launcher
from aethyr_immudb_recorder.launcher import ImmudbBuildError, ImmudbServer


def test_immudb_bin_must_be_executable(monkeypatch, tmp_path):
    monkeypatch.setenv("IMMUDB_BIN", str(tmp_path / "missing"))
    with pytest.raises(ImmudbBuildError, match="IMMUDB_BIN"):
        launcher.build_immudb()


def test_cached_build_is_reused(immudb_server):
    first = launcher.build_immudb(quiet=True)
    mtime = first.stat().st_mtime_ns
    assert launcher.build_immudb(quiet=True) == first
    assert first.stat().st_mtime_ns == mtime


def test_cache_root_env_and_version(monkeypatch, tmp_path):
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path))
    monkeypatch.setenv("AETHYR_IMMUDB_VERSION", "v1.9.7")
    assert launcher.requested_version() == "1.9.7"
    assert launcher.cached_binary_path() == tmp_path / "1.9.7" / "immudb"


def test_build_without_go_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.delenv("IMMUDB_BIN", raising=False)
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImmudbBuildError, match="no 'go' on PATH"):
        launcher.build_immudb(quiet=True)


def test_build_of_unknown_version_fails_with_go_output(monkeypatch, tmp_path, immudb_server):
    monkeypatch.delenv("IMMUDB_BIN", raising=False)
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path))
    monkeypatch.setenv("AETHYR_IMMUDB_VERSION", "0.0.0-does-not-exist")
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    with pytest.raises(ImmudbBuildError, match=r"building immudb 0\.0\.0-does-not-exist failed"):
        launcher.build_immudb(quiet=True)
    assert not (tmp_path / "0.0.0-does-not-exist" / "immudb").exists()


def test_rejects_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        ImmudbServer(host="10.0.0.1")


def test_start_kill_restart_keeps_data(tmp_path, immudb_server):
    binary = launcher.build_immudb(quiet=True)
    # synced: an unsynced server can lose its tail on SIGKILL and refuse to restart
    server = ImmudbServer(data_dir=tmp_path / "data", binary=binary, synced=True)
    with server:
        assert server.running
        client = ImmudbClient(server.address, timeout=10)
        client.login("immudb", "immudb")
        client.set(b"k", b"v1")
        server.kill()
        assert not server.running
        server.start()
        client = ImmudbClient(server.address, timeout=10)
        client.login("immudb", "immudb")
        assert client.get(b"k").value == b"v1"
        server.restart()
        assert server.running
        assert "running" in repr(server)
    assert not server.running
    assert Path(tmp_path / "data").exists()  # a given data dir is kept


def test_cli_path_and_build(capsys, immudb_server):
    assert launcher.main(["path"]) == 0
    assert capsys.readouterr().out.strip().endswith("immudb")
    assert launcher.main(["build"]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()


def test_cli_reports_build_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("IMMUDB_BIN", str(tmp_path / "nope"))
    assert launcher.main(["build"]) == 1
    assert "error: IMMUDB_BIN" in capsys.readouterr().err


def _fake_go(tmp_path: Path, version: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    go = bindir / "go"
    go.write_text(f"#!/bin/sh\necho {version}\n")
    go.chmod(0o755)
    return bindir


def test_build_with_old_go_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.delenv("IMMUDB_BIN", raising=False)
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(_fake_go(tmp_path, "go1.19.8")))
    with pytest.raises(ImmudbBuildError, match=r"Go 1\.19 is too old"):
        launcher.build_immudb(quiet=True)


def test_unreadable_go_version_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.delenv("IMMUDB_BIN", raising=False)
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(_fake_go(tmp_path, "devel")))
    with pytest.raises(ImmudbBuildError, match="cannot read the Go version"):
        launcher.build_immudb(quiet=True)


def test_real_build_into_an_empty_cache_then_reuse(monkeypatch, tmp_path, capsys, immudb_server):
    """The pinned version builds from the Go module proxy into the cache, once."""
    monkeypatch.delenv("IMMUDB_BIN", raising=False)
    monkeypatch.setenv("AETHYR_IMMUDB_CACHE", str(tmp_path))
    built = launcher.build_immudb()
    assert built == tmp_path / launcher.PINNED_VERSION / "immudb"
    assert "building immudb" in capsys.readouterr().err
    mtime = built.stat().st_mtime_ns
    assert launcher.build_immudb() == built
    assert built.stat().st_mtime_ns == mtime
    with ImmudbServer(binary=built, synced=False) as server:
        client = ImmudbClient(server.address, timeout=10)
        assert client.healthCheck()


def test_server_that_exits_at_once_is_reported(tmp_path):
    fake = tmp_path / "immudb"
    fake.write_text("#!/bin/sh\necho 'bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = ImmudbServer(binary=fake, startup_timeout=5)
    with pytest.raises(launcher.ImmudbStartError, match="exited with code 3"):
        server.start()
    server.stop()


def test_server_that_never_answers_is_killed(tmp_path):
    fake = tmp_path / "immudb"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    server = ImmudbServer(binary=fake, startup_timeout=1)
    with pytest.raises(launcher.ImmudbStartError, match="did not answer"):
        server.start()
    assert not server.running
    server.stop()


def _fake_server(tmp_path: Path, body: str) -> Path:
    fake = tmp_path / "fake-immudb"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize(
    ("body", "error"),
    [("exit 3", "exited with code 3"), ("exec sleep 60", "did not answer")],
)
def test_failed_enter_removes_the_temporary_data_dir_it_made(tmp_path, body, error):
    server = ImmudbServer(binary=_fake_server(tmp_path, body), startup_timeout=1)
    assert server.data_dir.is_dir()
    with pytest.raises(launcher.ImmudbStartError, match=error), server:
        pytest.fail("the with block must not run")  # pragma: no cover
    assert not server.running
    assert not server.data_dir.exists()
    assert not server.log_path.exists()


def test_failed_start_without_a_binary_removes_the_temporary_data_dir(tmp_path):
    server = ImmudbServer(binary=tmp_path / "no-such-immudb")
    with pytest.raises(OSError):
        server.start()
    assert not server.data_dir.exists()
    assert not server.log_path.exists()


def test_failed_start_keeps_a_data_dir_the_caller_gave(tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    (given / "keep.me").write_text("data")
    server = ImmudbServer(data_dir=given, binary=_fake_server(tmp_path, "exit 3"))
    with pytest.raises(launcher.ImmudbStartError):
        server.start()
    assert (given / "keep.me").read_text() == "data"
    server.stop()
    assert (given / "keep.me").exists()


def test_start_after_a_failed_first_start_and_failed_restart_keeps_data(tmp_path, immudb_server):
    """After a failed first start the same object can still start (the folder is made
    again); a failed restart of a server that ran keeps its data until stop()."""
    binary = launcher.build_immudb(quiet=True)
    server = ImmudbServer(binary=_fake_server(tmp_path, "exit 3"), synced=True)
    with pytest.raises(launcher.ImmudbStartError):
        server.start()
    server.binary = binary
    try:
        server.start()
        assert ImmudbClient(server.address, timeout=10).healthCheck()
        server.kill()
        server.binary = _fake_server(tmp_path, "exit 4")
        with pytest.raises(launcher.ImmudbStartError, match="exited with code 4"):
            server.start()
        assert any(server.data_dir.iterdir())  # the data of the server that ran
    finally:
        server.stop()
    assert not server.data_dir.exists()


# --------------------------------------------------------------- ``launcher start`` as a process
ROOT = Path(__file__).resolve().parents[1]


def _pid_recording_binary(tmp_path: Path, real: Path | str) -> tuple[Path, Path]:
    """A wrapper that writes its pid to a file, then becomes ``real`` (same pid)."""
    pid_file = tmp_path / "server.pid"
    wrapper = tmp_path / "immudb-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, pid_file


def _start_cli(tmp_path: Path, binary: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """``python -m aethyr_immudb_recorder.launcher start ...`` with its own TMPDIR."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "IMMUDB_BIN": str(binary), "TMPDIR": str(tmpdir)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aethyr_immudb_recorder.launcher", "start", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, tmpdir


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _kill_leftover(pid_file: Path) -> None:
    """Kill the server this test started if the launcher left it running."""
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_default_server_is_synced_and_unsynced_is_explicit():
    assert ImmudbServer().synced is True
    assert "--synced=true" in ImmudbServer(binary="immudb").command()
    assert "--synced=false" in ImmudbServer(binary="immudb", synced=False).command()


def test_cli_start_on_a_port_in_use_fails_with_the_bind_error(tmp_path, immudb_server):
    """The health check must not mistake the server already on the port for ours."""
    binary, pid_file = _pid_recording_binary(tmp_path, launcher.build_immudb(quiet=True))
    proc, tmpdir = _start_cli(tmp_path, binary, "--port", str(immudb_server.port), "--unsynced")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        _kill_leftover(pid_file)
    assert proc.returncode == 1, (out, err)
    assert "listening" not in out
    assert "address already in use" in err.lower()
    assert list(tmpdir.iterdir()) == []  # the temporary data dir and its log are gone
    assert ImmudbClient(immudb_server.address, timeout=10).healthCheck()  # untouched


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_start_stops_the_server_and_cleans_up_on_signal(tmp_path, immudb_server, signum):
    binary, pid_file = _pid_recording_binary(tmp_path, launcher.build_immudb(quiet=True))
    proc, tmpdir = _start_cli(tmp_path, binary)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "immudb listening on 127.0.0.1:" in line, line
        assert "synced: every commit is on disk" in line  # synced by default
        port = int(line.split("127.0.0.1:", 1)[1].split()[0])
        server_pid = int(pid_file.read_text())
        assert _alive(server_pid) and _port_open(port)
        assert any(tmpdir.iterdir())
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert _wait_for(lambda: not _alive(server_pid), 10), "immudb outlived the launcher"
        assert not _port_open(port)
        assert list(tmpdir.iterdir()) == []
    finally:
        proc.kill()
        _kill_leftover(pid_file)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_start_signal_while_the_server_starts_cleans_up(tmp_path, signum):
    """A signal before the server answers: no orphan, no leftover dir, no traceback."""
    pid_file = tmp_path / "server.pid"
    fake = _fake_server(tmp_path, f'echo $$ > "{pid_file}"\nexec sleep 60')
    proc, tmpdir = _start_cli(tmp_path, fake)
    try:
        assert _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        server_pid = int(pid_file.read_text())
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert _wait_for(lambda: not _alive(server_pid), 10), "the server outlived the launcher"
        assert list(tmpdir.iterdir()) == []
    finally:
        proc.kill()
        _kill_leftover(pid_file)


def test_cache_root_in_a_source_checkout_is_its_ignored_cache(monkeypatch):
    """From a checkout the binary is cached in the checkout's own ``.cache/immudb``
    (the launcher now sits one package deeper: ``aethyr_immudb_recorder/launcher/``)."""
    monkeypatch.delenv("AETHYR_IMMUDB_CACHE", raising=False)
    checkout = Path(launcher.__file__).resolve().parents[2]
    assert (checkout / "pyproject.toml").is_file()
    assert launcher.cache_root() == checkout / ".cache" / "immudb"


def test_go_wrapper_module_ships_as_package_data():
    """Every file of the Go wrapper module is listed in pyproject's package-data
    (a wheel without them could not build the server)."""
    import tomllib

    from aethyr_immudb_recorder.launcher import server

    package = Path(server.__file__).resolve().parents[1]
    wrapper = package / "launcher" / "immudb_server"
    files = sorted(p.relative_to(package).as_posix() for p in wrapper.iterdir())
    assert files == [
        "launcher/immudb_server/go.mod",
        "launcher/immudb_server/go.sum",
        "launcher/immudb_server/main.go",
    ]
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["aethyr_immudb_recorder"]
    assert set(files) <= set(shipped)


def test_python_dash_m_launcher_runs_the_command_line(tmp_path):
    """``python -m aethyr_immudb_recorder.launcher`` (the package's ``__main__``)."""
    env = {**os.environ, "IMMUDB_BIN": str(tmp_path / "nope")}
    out = subprocess.run(
        [sys.executable, "-m", "aethyr_immudb_recorder.launcher", "path"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == str(tmp_path / "nope")
    usage = subprocess.run(
        [sys.executable, "-m", "aethyr_immudb_recorder.launcher", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for command in ("build", "path", "start"):
        assert command in usage.stdout
