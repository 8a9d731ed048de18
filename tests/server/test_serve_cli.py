"""``aethyr-es serve`` as a process: SIGTERM tells the players, drains the outbox,
releases the writer lease and exits 0; ``migrate --from-storage`` imports the flag-off
world with its password hashes, idempotently and atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.server import SHUTDOWN_MESSAGE
from aethyr_domain.game.session import boot
from aethyr_domain.game.storage import WorldStorage, load_aggregates
from aethyr_domain.read.world_dump import dumps
from tests.game.outbox_support import outbox_sink
from tests.server.support import Client

ROOT = Path(__file__).resolve().parents[2]


def start_serve(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], int]:
    """Start ``aethyr-es serve`` on a free port in ``tmp_path`` with the ``AETHYR_*``
    keys ``env``; the process and its port, once it is serving."""
    return start_serve_with(tmp_path, env)


def start_serve_with(
    tmp_path: Path, env: Mapping[str, str], *, new_session: bool = False
) -> tuple[subprocess.Popen[str], int]:
    """:func:`start_serve` with the keys as a mapping; ``new_session`` starts ``serve``
    in a process group of its own (as a service manager does), so a test can signal
    the whole group."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "aethyr_domain.cli", "serve", "--port", "0"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        assert process.stderr is not None
        raise AssertionError(f"serve did not start: {line!r} {process.stderr.read()!r}")
    return process, int(line.rsplit(":", 1)[1])


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


ON_SQLITE = {
    "AETHYR_EVENT_SOURCING_ENABLED": "1",
    "AETHYR_EVENT_STORE": "sqlite",
    "AETHYR_PROJECTIONS_ENABLED": "0",
    "AETHYR_OUTBOX_POLL_INTERVAL": "0.05",
}


def test_sigterm_drains_the_outbox_releases_the_lease_and_exits_0(tmp_path):
    process, port = start_serve(tmp_path, **ON_SQLITE)
    client = Client(port)
    client.login_new("Ann", "anns-password")
    client.do("inventory")
    code, err = stop(process)
    client.expect(SHUTDOWN_MESSAGE)
    assert client.closed_by_server()
    assert code == 0, err
    assert "Traceback" not in err, err
    # everything reached the store, and the lease is free: a new writer starts at once
    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "aethyr-events.sqlite"),
        outbox_path=str(tmp_path / "aethyr-outbox.sqlite"),
        projections_enabled=False,
        outbox_drain_timeout=0.0,
        writer_lease_timeout=600.0,  # a held lease would refuse this boot
    )
    manager = boot(config)
    try:
        assert outbox_sink(manager.sink).backlog() == 0
        assert manager.state.find_player_by_name("Ann") is not None
    finally:
        manager.close()


def test_sigterm_with_the_flag_off_keeps_the_world(tmp_path):
    process, port = start_serve(tmp_path)
    client = Client(port)
    client.login_new("Bea", "beas-password")
    code, err = stop(process)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aethyr-world.sqlite"]
    process, port = start_serve(tmp_path)
    again = Client(port)
    again.login("Bea", "beas-password")
    assert stop(process)[0] == 0


