"""One writer of the ``concurrent-processes`` scenario, in a process of its own.

Run by :mod:`benchmarks.processes` as ``python -m benchmarks.writer_child SPEC`` where
SPEC is JSON: ``{"env": {...}, "app_name": str, "jobs": int, "per_job": int}``. Opens
the application's recorder, writes one warm-up job, prints ``ready``, waits for a
line on stdin, then appends ``jobs`` batches of ``per_job`` events (each for a new
originator, as :func:`benchmarks.scenarios.stored_events` makes them) and prints
``{"events": n}``. It imports only what it needs, to start fast.
"""

from __future__ import annotations

import json
import sys
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, StoredEvent


def job(count: int) -> list[StoredEvent]:
    oid = uuid4()
    return [StoredEvent(oid, i + 1, "bench:Event", b'{"n":%d}' % i) for i in range(count)]


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    name = spec["app_name"]
    cls: type[Application[UUID]] = type(name, (Application,), {"name": name})
    app = cls(env=spec["env"])
    try:
        recorder = app.recorder
        assert isinstance(recorder, ApplicationRecorder)
        per_job = int(spec["per_job"])
        recorder.insert_events(job(per_job))  # warm-up: connection, statements
        print("ready", flush=True)
        sys.stdin.readline()
        events = 0
        for _ in range(int(spec["jobs"])):
            recorder.insert_events(job(per_job))
            events += per_job
    finally:
        app.close()
    print(json.dumps({"events": events}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    raise SystemExit(main(sys.argv[1:]))
