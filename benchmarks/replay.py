"""The ``replay`` scenario: ``rebuild_world_state`` over a played game's event log.

The log is generated once per size and run (:func:`benchmarks.game_log.game_log`,
seeded) and copied into each backend's recorder once with ``insert_events`` in
batches, under an application name of its own, so every round replays the same
log. Each round then starts a fresh process (:mod:`benchmarks.replay_child`) that
opens the store and rebuilds the world, as the game does at boot, and reports
the rate and its own peak RSS: figures from different backends and sizes do not
share a heap. The in-memory POPO store lives only in its process, so there the
child loads the events itself (from a pickle) before the clock starts.
"""

from __future__ import annotations

import atexit
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from benchmarks.backends import Backend
from benchmarks.game_log import game_log
from benchmarks.replay_child import world_class
from benchmarks.scenarios import Measure, Size, Skip

ROOT = Path(__file__).resolve().parents[1]
INSERT_BATCH = 500
CHILD_TIMEOUT = 1800

_logs: dict[int, list[StoredEvent]] = {}
_pickles: dict[int, Path] = {}
_prepared: dict[tuple[str, str, int], dict[str, Any]] = {}
_tmp: Path | None = None


def label(events: int) -> str:
    """``100000`` -> ``"100k"``, ``1000000`` -> ``"1M"``."""
    if events >= 1_000_000 and events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events >= 1000 and events % 1000 == 0:
        return f"{events // 1000}k"
    return str(events)


def _tmpdir() -> Path:
    global _tmp
    if _tmp is None:
        _tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
        atexit.register(shutil.rmtree, _tmp, True)
    return _tmp


def log_of(events: int) -> list[StoredEvent]:
    """The generated log of (at least) ``events`` events, made once per process."""
    if events not in _logs:
        started = time.perf_counter()
        _logs[events] = game_log(events)
        took = time.perf_counter() - started
        print(f"  generated a {len(_logs[events]):,}-event game log in {took:.0f} s", flush=True)
    return _logs[events]


def _env(backend: Backend, app_name: str) -> dict[str, str]:
    return {**backend.env_for(app_name), "ORIGINATOR_ID_TYPE": "text"}


def _prepare(backend: Backend, events: int) -> dict[str, Any]:
    """The child's spec for ``events`` on ``backend``; the store is filled on first use."""
    app_name = f"bench_replay_{label(events)}"
    key = (backend.name, json.dumps(backend.env_for(app_name), sort_keys=True), events)
    if key in _prepared:
        return _prepared[key]
    stored = log_of(events)
    env = _env(backend, app_name)
    spec: dict[str, Any] = {"env": env, "app_name": app_name, "load": None}
    if backend.name == "popo":
        if events not in _pickles:
            path = _tmpdir() / f"log-{events}.pickle"
            rows = [(e.originator_id, e.originator_version, e.topic, e.state) for e in stored]
            path.write_bytes(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
            _pickles[events] = path
        spec["load"] = str(_pickles[events])
    else:
        started = time.perf_counter()
        world = world_class(app_name)(env=env, snapshot_threshold=0)
        try:
            if (world.recorder.max_notification_id() or 0) == 0:
                for start in range(0, len(stored), INSERT_BATCH):
                    world.recorder.insert_events(stored[start : start + INSERT_BATCH])
        finally:
            world.close()
        took = time.perf_counter() - started
        print(f"  copied {len(stored):,} events into {backend.name} in {took:.0f} s", flush=True)
    _prepared[key] = spec
    return spec


def run_child(
    spec: dict[str, Any], module: str = "benchmarks.replay_child", what: str = "replay"
) -> dict[str, Any]:
    """Run one measurement (``module``: a rebuild by default) in a new process and return
    its JSON report, the last line it prints."""
    done = subprocess.run(
        [sys.executable, "-m", module, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{what} process failed ({done.returncode}): {tail[0]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def replay(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """``rebuild_world_state`` over each replay size: events/s and peak RSS (MB)."""
    if backend.name not in ("popo", "sqlite", "postgres", "immudb", "immudb-synced"):
        raise Skip(f"no replay set-up for backend {backend.name}")  # pragma: no cover
    measures: list[Measure] = []
    for events in size.replay_events:
        report = run_child(_prepare(backend, events))
        name = f"replay {label(events)}"
        measures.append(Measure(name, report["events"] / report["seconds"], "events/s"))
        measures.append(Measure(f"{name} peak RSS", report["peak_rss_mb"], "MB"))
    return measures
