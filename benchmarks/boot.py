"""The ``boot`` scenario: time to a playable world, with and without a checkpoint.

For each log size (the played game log of :mod:`benchmarks.game_log`, copied into the
backend once, shared with the ``replay`` scenario) a child process first writes a
checkpoint :data:`TAIL` events before the end of the log (what a game saving every
``checkpoint_interval`` = 10 000 events leaves at worst), then each round starts two
fresh processes (:mod:`benchmarks.boot_child`) that open the store and load the world:
one with a full replay, one from the checkpoint plus the tail. Reported in seconds:
``boot <size> replay`` and ``boot <size> checkpoint``.
"""

from __future__ import annotations

from typing import Any

from benchmarks import replay
from benchmarks.backends import Backend
from benchmarks.replay import _prepare, _tmpdir, label
from benchmarks.scenarios import Measure, Size, Skip

#: Events after the checkpoint: the default ``checkpoint_interval``, at most a tenth.
TAIL = 10_000

_checkpoints: dict[tuple[str, int], str] = {}


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One boot measurement in a fresh process (:mod:`benchmarks.boot_child`)."""
    return replay.run_child(spec, "benchmarks.boot_child", "boot")


def _checkpoint(backend: Backend, spec: dict[str, Any], events: int) -> str:
    key = (backend.name, events)
    if key not in _checkpoints:
        path = str(_tmpdir() / f"boot-{backend.name}-{label(events)}.checkpoint")
        tail = min(TAIL, max(1, events // 10))
        report = run_child({**spec, "mode": "prepare", "checkpoint": path, "tail": tail})
        print(
            f"  checkpoint of {backend.name} at {report['position']:,} of {report['events']:,}"
            f" events: {report['aggregates']:,} aggregates, {report['bytes'] / 1e6:.1f} MB,"
            f" written in {report['seconds']:.1f} s",
            flush=True,
        )
        _checkpoints[key] = path
    return _checkpoints[key]


def boot(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Seconds to a playable world: full replay vs checkpoint + tail, per log size."""
    if backend.name not in ("popo", "sqlite", "postgres", "immudb", "immudb-synced"):
        raise Skip(f"no boot set-up for backend {backend.name}")  # pragma: no cover
    measures: list[Measure] = []
    for events in size.boot_events:
        spec = _prepare(backend, events)
        path = _checkpoint(backend, spec, events)
        for mode in ("replay", "checkpoint"):
            report = run_child({**spec, "mode": mode, "checkpoint": path, "tail": 0})
            measures.append(Measure(f"boot {label(events)} {mode}", report["seconds"], "s"))
    return measures
