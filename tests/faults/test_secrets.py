"""Secrets: passwords only as salted hashes (events, tables, outbox), credentials never in
logs, reprs, metrics or errors, and a warning when immudb accepts its default password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest

from aethyr_domain.config import ServerConfig
from aethyr_domain.delivery import deliver_pending
from aethyr_domain.event_sink import record_decision
from aethyr_domain.event_store import iter_events, iter_notifications, open_world
from aethyr_domain.manager import Manager
from aethyr_domain.outbox import Outbox
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
            texts += [repr(app.factory), repr(app.recorder.datastore)]
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
