"""``world --at TX`` and ``history``'s positions: immudb transaction ids on immudb,
notification ids elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aethyr_domain.application import World
from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.history import object_history
from aethyr_domain.read.log_positions import (
    current_transaction_id,
    notification_id_at,
    transaction_ids,
)
from aethyr_domain.read.world_dump import dumps
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, play


def test_on_popo_tx_is_the_notification_id_and_history_shows_it() -> None:
    world = World(env=FAST_ENV)
    play(world)
    assert notification_id_at(world, 7) == 7
    assert current_transaction_id(world) is None
    assert transaction_ids(world, [1, 2]) == {}
    with pytest.raises(ValueError, match="never negative"):
        notification_id_at(world, -1)
    entries = object_history(world, "bag")
    positions = [e.position for e in entries]
    known = [p for p in positions if p is not None]
    assert known == positions and known == sorted(known)
    assert all(e.tx is None for e in entries)
    for entry in entries:  # each position is the notification holding that event
        assert entry.position is not None
        notification = world.recorder.select_notifications(start=entry.position, limit=1)[0]
        assert notification.originator_id == "bag"
        assert notification.originator_version == entry.version
    assert f"#{positions[0]} " in entries[0].line()


@pytest.mark.immudb
def test_on_immudb_world_at_takes_an_immudb_transaction_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests import immudb_harness

    srv = immudb_harness.server()
    env = {
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "immudb",
        "AETHYR_IMMUDB_ADDRESS": srv.host,
        "AETHYR_IMMUDB_PORT": str(srv.port),
        "AETHYR_IMMUDB_DATABASE": immudb_harness.fresh_database("tx"),
        "AETHYR_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = open_world(ServerConfig.load(None), SCRYPT_N="1024")
    try:
        live = play(app, steps=SETUP)
        earlier = dumps(live)
        earlier_tx = current_transaction_id(app)
        earlier_id = app.recorder.max_notification_id()
        assert earlier_tx is not None and earlier_id is not None
        # The numberings differ (schema set-up took transactions), so the test
        # tells a transaction id from a notification id.
        assert earlier_tx != earlier_id
        assert notification_id_at(app, earlier_tx) == earlier_id
        assert notification_id_at(app, 0) == 0
        play(app, live, steps=ACTIONS)
        assert notification_id_at(app, 10**9) == app.recorder.max_notification_id()
        sword = object_history(app, "sword")
    finally:
        app.close()

    assert main(["world", "--json", "--at", str(earlier_tx)]) == 0
    assert capsys.readouterr().out == earlier
    assert main(["world", "--json", "--at", str(10**9)]) == 0
    assert capsys.readouterr().out == dumps(live)

    # history names the transaction of each event; the world at that transaction
    # has the sword, the world one transaction earlier does not.
    created = sword[0]
    assert created.event == "GameObjectCreated" and created.tx is not None
    txs = [e.tx for e in sword]
    assert all(t is not None for t in txs) and txs == sorted(txs)  # type: ignore[type-var]
    assert main(["world", "--json", "--at", str(created.tx)]) == 0
    ids = [o["id"] for o in json.loads(capsys.readouterr().out)["objects"]]
    assert "sword" in ids
    assert main(["world", "--json", "--at", str(created.tx - 1)]) == 0
    ids = [o["id"] for o in json.loads(capsys.readouterr().out)["objects"]]
    assert "sword" not in ids
    assert main(["history", "sword"]) == 0
    assert f"tx {created.tx}" in capsys.readouterr().out
    assert main(["history", "sword", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert [e["tx"] for e in events] == txs
