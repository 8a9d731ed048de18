"""One measured game boot in a process of its own: the world from a checkpoint + the
log's tail, or from a full replay of the log.

Run by :mod:`benchmarks.boot` as ``python -m benchmarks.boot_child SPEC`` where SPEC is
JSON: ``{"env": {...}, "app_name": str, "load": path-or-null, "mode": "prepare" |
"replay" | "checkpoint", "checkpoint": path, "tail": int}``.

* ``prepare`` writes the checkpoint at ``tail`` events before the end of the log (the
  aggregates read from the log up to that notification), as a running game would
  have saved it;
* ``replay`` and ``checkpoint`` time
  :func:`~aethyr_domain.game.checkpoint.load_world_from_checkpoint`
  (without / with the checkpoint) - including opening the store, except on the
  in-memory POPO store, whose events are first copied in from ``load``.

Prints one JSON line: ``{"events", "seconds", "from_checkpoint", "tail", "objects"}``.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from aethyr_domain.application import World
from aethyr_domain.game.checkpoint import load_world_from_checkpoint, log_mark, write_checkpoint
from aethyr_domain.outbox.event_store import iter_notifications
from benchmarks.replay_child import load_events, world_class


def prepare(world: World, path: str, tail: int) -> dict[str, Any]:
    last = world.recorder.max_notification_id() or 0
    position = max(1, last - tail)
    aggregates: dict[str, Any] = {}
    to_domain_event = world.mapper.to_domain_event
    for notification in iter_notifications(world, page_size=2000):
        if notification.id > position:
            break
        event: Any = to_domain_event(notification)
        key = str(event.originator_id)
        aggregates[key] = event.mutate(aggregates.get(key))
    mark = log_mark(world, position)
    assert mark is not None
    started = time.perf_counter()
    write_checkpoint(path, world, aggregates, mark)
    return {
        "events": last,
        "seconds": time.perf_counter() - started,
        "position": position,
        "bytes": Path(path).stat().st_size,
        "aggregates": len(aggregates),
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    started = time.perf_counter()
    world = world_class(spec["app_name"])(env=spec["env"], snapshot_threshold=0)
    try:
        if spec.get("load"):
            load_events(world, Path(spec["load"]))
            gc.collect()
            started = time.perf_counter()
        if spec["mode"] == "prepare":
            result = prepare(world, spec["checkpoint"], spec["tail"])
        else:
            path = spec["checkpoint"] if spec["mode"] == "checkpoint" else None
            _aggregates, live, loaded = load_world_from_checkpoint(world, path)
            seconds = time.perf_counter() - started
            if spec["mode"] == "checkpoint" and not loaded.from_checkpoint:
                raise RuntimeError(f"the checkpoint was not used: {loaded.reason}")
            result = {
                "events": world.recorder.max_notification_id() or 0,
                "seconds": seconds,
                "from_checkpoint": loaded.from_checkpoint,
                "tail": loaded.tail_events if loaded.from_checkpoint else 0,
                "objects": len(live.objects),
            }
    finally:
        world.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    raise SystemExit(main(sys.argv[1:]))
