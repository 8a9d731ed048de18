"""With ``event_sourcing_enabled`` off, no ``aethyr-es`` command opens, creates or
connects to an event store, an outbox or a read model.

One subprocess per command (a fresh interpreter, so ``sys.modules`` tells what the
command loaded): it must create no file, and import none of the store modules:
eventsourcing's recorder modules, the immudb recorder, the outbox, the event store,
delivery, and the read-model views. (The game may import eventsourcing's *domain*
modules - its rules are shared with the aggregates - but never a store.) ``demo`` is
the documented exception: it always runs on its own in-memory store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aethyr_immudb_recorder.launcher import free_port

STORE_MODULES = (
    "eventsourcing.sqlite",
    "eventsourcing.popo",
    "eventsourcing.postgres",
    "aethyr_immudb_recorder",
    "aethyr_domain.outbox.queue",
    "aethyr_domain.outbox.event_store",
    "aethyr_domain.outbox.event_sink",
    "aethyr_domain.outbox.delivery",
    "aethyr_domain.read.projections.view",
    "aethyr_domain.read.projections.memory_view",
    "aethyr_domain.read.projections.sqlite_view",
    "aethyr_domain.read.projections.immudb_view",
    "aethyr_domain.read.projections.runner",
    "aethyr_domain.read.projections.rebuild",
)

CHILD = """
import json, sys
from aethyr_domain.cli.entry import main
code = main(sys.argv[1:])
stores = sorted(
    m for m in sys.modules
    if any(m == s or m.startswith(s + ".") for s in json.loads(STORES))
)
print("STORE-MODULES " + json.dumps(stores), file=sys.stderr)
sys.exit(code)
""".replace("STORES", repr(json.dumps(STORE_MODULES)))

DUMP = {
    "format": "aethyr-world/1",
    "objects": [
        {
            "id": "start-room",
            "name": "The Starting Room",
            "generic": "room",
            "container": None,
            "deleted": False,
            "attributes": {},
        }
    ],
    "inventories": {},
    "equipment": {},
    "players": {},
    "rooms": {"start-room": {"description": "A room.", "exits": {}}},
}

#: (argv, expected exit code): the store commands refuse, the others work without one.
COMMANDS = [
    (["play", "--script", "script.txt"], 0),
    (["stats"], 0),
    (["stats", "--json"], 0),
    (["world", "--json"], 2),
    (["world", "--json", "--source", "live"], 2),
    (["world", "--json", "--source", "projection"], 2),
    (["world", "--json", "--at", "1"], 2),
    (["migrate", "dump.json"], 2),
    (["verify"], 2),  # (on sqlite: "needs event_store = immudb", also exit 2)
    (["schema"], 2),
    (["rebuild"], 2),
    (["rebuild", "--cleanup"], 2),
    (["project", "--once"], 2),
    (["project", "--duration", "0.2"], 2),
    (["history", "start-room"], 2),
]


def run_flag_off(tmp_path: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.txt").write_text("@admin ann\nann: acreate Sword\nann: get sword\n")
    (tmp_path / "dump.json").write_text(json.dumps(DUMP))
    environ = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "AETHYR_EVENT_SOURCING_ENABLED": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def loaded_store_modules(stderr: str) -> list[str]:
    line = next(x for x in stderr.splitlines() if x.startswith("STORE-MODULES "))
    loaded: list[str] = json.loads(line.removeprefix("STORE-MODULES "))
    return loaded


@pytest.mark.parametrize("store", ["sqlite", "immudb"])
@pytest.mark.parametrize(("argv", "code"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_with_the_flag_off_no_command_touches_a_store(tmp_path, store, argv, code):
    before = {"script.txt", "dump.json"}
    result = run_flag_off(tmp_path, argv, AETHYR_EVENT_STORE=store)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert loaded_store_modules(result.stderr) == []
    created = sorted(p.name for p in tmp_path.iterdir() if p.name not in before)
    # no aethyr-events.sqlite, outbox, state file or read model; `play` keeps the world
    # in the game's own storage (and only there)
    assert created == (["aethyr-world.sqlite"] if argv[0] == "play" else [])
    if code == 2 and not (argv == ["verify"] and store == "sqlite"):
        assert "event sourcing is disabled" in result.stderr


def test_stats_with_the_flag_off_reports_it(tmp_path):
    result = run_flag_off(tmp_path, ["stats", "--json"], AETHYR_EVENT_STORE="sqlite")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {
        "event_sourcing_enabled": False,
        "event_store": "sqlite",
        "store_health": "disabled",
    }


def test_play_with_the_flag_off_serves_metrics_without_a_store(tmp_path):
    port = free_port()
    result = run_flag_off(
        tmp_path,
        ["play", "--script", "script.txt"],
        AETHYR_METRICS_ENABLED="1",
        AETHYR_METRICS_PORT=str(port),
    )
    assert result.returncode == 0, result.stderr
    assert loaded_store_modules(result.stderr) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aethyr-world.sqlite",
        "dump.json",
        "script.txt",
    ]
