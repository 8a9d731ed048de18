"""``python -m benchmarks.session_reuse``: what a datastore's first call costs, with and
without ``IMMUDB_SESSION_REUSE``.

A process that opens and closes datastores one after another (a command-line tool, a
test suite) pays a login for each: immudb checks a bcrypt hash per ``OpenSession``.
With reuse on, a closed datastore parks its sessions and the next one of the same login
takes one (:mod:`aethyr_immudb_recorder.session_reuse`). Each round opens a datastore,
makes one call (``CurrentState``) and closes it, ``--datastores`` times, once with reuse
on and once off, the order alternating from round to round; the immudb server's CPU
(from ``/proc``) and the wall time are read around each batch. One throwaway unsynced
server; the table gives the median over the rounds and the ratio off / on.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from eventsourcing.utils import Environment

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.session_reuse import close_parked_sessions
from aethyr_immudb_recorder.settings import ImmudbSettings
from benchmarks.cpu_time import cpu_seconds
from benchmarks.machine import machine_info, software_versions


def _batch(settings: ImmudbSettings, server_pid: int, count: int) -> tuple[float, float]:
    """Server CPU-ms and wall ms per datastore over ``count`` open-call-close cycles."""
    cpu_before = cpu_seconds(server_pid, tree=False) or 0.0
    started = time.perf_counter()
    for _ in range(count):
        datastore = ImmudbDatastore(settings)
        try:
            datastore.current_tx_id()
        finally:
            datastore.close()
    wall = time.perf_counter() - started
    cpu = (cpu_seconds(server_pid, tree=False) or 0.0) - cpu_before
    return 1000 * cpu / count, 1000 * wall / count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_reuse", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--datastores", type=int, default=40, help="datastores per batch")
    args = parser.parse_args(argv)
    print("machine:", machine_info())
    print("versions:", software_versions())
    results: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    with ImmudbServer(synced=False) as server:
        assert server.process is not None
        env = {"IMMUDB_HOST": server.host, "IMMUDB_PORT": str(server.port)}
        env["IMMUDB_DATABASE"] = "bench"
        modes = {
            "on": ImmudbSettings.from_env(Environment(env={**env, "IMMUDB_SESSION_REUSE": "yes"})),
            "off": ImmudbSettings.from_env(Environment(env={**env, "IMMUDB_SESSION_REUSE": "no"})),
        }
        _batch(modes["off"], server.process.pid, 2)  # creates the database, warms up
        for r in range(args.rounds):
            order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
            for mode in order:
                results[mode].append(_batch(modes[mode], server.process.pid, args.datastores))
                close_parked_sessions()  # each batch starts without parked sessions
    print(f"\n{args.rounds} rounds of {args.datastores} datastores each (open, 1 call, close)")
    print(f"{'reuse':<6} {'server CPU ms/datastore':>24} {'wall ms/datastore':>18}")
    medians = {}
    for mode, rows in results.items():
        cpu = statistics.median(c for c, _ in rows)
        wall = statistics.median(w for _, w in rows)
        medians[mode] = (cpu, wall)
        print(f"{mode:<6} {cpu:>24.2f} {wall:>18.2f}")
    (cpu_on, wall_on), (cpu_off, wall_off) = medians["on"], medians["off"]
    if cpu_on > 0 and wall_on > 0:
        print(f"off / on: server CPU {cpu_off / cpu_on:.1f}x, wall {wall_off / wall_on:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
