"""The command line: ``python -m benchmarks [--quick] [--json OUT.json]``.

The headline is the durable comparison: immudb synced (every commit flushed to
disk) against PostgreSQL at its defaults (fsync=on, synchronous_commit=on), with
the ratio per scenario. The full table follows, with the unsynced immudb as a side
column labelled ``UNSYNCED`` (faster, not crash-safe).

Rounds are interleaved: each round runs every scenario on every backend, and
the backend order rotates from round to round, so drift on the machine (other
load, a warming disk cache) spreads over all backends instead of favouring one.
Each run uses a new application name, so it starts on empty tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.backends import ALL_BACKENDS, DEFAULT_BACKENDS, DURABILITY, started_backends
from benchmarks.machine import machine_info, software_versions
from benchmarks.scenarios import SCENARIOS, SIZES, Skip, runs_in_round
from benchmarks.server_load import ROUNDS as LOAD_ROUNDS
from benchmarks.server_load import targets as load_targets
from benchmarks.stats import Results, durable_ratio, durable_table, table, targets
from benchmarks.transcode import transcode

TRANSCODERS = ("JSONTranscoder", "OrjsonTranscoder", "FastOrjsonTranscoder")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes; under 3 minutes")
    parser.add_argument("--json", metavar="OUT.json", type=Path, help="also write results as JSON")
    parser.add_argument(
        "--backends",
        default=None,
        help=f"comma-separated, from {','.join(ALL_BACKENDS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join([*SCENARIOS, "transcode"]),
        help="comma-separated scenario names (default: all but server-load, which runs "
        "only when named: it starts its own servers and takes minutes)",
    )
    parser.add_argument(
        "--immudb-shared-database",
        action="store_true",
        help="put every application's immudb tables in one database "
        "(default: one database per application, as docs/recorder.md recommends)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    parser.add_argument(
        "--replay-events",
        default=None,
        help="comma-separated log sizes for the replay and boot scenarios (default: 20000 quick, "
        "100000,1000000 full)",
    )
    parser.add_argument(
        "--verify-events",
        type=int,
        default=None,
        help="events in the store the verify scenario checks (default: 500 quick, 100000 full)",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size = SIZES[args.size or ("quick" if args.quick else "full")]
    rounds = args.rounds or size.rounds
    if args.replay_events:
        events = tuple(int(n) for n in args.replay_events.split(",") if n.strip())
        size = dataclasses.replace(size, replay_events=events, boot_events=events)
    if args.verify_events:
        size = dataclasses.replace(size, verify_events=args.verify_events)
    if args.backends:
        names = [n.strip() for n in args.backends.split(",") if n.strip()]
    else:
        names = list(DEFAULT_BACKENDS)
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(wanted) - {*SCENARIOS, "transcode", "server-load"}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    machine = machine_info()
    versions = software_versions()
    results = Results()
    if "transcode" in wanted:
        # First, before any server starts: it needs none, and on a small machine a
        # server's background work (indexing, checkpoints) after the write scenarios
        # skews this CPU-bound comparison (docs/performance.md, run 9).
        for r in range(rounds):
            print(f"transcode round {r + 1}/{rounds}...", flush=True)
            for name, measures in transcode(size.transcode_events).items():
                for m in measures:
                    results.add(m.scenario, name, m.value, m.unit)
    load_modes: list[str] = []
    if "server-load" in wanted:
        # Once, not per round (minutes of load): its own game servers and immudb.
        from benchmarks.server_load import server_load

        for mode, measures in server_load(args.quick, args.size).items():
            load_modes.append(mode)
            for m in measures:
                results.add(m.scenario, mode, m.value, m.unit)
        wanted = [w for w in wanted if w != "server-load"]
        if not wanted:
            names = []
    with started_backends(
        names, versions, immudb_shared_database=args.immudb_shared_database
    ) as backends:
        for backend in backends:
            if backend.skip_reason:
                print(f"skipping backend {backend.name}: {backend.skip_reason}", flush=True)
        live = [b for b in backends if b.skip_reason is None]
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}...", flush=True)
            order = live[r % len(live) :] + live[: r % len(live)] if live else []
            for scenario in wanted:
                if scenario == "transcode" or not runs_in_round(scenario, size, r):
                    continue  # transcode is measured above
                scenario_started = time.perf_counter()
                for backend in order:
                    app_name = f"bench_{scenario.replace('-', '_')}_{r}"
                    try:
                        for m in SCENARIOS[scenario](backend, app_name, size):
                            results.add(m.scenario, backend.name, m.value, m.unit)
                    except Skip as skip:
                        results.skip(scenario, backend.name, str(skip))
                    except Exception as exc:
                        results.skip(scenario, backend.name, f"error: {type(exc).__name__}: {exc}")
                        print(f"  {scenario} on {backend.name} failed: {exc!r}", flush=True)
                took = time.perf_counter() - scenario_started
                print(f"  {scenario}: {took:.1f} s (all backends)", flush=True)
        for backend in backends:
            if backend.skip_reason:
                for scenario in wanted:
                    results.skip(scenario, backend.name, backend.skip_reason)
    elapsed = time.perf_counter() - started

    columns = [b for b in names] + (list(TRANSCODERS) if "transcode" in wanted else [])
    columns += load_modes
    print()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    print("versions: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
    durability = [f"{n}: {DURABILITY[n]}" for n in names if n in DURABILITY]
    if load_modes:
        durability.append(
            "server-load: immudb synced (every commit flushed); the outbox and the "
            "game's storage SQLite synchronous=FULL"
        )
    print("durability: " + "; ".join(durability))
    layout = "one database per application"
    if args.immudb_shared_database:
        layout = "one shared database"
    if any(n.startswith("immudb") for n in names):
        print(f"immudb layout: {layout}")
    print(f"size: {args.size or ('quick' if args.quick else 'full')}, rounds: {rounds}, "
          f"took {elapsed:.0f} s; figures are median (min-max) over the rounds")  # fmt: skip
    if load_modes:
        print(
            f"server-load: {LOAD_ROUNDS} run(s) per mode (SERVER_LOAD_ROUNDS; not --rounds), "
            "modes alternating; median (min-max) over them"
        )
    headline = durable_table(results)
    if headline is not None:
        print()
        print(
            "DURABLE: immudb-synced (every commit flushed to disk) vs postgres (fsync=on, "
            "synchronous_commit=on); ratio > 1: immudb better (ms and MB inverted)"
        )
        print(headline)
    print()
    if "immudb" in names:
        print("all backends (immudb UNSYNCED: no flush per commit, not crash-safe; a side column)")
    else:
        print("all columns")
    print(table(results, columns))
    print()
    for line in targets(results):
        print(line)
    if load_modes:
        for line in load_targets(results):
            print(line)
    if results.skipped:
        print()
        print("skipped:")
        for (scenario, skipped_on), reason in sorted(results.skipped.items()):
            print(f"  {scenario} on {skipped_on}: {reason}")
    if args.json:
        document = {
            "machine": machine,
            "versions": versions,
            "settings": {
                "size": args.size or ("quick" if args.quick else "full"),
                "rounds": rounds,
                "durability": {n: DURABILITY[n] for n in names if n in DURABILITY},
                "immudb_layout": layout,
                "seconds": round(elapsed, 1),
            },
            "results": [s.as_json() for s in results.summaries.values()],
            "durable_ratios": {
                scenario: ratio
                for scenario in dict.fromkeys(s.scenario for s in results.summaries.values())
                if (ratio := durable_ratio(results, scenario)) is not None
            },
            "skipped": [
                {"scenario": s, "backend": b, "reason": reason}
                for (s, b), reason in results.skipped.items()
            ],
            "targets": targets(results) + (load_targets(results) if load_modes else []),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0
