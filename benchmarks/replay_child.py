"""One measured ``rebuild_world_state`` in a process of its own (so its peak RSS is its own).

Run by :mod:`benchmarks.replay` as ``python -m benchmarks.replay_child SPEC`` where
SPEC is JSON: ``{"env": {...}, "app_name": str, "load": path-or-null}``. With
``load`` (the in-memory POPO store, which lives only in this process), the pickled
stored events are first copied into the recorder in batches. Prints one JSON line:
``{"events", "seconds", "objects", "rss_before_mb", "peak_rss_mb", "peak_reset"}``:
``rss_before_mb`` is the resident size just before the rebuild, ``peak_rss_mb`` the
process's high-water mark (``VmHWM``), reset after loading when the kernel allows
(``peak_reset``), so it covers the rebuild; on POPO it includes the store itself.
"""

from __future__ import annotations

import gc
import json
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from aethyr_domain.application import World
from aethyr_domain.read.replay import rebuild_world_state

BATCH = 1000


def world_class(app_name: str) -> type[World]:
    """A ``World`` subclass named ``app_name`` (its own tables and environment prefix)."""
    return type(app_name, (World,), {"name": app_name})


def memory_mb(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process in MB (``ru_maxrss`` if /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - Linux has /proc
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current size (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - older kernels, other systems
        return False
    return True


def load_events(world: World, path: Path) -> int:
    """Copy the pickled ``(id, version, topic, state)`` tuples into the world's recorder."""
    rows: list[tuple[Any, int, str, bytes]] = pickle.loads(path.read_bytes())
    for start in range(0, len(rows), BATCH):
        world.recorder.insert_events([StoredEvent(*row) for row in rows[start : start + BATCH]])
    count = len(rows)
    del rows
    gc.collect()
    return count


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    world = world_class(spec["app_name"])(env=spec["env"], snapshot_threshold=0)
    try:
        if spec.get("load"):
            load_events(world, Path(spec["load"]))
        events = world.recorder.max_notification_id() or 0
        gc.collect()
        peak_reset = reset_peak()
        before = memory_mb("VmRSS")
        started = time.perf_counter()
        live = rebuild_world_state(world)
        seconds = time.perf_counter() - started
        result = {
            "events": events,
            "seconds": seconds,
            "objects": len(live.objects),
            "rss_before_mb": before,
            "peak_rss_mb": memory_mb("VmHWM"),
            "peak_reset": peak_reset,
        }
    finally:
        world.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    raise SystemExit(main(sys.argv[1:]))