def test_a_second_writer_is_refused_with_exit_2(tmp_path):
    process, _port = start_serve(tmp_path, **ON_SQLITE)
    try:
        environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **ON_SQLITE}
        second = subprocess.run(
            [sys.executable, "-m", "aethyr_domain.cli", "serve", "--port", "0"],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "lease" in second.stderr
    finally:
        assert stop(process)[0] == 0


def _storage_world(tmp_path: Path) -> tuple[str, str]:
    """A flag-off world in storage with a player; its dump and the player's hash."""
    config = ServerConfig(storage_path=str(tmp_path / "world.sqlite"))
    manager = boot(config)
    try:
        player = manager.add_player("Ann", "anns-password")
        manager.set_admin(player.id, True)
        manager.create_room("Hall", "A hall.", room_id="hall")
        manager.link_rooms(config.start_room, "north", "hall", actor=player.id)
        return dumps(manager.state), manager.password_hash(player.id)
    finally:
        manager.close()


def test_migrate_from_storage_keeps_hashes_and_is_idempotent(tmp_path, monkeypatch, capsys):
    before, stored_hash = _storage_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_PROJECTIONS_ENABLED", "0")
    assert main(["migrate", "--from-storage", "world.sqlite"]) == 0
    first = capsys.readouterr().out
    assert "0 object(s) already present" in first
    assert main(["migrate", "--from-storage", "world.sqlite"]) == 0
    assert "imported world.sqlite: 0 command(s)" in capsys.readouterr().out
    assert main(["world", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(before)
    manager = boot(ServerConfig.load())
    try:
        ann = manager.state.find_player_by_name("Ann")
        assert ann is not None
        pid = ann.id
        assert manager.password_hash(pid) == stored_hash  # the same salted hash
    finally:
        manager.close()


def test_migrate_from_storage_refuses_a_bad_storage_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    _storage_world(tmp_path)
    storage = WorldStorage(tmp_path / "world.sqlite")
    aggregates = load_aggregates(tmp_path / "world.sqlite")
    hall = aggregates["hall"]
    hall.attributes = {"weight": 2**70}  # a value the commands refuse
    storage.save([hall])
    storage.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    assert main(["migrate", "--from-storage", "world.sqlite"]) == 2
    assert "hall" in capsys.readouterr().err
    assert main(["stats", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 0  # checked whole first: nothing was written


@pytest.mark.parametrize("argv", [["migrate"], ["migrate", "a.json", "--from-storage", "b"]])
def test_migrate_needs_exactly_one_source(argv, capsys):
    assert main(argv) == 2
    assert "one of them" in capsys.readouterr().err


def test_migrate_from_a_missing_storage_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    assert main(["migrate", "--from-storage", "nope.sqlite"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    process, port = start_serve(tmp_path)
    try:
        environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
        second = subprocess.run(
            [sys.executable, "-m", "aethyr_domain.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env={**environ, "AETHYR_STORAGE_PATH": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stderr.startswith(f"aethyr-es: cannot listen on 127.0.0.1:{port}")
        assert "Traceback" not in second.stderr
    finally:
        assert stop(process)[0] == 0


def test_migrate_from_storage_keeps_a_legacy_md5_hash(tmp_path, monkeypatch, capsys):
    import hashlib

    from aethyr_domain import commands

    digest = hashlib.md5(b"old-secret").hexdigest()
    config = ServerConfig(storage_path=str(tmp_path / "world.sqlite"))
    manager = boot(config)
    try:
        manager._change(
            commands.ImportLegacyPlayer, "system", id="old-1", name="Olga", password_md5=digest
        )
        manager.move_object("old-1", manager.ensure_start_room().id, actor="system")
    finally:
        manager.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_PROJECTIONS_ENABLED", "0")
    assert main(["migrate", "--from-storage", "world.sqlite"]) == 0
    capsys.readouterr()
    migrated = boot(ServerConfig.load())
    try:
        assert migrated.password_hash("old-1") == f"md5${digest}"  # upgraded at next login
    finally:
        migrated.close()


def test_serve_serves_metrics_while_it_runs(tmp_path):
    """``serve`` is a long-running process: with ``metrics_enabled`` it serves
    ``/metrics`` (scraped over HTTP while players act), like ``play`` and ``project``."""
    from aethyr_immudb_recorder.launcher import free_port
    from tests.scrape import names, value, wait_for

    metrics_port = free_port()
    process, port = start_serve(
        tmp_path,
        **ON_SQLITE,
        AETHYR_METRICS_ENABLED="1",
        AETHYR_METRICS_PORT=str(metrics_port),
    )
    try:
        client = Client(port)
        client.login_new("Ann", "anns-password")
        client.do("inventory")
        samples = wait_for(
            metrics_port,
            lambda s: (value(s, "aethyr_outbox_delivered_total") or 0) >= 1,
            what="the new player's commands delivered",
        )
        info = {"command": "serve", "event_sourcing": "true", "event_store": "sqlite"}
        assert value(samples, "aethyr_info", **info) == 1
        assert "aethyr_outbox_backlog" in names(samples)
        # the delivery child (delivery_process, the default) serves its own metrics two
        # ports up: its delivery counters and errors, the store client's series
        child = wait_for(
            metrics_port + 2,
            lambda s: (value(s, "aethyr_outbox_delivered_total") or 0) >= 1,
            what="the delivery child's metrics",
        )
        assert value(child, "aethyr_outbox_delivery_errors_total") == 0
        assert "aethyr_outbox_delivery_errors_total" in names(child)
    finally:
        code, err = stop(process)
    assert code == 0, err
