"""End to end on a real immudb: scripted actions -> outbox -> events in immudb -> the world
printed from a replay and from the projections equals the live world; migration into
immudb is idempotent."""

from __future__ import annotations

import io
import json

import pytest

from aethyr_domain import ServerConfig
from aethyr_domain.cli.entry import main
from aethyr_domain.cli.play import DEMO_SCRIPT
from aethyr_domain.game.migrate import migrate_to_event_store
from aethyr_domain.game.session import ScriptRunner, boot
from aethyr_domain.outbox.event_store import iter_notifications, open_world, topic_name
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, loads
from tests.game.outbox_support import outbox_sink

pytestmark = pytest.mark.immudb


def _config(server, database, tmp_path):
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store="immudb",
        immudb_address=server.host,
        immudb_port=server.port,
        immudb_database=database,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_poll_interval=0.05,
        outbox_drain_timeout=60.0,
    )


def test_dual_write_on_immudb_replay_equals_live(
    immudb_server, immudb_database, tmp_path, monkeypatch
):
    monkeypatch.setenv("SCRYPT_N", "1024")
    config = _config(immudb_server, immudb_database, tmp_path)
    manager = boot(config)
    try:
        ScriptRunner(manager, io.StringIO()).run(DEMO_SCRIPT.splitlines())
        sink = outbox_sink(manager.sink)
        assert sink.drain(60)
        assert sink.outbox.dead_letters() == []
    finally:
        manager.close()
    live = dumps(manager.state)
    app = open_world(config)
    try:
        assert dumps(rebuild_world_state(app)) == live
        types = {topic_name(n.topic) for n in iter_notifications(app)}
        assert {"GameObjectCreated", "ItemEquipped", "RoomExitAdded", "GameObjectDeleted"} <= types
    finally:
        app.close()
    # a second game process boots its live world from immudb
    again = boot(config)
    try:
        assert dumps(again.state) == live
    finally:
        again.close()


def test_cli_on_immudb_and_migration_twice(immudb_server, tmp_path, monkeypatch, capsys):
    from tests.immudb_harness import fresh_database

    monkeypatch.setenv("SCRYPT_N", "1024")
    monkeypatch.chdir(tmp_path)
    source_db, target_db = fresh_database("game"), fresh_database("mig")
    for key, value in {
        "EVENT_SOURCING_ENABLED": "1",
        "EVENT_STORE": "immudb",
        "IMMUDB_ADDRESS": immudb_server.host,
        "IMMUDB_PORT": str(immudb_server.port),
        "IMMUDB_DATABASE": source_db,
        "OUTBOX_PATH": str(tmp_path / "ob.sqlite"),
    }.items():
        monkeypatch.setenv(f"AETHYR_{key}", value)
    script = tmp_path / "s.txt"
    script.write_text(
        "@admin ann\nann: acroom east Yard\nann: acreate Armor\nbo: get armor\nbo: wear armor\n"
    )
    dump = tmp_path / "w.json"
    assert main(["play", "--script", str(script), "--dump-world", str(dump)]) == 0
    capsys.readouterr()
    assert main(["world", "--json", "--source", "replay"]) == 0
    assert capsys.readouterr().out == dump.read_text()
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store_health"] == "ok" and stats["outbox"]["backlog"] == 0
    assert stats["event_types"]["ItemEquipped"] == 1
    target = open_world(_config(immudb_server, target_db, tmp_path))
    try:
        first = migrate_to_event_store(target, loads(dump.read_text()))
        assert first.total > 0
        count = target.recorder.max_notification_id()
        assert migrate_to_event_store(target, loads(dump.read_text())).total == 0
        assert target.recorder.max_notification_id() == count
        assert dumps(rebuild_world_state(target)) == dump.read_text()
    finally:
        target.close()
