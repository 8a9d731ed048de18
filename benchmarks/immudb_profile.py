"""Where an immudb write's time goes: ``python -m benchmarks.immudb_profile``.

The scenarios in :mod:`benchmarks.scenarios` compare backends; this module
takes one immudb write apart, on a throwaway server from the launcher
(``synced=False``, like the ``immudb`` backend):

* **round trips**: the recorder's ``insert_events`` of 1, 50 and 200 events
  (median wall time per call), with the server's and this process's CPU time
  per call (from ``/proc``), so client work, server work and waiting can be
  told apart;
* **tables per database**: a 1-event and a 50-event ``insert_events`` after
  1, 5, 10 and 20 applications have created their tables in the *same*
  database (every immudb write transaction clones the catalog and reads the
  highest key of every ``AUTO_INCREMENT`` table there);
* **tracking**: the process recorder's 1-event ``insert_events`` with a
  tracking record, and ``insert_tracking`` alone;
* ``--pprof OUT``: also records 8 s of the server's CPU profile during
  back-to-back 50-event inserts (read it with ``go tool pprof -top BINARY OUT``).

Figures are printed, never asserted (``docs/performance.md`` quotes them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer, free_port
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder


def _events(count: int) -> list[StoredEvent]:
    originator_id = uuid4()
    return [StoredEvent(originator_id, i + 1, "bench:Event", b'{"n":%d}' % i) for i in range(count)]


def _process_cpu(pid: int) -> float:
    """User+system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(call: Callable[[], Any], reps: int, server_pid: int) -> tuple[float, float, float]:
    """Median wall ms per call, server CPU ms per call, client CPU ms per call."""
    walls = []
    server0, client0 = _process_cpu(server_pid), time.process_time()
    for _ in range(reps):
        started = time.perf_counter()
        call()
        walls.append(time.perf_counter() - started)
    server = (_process_cpu(server_pid) - server0) / reps
    client = (time.process_time() - client0) / reps
    return statistics.median(walls) * 1e3, server * 1e3, client * 1e3


def _factory(server: ImmudbServer, name: str, database: str) -> ImmudbFactory:
    env = {
        "IMMUDB_HOST": server.host,
        "IMMUDB_PORT": str(server.port),
        "IMMUDB_DATABASE": database,
    }
    return ImmudbFactory(Environment(name, env))


def run(
    reps: int = 200, pprof: Path | None = None, table_counts: Sequence[int] = (1, 5, 10, 20)
) -> None:
    """Print every measurement (``reps`` calls per 1-event figure; fewer for big batches)."""
    metrics_port = free_port()
    extra = ("--metrics-server=true", f"--metrics-server-port={metrics_port}", "--pprof")
    with ImmudbServer(synced=False, extra_args=extra if pprof else ()) as server:
        assert server.process is not None
        pid = server.process.pid
        print(f"immudb at {server.address} (synced=False); {reps} calls per 1-event figure")
        print()
        print("round trips: insert_events (application recorder, own database)")
        factory = _factory(server, "probe", f"p{uuid.uuid4().hex[:10]}")
        recorder = factory.application_recorder()
        recorder.create_table()
        recorder.insert_events(_events(1))
        for count in (1, 50, 200):
            n = max(5, reps // max(1, count // 5))

            def insert(c: int = count) -> object:
                return recorder.insert_events(_events(c))

            wall, server_cpu, client_cpu = _timed(insert, n, pid)
            print(
                f"  {count:4d} events: {wall:7.3f} ms/call ({wall * 1e3 / count:6.1f} us/event); "
                f"server CPU {server_cpu:6.3f} ms, client CPU {client_cpu:6.3f} ms per call"
            )
        factory.close()

        print()
        print("tables per database: insert_events after N applications share one database")
        database = f"t{uuid.uuid4().hex[:10]}"
        factories = []
        created = 0
        for target in table_counts:
            while created < target:
                created += 1
                factories.append(_factory(server, f"app{created}", database))
                shared = factories[-1].application_recorder()
                shared.create_table()
                shared.insert_events(_events(1))

            def one_event(r: ImmudbApplicationRecorder = shared) -> object:
                return r.insert_events(_events(1))

            def fifty_events(r: ImmudbApplicationRecorder = shared) -> object:
                return r.insert_events(_events(50))

            one = _timed(one_event, reps, pid)[0]
            fifty = _timed(fifty_events, max(5, reps // 10), pid)[0]
            print(f"  {target:3d} tables: 1 event {one:7.3f} ms, 50 events {fifty:7.3f} ms")
        for f in factories:
            f.close()

        print()
        print("tracking: process recorder (own database)")
        factory = _factory(server, "proc", f"q{uuid.uuid4().hex[:10]}")
        process = factory.process_recorder()
        process.create_table()
        position = iter(range(1, 10**9))
        both = _timed(
            lambda: process.insert_events(_events(1), tracking=Tracking("up", next(position))),
            reps,
            pid,
        )
        alone = _timed(lambda: process.insert_tracking(Tracking("up2", next(position))), reps, pid)
        plain = _timed(lambda: process.insert_events(_events(1)), reps, pid)
        print(f"  1 event + tracking {both[0]:7.3f} ms")
        print(f"  tracking only      {alone[0]:7.3f} ms")
        print(f"  1 event, no track  {plain[0]:7.3f} ms")
        if pprof is not None:
            _record_pprof(factory, metrics_port, pprof)
        factory.close()


def _record_pprof(factory: ImmudbFactory, port: int, out: Path) -> None:
    recorder = factory.application_recorder()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            recorder.insert_events(_events(50))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        url = f"http://127.0.0.1:{port}/debug/pprof/profile?seconds=8"
        with urllib.request.urlopen(url, timeout=30) as response:
            out.write_bytes(response.read())
    finally:
        stop.set()
        worker.join()
    print()
    print(f"server CPU profile (8 s of 50-event inserts) written to {out}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.immudb_profile", description=__doc__
    )
    parser.add_argument("--reps", type=int, default=200, help="calls per 1-event figure")
    parser.add_argument("--pprof", type=Path, help="also write the server's CPU profile here")
    args = parser.parse_args(argv)
    run(reps=args.reps, pprof=args.pprof)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
