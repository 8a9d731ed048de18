"""The projections' aethyr-es commands, end to end on a store the game wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.world_dump import dumps
from tests.projections.scenario import ACTIONS, SETUP, play

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "sqlite",
        "AETHYR_SQLITE_PATH": str(tmp_path / "events.sqlite"),
        "AETHYR_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_world_schema_rebuild_history_and_time_travel(
    sqlite_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = ServerConfig.load(None)
    app = open_world(config, SCRYPT_N="1024")
    live = play(app, steps=SETUP)
    earlier, earlier_id = dumps(live), app.recorder.max_notification_id()
    play(app, live, steps=ACTIONS)
    head = app.recorder.max_notification_id()
    app.close()

    code, projected, _ = run(capsys, "world", "--json", "--source", "projection")
    assert code == 0 and projected == dumps(live)
    code, replayed, _ = run(capsys, "world", "--json", "--source", "replay")
    assert replayed == projected

    code, out, _ = run(capsys, "schema", "--json")
    schema = json.loads(out)
    assert schema["version"] == 2
    assert [m["version"] for m in schema["migrations"]] == [1, 2]
    assert set(schema["migrations"][0]) == {"version", "name", "applied_at", "checksum"}
    code, out, _ = run(capsys, "schema")
    assert "schema version 2 (generation 1)" in out

    code, out, _ = run(capsys, "rebuild", "--json")
    report = json.loads(out)
    assert (report["old_generation"], report["new_generation"]) == (1, 2)
    assert report["events"] == head
    code, rebuilt, _ = run(capsys, "world", "--json", "--source", "projection")
    assert rebuilt == projected  # byte for byte through world --json
    code, out, _ = run(capsys, "rebuild")
    assert "generation 2 -> 3" in out
    from aethyr_domain.read.projections.opening import open_view

    open_view(config).open_generation(7)  # what an interrupted rebuild leaves: "building"
    code, out, _ = run(capsys, "rebuild", "--cleanup", "--json")
    assert code == 0 and json.loads(out) == {"cleaned_up": [7]}
    code, out, _ = run(capsys, "rebuild", "--cleanup")
    assert "dropped generations left by interrupted rebuilds: none" in out
    assert open_view(config).generations() == {3: "active"}

    code, past, _ = run(capsys, "world", "--json", "--at", str(earlier_id))
    assert past == earlier
    code, _, err = run(capsys, "world", "--json", "--at", "last tuesday")
    assert code == 2 and "expected a notification" in err

    code, out, _ = run(capsys, "history", "bag", "--json")
    events = json.loads(out)["events"]
    assert events[0]["event"] == "GameObjectCreated" and events[0]["actor"] == "ada"
    code, out, _ = run(capsys, "history", "bag")
    assert "ItemAddedToInventory" in out
    code, _, err = run(capsys, "history", "ghost")
    assert code == 2 and "no events recorded for object 'ghost'" in err

    code, out, _ = run(capsys, "project", "--once")
    assert code == 0 and f"projection stopped at notification {head}" in out


def test_project_runs_as_a_separate_process_and_follows_live(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    config = ServerConfig.load(None)
    app = open_world(config, SCRYPT_N="1024")
    live = play(app, steps=SETUP)
    env = {**os.environ, **sqlite_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aethyr_domain.cli", "project", "--duration", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        play(app, live, steps=ACTIONS)  # written while the projection process runs
        head = app.recorder.max_notification_id()
        assert_process_caught_up(proc, config, app, head, live)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        app.close()
    assert proc.returncode == 0, err
    assert f"projection stopped at notification {head}" in out


@pytest.mark.immudb
def test_on_immudb_a_separate_project_process_follows_through_subscribe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests import immudb_harness

    srv = immudb_harness.server()
    env = {
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "immudb",
        "AETHYR_IMMUDB_ADDRESS": srv.host,
        "AETHYR_IMMUDB_PORT": str(srv.port),
        "AETHYR_IMMUDB_DATABASE": immudb_harness.fresh_database("cli"),
        "AETHYR_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = ServerConfig.load(None)
    app = open_world(config, SCRYPT_N="1024")
    live = play(app, steps=SETUP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aethyr_domain.cli", "project", "--duration", "90"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # let it catch up and subscribe, then write live
        play(app, live, steps=ACTIONS)
        head = app.recorder.max_notification_id()
        assert_process_caught_up(proc, config, app, head, live)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        app.close()
    assert proc.returncode == 0, err
    code, projected, _ = run(capsys, "world", "--json", "--source", "projection")
    assert code == 0 and projected == dumps(live)
    _code, out, _ = run(capsys, "schema", "--json")
    assert json.loads(out)["version"] == 2


def assert_process_caught_up(proc, config, app, head, live) -> None:
    """Wait (60 s at most) until the ``project`` process's view has applied ``head``,
    then check that the projected world prints exactly like the live one."""
    from aethyr_domain.read.projections.opening import open_view
    from aethyr_domain.read.projections.queries import world_dict
    from aethyr_domain.read.world_dump import canonical_json

    view = open_view(config)
    try:
        deadline = time.monotonic() + 60
        while not view.has_tracking_id(app.name, head):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the projection process did not catch up"
            time.sleep(0.1)
        assert canonical_json(view.query(world_dict)) == dumps(live)
    finally:
        view.close()
