"""One writer of the ``concurrent-processes`` scenario, in a process of its own.

Run by :mod:`benchmarks.processes` as ``python -m benchmarks.writer_child SPEC`` where
SPEC is JSON: ``{"env": {...}, "app_name": str, "jobs": int, "per_job": int}``. Opens
the application's recorder, writes one warm-up job, prints ``ready``, waits for a
line on stdin, then appends ``jobs`` batches of ``per_job`` events (each for a new
originator) and prints ``{"events": n}``.
"""

from __future__ import annotations

import json
import sys

from benchmarks.backends import Backend
from benchmarks.scenarios import application, recorder_of, stored_events


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    backend = Backend("child", spec["env"])
    with application(backend, spec["app_name"]) as app:
        recorder = recorder_of(app)
        per_job = int(spec["per_job"])
        recorder.insert_events(stored_events(per_job))  # warm-up: connection, statements
        print("ready", flush=True)
        sys.stdin.readline()
        events = 0
        for _ in range(int(spec["jobs"])):
            recorder.insert_events(stored_events(per_job))
            events += per_job
    print(json.dumps({"events": events}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    raise SystemExit(main(sys.argv[1:]))
