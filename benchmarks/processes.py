"""The ``concurrent-processes`` scenario: 4 writer processes appending to one store.

The ``concurrent`` scenario's writers are threads of one process, so a recorder can
serialise them with a lock of its own. Here each writer is a process of its own
(:mod:`benchmarks.writer_child`), as when several game servers or tools write to one
store: only the database can order them.

The parent creates the application's tables first and starts the writers with
``CREATE_TABLE=false`` (so they do not race to create them), waits until each has
opened the store and written one warm-up job, then releases them all at once and
stops the clock when the last one reports. Each writer appends
``concurrent_jobs / 4`` jobs of 50 events for new originators, like ``concurrent``.
The figure is events/s over the wall time from the release to the last report;
start-up and warm-up are not timed.

POPO is skipped: its store lives in one process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backends import Backend
from benchmarks.scenarios import Measure, Size, Skip, application

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 4
PER_JOB = 50
TIMEOUT = 600.0


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(max(0.0, deadline - time.monotonic()))
        err = proc.stderr.read() if proc.stderr is not None else ""
        tail = err.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"writer process exited ({proc.returncode}): {tail[0]}")
    return line.strip()


def concurrent_processes(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """4 writer processes, jobs of 50 events each, on one store (events/s)."""
    if backend.name == "popo":
        raise Skip("the in-memory store lives in one process")
    with application(backend, app_name):
        pass  # creates the database and tables before the writers start
    # The writers must not create them again: PostgreSQL refuses concurrent
    # CREATE ... IF NOT EXISTS of one table ("tuple concurrently updated").
    env = {**backend.env_for(app_name), "CREATE_TABLE": "false"}
    jobs = max(1, size.concurrent_jobs // WRITERS)
    spec = json.dumps({"env": env, "app_name": app_name, "jobs": jobs, "per_job": PER_JOB})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.writer_child", spec],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    deadline = time.monotonic() + TIMEOUT
    try:
        for proc in procs:
            ready = _read_line(proc, deadline)
            if ready != "ready":
                raise RuntimeError(f"writer process said {ready!r}, not 'ready'")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        events = 0
        for proc in procs:
            events += int(json.loads(_read_line(proc, deadline))["events"])
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    if events != WRITERS * jobs * PER_JOB:
        raise RuntimeError(f"the writers reported {events} events, not {WRITERS * jobs * PER_JOB}")
    return [Measure("concurrent-processes", events / elapsed, "events/s")]
