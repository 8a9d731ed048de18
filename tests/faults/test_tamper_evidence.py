"""Tamper evidence: ``aethyr-es verify`` against immudb's proofs and a trusted state file.

A clean store verifies (exit 0) and the trusted state moves forward; the same
configuration pointed at a server whose history differs (a fresh data dir under the
same database name, once shorter and once longer than the trusted state) exits 1 and
names the inconsistency; the original server still verifies afterwards.
"""

from __future__ import annotations

import json

import pytest
from eventsourcing.persistence import StoredEvent

from aethyr_domain.cli.entry import main
from aethyr_domain.commands import CreateRoom, UpdateRoomDescription
from aethyr_domain.outbox.event_store import open_world
from aethyr_immudb_recorder.keys import WHOLE, encode_record
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.verification import TamperedRowError, compare_blob
from tests.faults.support import immudb_config, write_config_file

pytestmark = pytest.mark.immudb


def _write(config, prefix: str, rooms: int, descriptions: int = 1) -> None:
    app = open_world(config)
    try:
        for r in range(rooms):
            app.handle(CreateRoom(f"{prefix}-{r}", f"Room {r}", "start"))
            for d in range(descriptions):
                app.handle(UpdateRoomDescription(f"{prefix}-{r}", f"{prefix} v{d}"))
    finally:
        app.close()


def _verify(config_file, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["verify", "--config", str(config_file), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_verify_clean_store_then_detect_a_different_history(tmp_path, capsys):
    data_a, data_b, data_c = (tmp_path / n for n in ("a", "b", "c"))
    server = ImmudbServer(data_dir=data_a, synced=False).start()
    port = server.port
    try:
        config = immudb_config(server, "aethyr", tmp_path)
        config_file = write_config_file(config, tmp_path / "aethyr.toml")
        _write(config, "room", rooms=5, descriptions=2)

        code, out, err = _verify(config_file, capsys)
        assert code == 0, err
        assert "verified 20 event row(s) of the whole log" in out
        assert "first use" in out
        state = json.loads((tmp_path / "immudb-state.json").read_text())
        (entry,) = state["states"].values()
        first_tx = entry["tx_id"]
        assert entry["database"] == "aethyr" and len(entry["tx_hash"]) == 64

        _write(config, "more", rooms=2)
        code, out, err = _verify(config_file, capsys, "--aggregate", "room-3")
        assert code == 0, err
        assert "verified 4 event row(s) of aggregate 'room-3'" in out
        assert f"history extends the trusted tx {first_tx}" in out
        trusted_tx = json.loads((tmp_path / "immudb-state.json").read_text())["states"]
        (trusted,) = trusted_tx.values()
        assert trusted["tx_id"] > first_tx
        server.stop()

        # The same configuration, a fresh data dir: a shorter, different history.
        server = ImmudbServer(data_dir=data_b, port=port, synced=False).start()
        _write(config, "fake", rooms=1)
        code, out, err = _verify(config_file, capsys)
        assert code == 1
        assert "InconsistentHistoryError" in err
        assert f"before the trusted state at tx {trusted['tx_id']}" in err
        assert "truncated or replaced" in err
        server.stop()

        # A longer, different history: the consistency (dual) proof fails.
        server = ImmudbServer(data_dir=data_c, port=port, synced=False).start()
        _write(config, "fake", rooms=12, descriptions=2)
        code, out, err = _verify(config_file, capsys, "--aggregate", "fake-0")
        assert code == 1
        assert "does not extend the trusted state" in err and "consistency proof" in err
        server.stop()

        # The failures left the trusted state alone: the real server still verifies.
        after = json.loads((tmp_path / "immudb-state.json").read_text())["states"]
        assert list(after.values()) == [trusted]
        server = ImmudbServer(data_dir=data_a, port=port, synced=False).start()
        code, out, err = _verify(config_file, capsys)
        assert code == 0, err
        assert "verified 26 event row(s)" in out
    finally:
        server.stop()
        for d in (data_a, data_b, data_c):
            ImmudbServer(data_dir=d).stop()


def test_verify_refuses_other_stores(tmp_path, capsys):
    config_file = tmp_path / "c.toml"
    config_file.write_text('event_store = "sqlite"\n')
    assert main(["verify", "--config", str(config_file)]) == 2
    assert "verify needs event_store = immudb" in capsys.readouterr().err


def test_a_blob_that_differs_from_its_proven_value_is_named():
    event = StoredEvent("r\u00e9", 2, "t:X", b'{"a":1}')
    body = encode_record(7, event, "r\u00e9", False)
    value = WHOLE + body
    (record,) = compare_blob(b"k", 9, value, value)
    assert (record.notification_id, record.originator_id, record.state) == (
        7,
        "r\u00e9",
        b'{"a":1}',
    )
    tampered = WHOLE + encode_record(
        7, StoredEvent("r\u00e9", 2, "t:X", b'{"a":2}'), "r\u00e9", False
    )
    with pytest.raises(
        TamperedRowError, match=r"notification ids 7-7 .*'r\u00e9'.*version 2.*tx 9"
    ):
        compare_blob(b"k", 9, tampered, value)
    with pytest.raises(TamperedRowError, match="cannot be decoded"):
        compare_blob(b"k", 9, WHOLE + b"\x00", WHOLE + b"\x00")
