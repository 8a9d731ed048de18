"""Secrets: passwords only as salted hashes (events, tables, outbox), credentials never in
logs, reprs, metrics or errors, and a warning when immudb accepts its default password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.manager import Manager
from aethyr_domain.outbox.delivery import deliver_pending
from aethyr_domain.outbox.event_sink import record_decision
from aethyr_domain.outbox.event_store import iter_events, iter_notifications, open_world
from aethyr_domain.outbox.queue import Outbox
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from tests.faults.support import immudb_config
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

PLAYER_PASSWORDS = ["Pl4intext-Bob!", "N3w-Secret-Pw"]
IMMUDB_SECRET = "S3cr3t-Immudb-Pw!"


class OutboxOnly:
    """The outbox half of the game's sink (no delivery thread): decided events stay on
    disk."""

    def __init__(self, outbox: Outbox, mapper) -> None:
        self.outbox, self.mapper = outbox, mapper

    def record(self, decision):
        record_decision(self.outbox, self.mapper, decision)

    def close(self):
        return None


def _files_containing(path: Path, secrets: list[str]) -> list[str]:
    hits = []
    for file in path.parent.glob(path.name + "*"):
        data = file.read_bytes()
        hits += [f"{s!r} in {file.name}" for s in secrets if s.encode() in data]
    return hits


def test_no_plaintext_password_in_outbox_events_or_tables(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = immudb_config(server(), fresh_database("secret"), tmp_path)
    outbox = Outbox(config.outbox_path)
    mapper = open_world(config.replace(event_store="popo")).mapper
    manager = Manager(config=config, sink=OutboxOnly(outbox, mapper))
    bob = manager.add_player("Bob", PLAYER_PASSWORDS[0]).id
    manager.set_password(bob, PLAYER_PASSWORDS[1], actor=bob)
    pending = [e.command for e in outbox.pending(10)]
    assert "CreatePlayer" in pending and "UpdatePlayerPassword" in pending
    assert _files_containing(Path(config.outbox_path), PLAYER_PASSWORDS) == []
    assert all(e.events and not e.fields for e in outbox.pending(10))
    app = open_world(config)
    try:
        deliver_pending(outbox, app)
        assert outbox.backlog() == 0 and outbox.dead_letters() == []
        assert app.check_password(bob, PLAYER_PASSWORDS[1])
        assert not app.check_password(bob, PLAYER_PASSWORDS[0])
        hashes = [e.password_hash for e in iter_events(app) if hasattr(e, "password_hash")]
        assert len(hashes) == 2 and all(h.startswith("scrypt$n=") for h in hashes)
        assert len(set(hashes)) == 2  # salted: a fresh salt per hash
        raw = b"".join(n.state for n in iter_notifications(app))
        assert all(p.encode() not in raw for p in PLAYER_PASSWORDS)
    finally:
        app.close()
        outbox.close()
    assert manager.check_password(bob, PLAYER_PASSWORDS[1])
    assert all(p not in caplog.text for p in PLAYER_PASSWORDS)


def test_immudb_credentials_never_in_errors_logs_reprs_or_metrics(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    srv = server()
    config = immudb_config(
        srv, fresh_database("cred"), tmp_path, immudb_password=IMMUDB_SECRET, retry_attempts=1
    )
    texts = [repr(config), str(config), str(config.redacted())]
    with pytest.raises(Exception) as info:
        app = open_world(config)
        try:
            app.recorder.max_notification_id()
        finally:
            recorder = app.recorder
            assert isinstance(recorder, ImmudbApplicationRecorder)
            texts += [repr(app.factory), repr(recorder.datastore)]
            app.close()
    texts += [str(info.value), repr(info.value), caplog.text, generate_latest(REGISTRY).decode()]
    assert "password" in str(info.value).lower() or "unauthenticated" in str(info.value).lower()
    for text in texts:
        assert IMMUDB_SECRET not in text


def test_warning_when_immudb_accepts_its_default_password(tmp_path, caplog):
    from aethyr_immudb_recorder import datastore

    srv = server()
    datastore._warned_default.discard(srv.address)
    caplog.set_level(logging.WARNING)
    app = open_world(immudb_config(srv, fresh_database("dflt"), tmp_path))
    try:
        app.recorder.max_notification_id()
    finally:
        app.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("default admin password" in w and srv.address in w for w in warnings)
    assert ServerConfig().immudb_password.reveal() == "immudb"  # the default it warns about


# -- issue 19: password files, the launcher's command line, the default password off loopback


def _spy_channels(monkeypatch) -> list[str]:
    """Record every gRPC channel opened (a connection attempt would need one)."""
    import grpc

    opened: list[str] = []
    for name in ("insecure_channel", "secure_channel"):
        real = getattr(grpc, name)

        def spy(target, *args, _real=real, **kwargs):
            opened.append(target)
            return _real(target, *args, **kwargs)

        monkeypatch.setattr(grpc, name, spy)
    return opened


def test_default_password_refused_off_loopback_before_any_connection(monkeypatch, tmp_path):
    from eventsourcing.utils import Environment

    from aethyr_immudb_recorder.datastore import ImmudbDatastore
    from aethyr_immudb_recorder.errors import ConfigurationError
    from aethyr_immudb_recorder.factory import ImmudbFactory
    from aethyr_immudb_recorder.settings import ImmudbSettings

    opened = _spy_channels(monkeypatch)
    far = {"IMMUDB_HOST": "192.0.2.1", "IMMUDB_PORT": "3322"}  # TEST-NET-1: never reached
    with pytest.raises(ConfigurationError, match=r"refusing to log in .* default password"):
        ImmudbFactory(Environment(env=far))
    # a datastore built from settings made by hand refuses before opening its channel
    datastore = ImmudbDatastore(ImmudbSettings(host="192.0.2.1"))
    with pytest.raises(ConfigurationError, match="IMMUDB_ALLOW_DEFAULT_PASSWORD"):
        datastore.run("probe", lambda session: None)
    datastore.close()
    # aethyr-es says so in one line, with the keys it reads
    from aethyr_domain.cli.entry import main

    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_IMMUDB_ADDRESS", "192.0.2.1")
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "outbox.sqlite"))
    assert main(["world", "--json"]) == 2
    assert opened == []
    # allowed explicitly, or with a real password, or on loopback: the settings pass
    assert ImmudbSettings.from_env(Environment(env={**far, "IMMUDB_ALLOW_DEFAULT_PASSWORD": "y"}))
    assert ImmudbSettings.from_env(Environment(env={**far, "IMMUDB_PASSWORD": IMMUDB_SECRET}))
    for host in ("127.0.0.1", "127.1.2.3", "localhost", "::1"):
        assert ImmudbSettings.from_env(Environment(env={"IMMUDB_HOST": host}))
    for host in ("10.0.0.1", "db.example.com", "0.0.0.0"):
        with pytest.raises(ConfigurationError):
            ImmudbSettings.from_env(Environment(env={"IMMUDB_HOST": host}))
    assert opened == []


def test_default_password_refusal_through_server_config(capsys, monkeypatch, tmp_path):
    from aethyr_domain.cli.entry import main

    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_IMMUDB_ADDRESS", "192.0.2.1")
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "outbox.sqlite"))
    opened = _spy_channels(monkeypatch)
    assert main(["world", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "default password" in err
    assert "AETHYR_IMMUDB_PASSWORD" in err and "ALLOW_DEFAULT_PASSWORD" in err
    assert opened == []
    env = ServerConfig(immudb_allow_default_password=True).eventsourcing_env()
    assert env["IMMUDB_ALLOW_DEFAULT_PASSWORD"] == "yes"


def test_password_file_trailing_newline_stripped_and_errors_hide_the_content(tmp_path):
    from eventsourcing.utils import Environment

    from aethyr_immudb_recorder.errors import ConfigurationError
    from aethyr_immudb_recorder.settings import ImmudbSettings

    secret = tmp_path / "immudb-password"
    secret.write_text(IMMUDB_SECRET + "\n")
    settings = ImmudbSettings.from_env(Environment(env={"IMMUDB_PASSWORD_FILE": str(secret)}))
    assert settings.password == IMMUDB_SECRET
    assert IMMUDB_SECRET not in repr(settings)
    secret.write_text(IMMUDB_SECRET + "\r\n")
    assert (
        ImmudbSettings.from_env(Environment(env={"IMMUDB_PASSWORD_FILE": str(secret)})).password
        == IMMUDB_SECRET
    )
    # prefixed keys (the application's name) win, as for every key
    named = Environment(name="World", env={"WORLD_IMMUDB_PASSWORD_FILE": str(secret)})
    assert ImmudbSettings.from_env(named).password == IMMUDB_SECRET
    cases = {
        "missing": {"IMMUDB_PASSWORD_FILE": str(tmp_path / "nope")},
        "both": {"IMMUDB_PASSWORD_FILE": str(secret), "IMMUDB_PASSWORD": IMMUDB_SECRET},
        "empty": {"IMMUDB_PASSWORD_FILE": str(tmp_path / "empty")},
    }
    (tmp_path / "empty").write_text("\n")
    for name, env in cases.items():
        with pytest.raises(ConfigurationError) as info:
            ImmudbSettings.from_env(Environment(env=env))
        assert IMMUDB_SECRET not in str(info.value), name
        assert "IMMUDB_PASSWORD" in str(info.value), name


def test_password_file_logs_in_and_server_config_passes_the_path(tmp_path):
    """A server started with a real admin password (through its environment) and a
    client reading it from a file (AETHYR_IMMUDB_PASSWORD_FILE)."""
    from aethyr_immudb_recorder.launcher import ImmudbServer

    secret = tmp_path / "pw"
    secret.write_text(IMMUDB_SECRET + "\n")
    with ImmudbServer(synced=False, admin_password=IMMUDB_SECRET) as srv:
        assert srv.process is not None
        cmdline = Path(f"/proc/{srv.process.pid}/cmdline").read_bytes()
        assert IMMUDB_SECRET.encode() not in cmdline
        assert b"--admin-password" not in cmdline
        config = ServerConfig.load(
            environ={
                "AETHYR_EVENT_SOURCING_ENABLED": "1",
                "AETHYR_IMMUDB_ADDRESS": srv.host,
                "AETHYR_IMMUDB_PORT": str(srv.port),
                "AETHYR_IMMUDB_PASSWORD_FILE": str(secret),
                "AETHYR_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
            }
        )
        env = config.eventsourcing_env()
        assert env["IMMUDB_PASSWORD_FILE"] == str(secret) and "IMMUDB_PASSWORD" not in env
        app = open_world(config)
        try:
            assert app.recorder.max_notification_id() in (None, 0)
        finally:
            app.close()
        # the factory default no longer logs in
        with pytest.raises(Exception, match=r"credentials|password"):
            app = open_world(config.replace(immudb_password_file="", retry_attempts=0))
            try:
                app.recorder.max_notification_id()
            finally:
                app.close()


def test_launcher_refuses_a_password_on_the_command_line():
    from aethyr_immudb_recorder.launcher import ImmudbServer

    with pytest.raises(ValueError, match="command line"):
        ImmudbServer(extra_args=("--admin-password", IMMUDB_SECRET))
    with pytest.raises(ValueError, match="command line"):
        ImmudbServer(extra_args=(f"--admin-password={IMMUDB_SECRET}",))


def test_launcher_start_reads_the_admin_password_from_a_file(tmp_path):
    """``launcher start --admin-password-file``: the server's command line (what ps
    shows) carries neither the password nor the flag."""
    import os
    import signal
    import subprocess
    import sys
    import time

    secret = tmp_path / "admin-pw"
    secret.write_text(IMMUDB_SECRET + "\n")
    server()  # the binary exists (skip or fail like every immudb test)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aethyr_immudb_recorder.launcher",
            "start",
            "--dir",
            str(tmp_path / "data"),
            "--admin-password-file",
            str(secret),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert "immudb listening" in line and IMMUDB_SECRET not in line
        launcher_cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert IMMUDB_SECRET.encode() not in launcher_cmdline
        deadline = time.monotonic() + 5
        children: list[str] = []
        while not children and time.monotonic() < deadline:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            time.sleep(0.05)
        assert children, "the launcher has no server process"
        for pid in children:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"immudb" in cmdline and b"--dir" in cmdline
            assert IMMUDB_SECRET.encode() not in cmdline and b"--admin-password" not in cmdline
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert IMMUDB_SECRET not in out + err


def test_tls_key_never_in_reprs_or_errors(tmp_path):
    from eventsourcing.utils import Environment

    from aethyr_immudb_recorder.settings import ImmudbSettings
    from aethyr_immudb_recorder.tls import generate_tls_files

    files = generate_tls_files(tmp_path / "tls")
    env = {
        "IMMUDB_TLS_CA": str(files.ca),
        "IMMUDB_TLS_CERT": str(files.client_cert),
        "IMMUDB_TLS_KEY": str(files.client_key),
    }
    settings = ImmudbSettings.from_env(Environment(env=env))
    key = files.client_key.read_text()
    assert settings.tls_key is not None and "PRIVATE KEY" in key
    assert "PRIVATE KEY" not in repr(settings) and key not in repr(settings)
    assert oct(files.client_key.stat().st_mode & 0o777) == "0o600"
    assert oct(files.server_key.stat().st_mode & 0o777) == "0o600"
