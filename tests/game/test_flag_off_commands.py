"""With ``event_sourcing_enabled`` off, no ``aethyr-es`` command opens, creates or
connects to an event store, an outbox or a read model.

Each command runs in a process of its own whose interpreter has imported nothing but
``aethyr_domain.cli.entry`` (so ``sys.modules`` tells what the command loaded): it must
create no file, and import none of the store modules: eventsourcing's recorder modules,
the immudb recorder, the outbox, the event store, delivery, and the read-model views.
(The game may import eventsourcing's *domain* modules - its rules are shared with the
aggregates - but never a store.) ``demo`` is the documented exception: it always runs on
its own in-memory store.

The table's commands run through :data:`RUNNER`, one interpreter per store that imports
the command line once and forks a child per command, each from that same state: what a
fresh ``python -c`` of :data:`CHILD` has after its import, without paying for a new
interpreter and the imports thirty times (about 0.2 CPU-seconds each).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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

#: Runs a plan of commands (JSON: argv, working directory, stdout and stderr files),
#: each in a child forked from this interpreter once it has imported the command line:
#: the child does what :data:`CHILD` does after its import (the exit code, an uncaught
#: exception's traceback and exit code 1, the ``STORE-MODULES`` line only when ``main``
#: returns, a normal interpreter exit). Prints the exit codes as a JSON list.
RUNNER = """
import json, os, sys
from aethyr_domain.cli.entry import main
codes = []
for step in json.loads(sys.argv[1]):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.chdir(step["cwd"])
        for fd, name in ((1, "out"), (2, "err")):
            target = os.open(step[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        code = main(step["argv"])
        stores = sorted(
            m for m in sys.modules
            if any(m == s or m.startswith(s + ".") for s in json.loads(STORES))
        )
        print("STORE-MODULES " + json.dumps(stores), file=sys.stderr)
        sys.exit(code)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
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


def _prepare(directory: Path) -> None:
    (directory / "script.txt").write_text("@admin ann\nann: acreate Sword\nann: get sword\n")
    (directory / "dump.json").write_text(json.dumps(DUMP))


def _environ(**env: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "AETHYR_EVENT_SOURCING_ENABLED": "0",
        **env,
    }


def run_flag_off(tmp_path: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    _prepare(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        env=_environ(**env),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Ran:
    """One command of :data:`COMMANDS` run with the flag off: its result and its folder."""

    result: subprocess.CompletedProcess[str]
    folder: Path


@pytest.fixture(scope="module")
def flag_off_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Ran]]:
    """Every command of :data:`COMMANDS` on each store, run through :data:`RUNNER`: one
    interpreter per store, a forked child per command in a folder of its own."""
    runs: dict[tuple[str, str], Ran] = {}
    for store in ("sqlite", "immudb"):
        plan, steps = [], []
        for argv, _code in COMMANDS:
            folder = tmp_path_factory.mktemp(f"{store}-{argv[0]}")
            _prepare(folder)
            output = tmp_path_factory.mktemp(f"{store}-{argv[0]}-output")
            plan.append(
                {
                    "argv": argv,
                    "cwd": str(folder),
                    "out": str(output / "stdout"),
                    "err": str(output / "stderr"),
                }
            )
            steps.append((argv, folder, output))
        runner = subprocess.run(
            [sys.executable, "-c", RUNNER, json.dumps(plan)],
            capture_output=True,
            text=True,
            env=_environ(AETHYR_EVENT_STORE=store),
            cwd=tmp_path_factory.mktemp(f"{store}-runner"),
            timeout=300,
            check=False,
        )
        assert runner.returncode == 0, runner.stdout + runner.stderr
        codes = json.loads(runner.stdout.splitlines()[-1])
        for (argv, folder, output), code in zip(steps, codes, strict=True):
            result = subprocess.CompletedProcess(
                argv,
                code,
                (output / "stdout").read_text(),
                (output / "stderr").read_text(),
            )
            runs[store, " ".join(argv)] = Ran(result, folder)
    yield runs


def loaded_store_modules(stderr: str) -> list[str]:
    line = next(x for x in stderr.splitlines() if x.startswith("STORE-MODULES "))
    loaded: list[str] = json.loads(line.removeprefix("STORE-MODULES "))
    return loaded


@pytest.mark.parametrize("store", ["sqlite", "immudb"])
@pytest.mark.parametrize(("argv", "code"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_with_the_flag_off_no_command_touches_a_store(flag_off_runs, store, argv, code):
    before = {"script.txt", "dump.json"}
    ran = flag_off_runs[store, " ".join(argv)]
    result = ran.result
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert loaded_store_modules(result.stderr) == []
    created = sorted(p.name for p in ran.folder.iterdir() if p.name not in before)
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
