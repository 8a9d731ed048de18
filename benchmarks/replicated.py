"""Scenario ``replicated``: what an immudb replica costs the writer, and how far it lags.

On each immudb backend (``immudb``: unsynced servers; ``immudb-synced``: synced, the
databases' ``syncFrequency`` 1 ms as in the backend) this starts its own primary
server and two replica servers (``ImmudbServer(replica_of=...)``: one asynchronous,
one synchronous) and measures, on a new database each:

* ``save-1`` and ``concurrent`` (the scenarios of :mod:`benchmarks.scenarios`) with
  no replica, with an asynchronous replica and with a synchronous one (the primary's
  database ``syncReplication=true, syncAcks=1``), plus the ratios replica / none
  (> 1 would mean faster with the replica);
* the asynchronous and synchronous replicas' lag under ``concurrent``: a sampler
  reads the primary's latest transaction id every 20 ms and times how long the
  replica takes to commit it (p50 and p99, ms) - the same measure as the
  ``aethyr_recorder_replication_lag_seconds`` gauge.

Targets (issue 15): async lag p99 < 100 ms under ``concurrent``; sync replication
at most 2x slower on ``concurrent``. ``runner.py`` prints them as ``met``/``MISSED``.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry

from benchmarks.backends import Backend
from benchmarks.scenarios import Measure, Size, Skip, concurrent, percentile, save_1

MODES = ("none", "async", "sync")


@contextmanager
def _servers(synced: bool) -> Iterator[dict[str, object]]:
    from aethyr_immudb_recorder.launcher import ImmudbServer

    primary = ImmudbServer(synced=synced).start()
    try:
        replicas = {
            # Not watching: each replicates only the databases of its own mode.
            "async": ImmudbServer(synced=synced, replica_of=primary.address, watch=False).start(),
            "sync": ImmudbServer(
                synced=synced, replica_of=primary.address, sync=True, watch=False
            ).start(),
        }
        try:
            yield {"primary": primary, **replicas}
        finally:
            for server in replicas.values():
                server.stop()
    finally:
        primary.stop()


class LagSampler(threading.Thread):
    """Every ``interval`` s: the primary's tx id, and how long the replica takes to have it."""

    def __init__(self, primary_env: dict[str, str], replica: str, interval: float = 0.02):
        super().__init__(daemon=True)
        from aethyr_immudb_recorder.datastore import ImmudbDatastore
        from aethyr_immudb_recorder.metrics import metrics_for
        from aethyr_immudb_recorder.replicas import replica_settings
        from aethyr_immudb_recorder.settings import ImmudbSettings

        metrics = metrics_for(CollectorRegistry())
        settings = ImmudbSettings(
            host=primary_env["IMMUDB_HOST"],
            port=int(primary_env["IMMUDB_PORT"]),
            database=primary_env["IMMUDB_DATABASE"],
            create_table=False,
        )
        self.primary = ImmudbDatastore(settings, metrics)
        self.replica = ImmudbDatastore(replica_settings(settings, replica), metrics)
        self.interval = interval
        self.halt = threading.Event()
        self.lags: list[float] = []

    def run(self) -> None:
        from aethyr_immudb_recorder.replicas import replication_lag

        try:
            while not self.halt.is_set():
                [lag] = replication_lag(self.primary, [self.replica], max_wait=30.0)
                if lag.reachable:
                    self.lags.append(lag.seconds * 1000)
                self.halt.wait(self.interval)
        finally:
            self.primary.close()
            self.replica.close()


def replicated(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """``save-1`` and ``concurrent`` with no / an async / a sync replica; replica lag."""
    if not backend.env.get("PERSISTENCE_MODULE", "").startswith("aethyr_immudb_recorder"):
        raise Skip("replication is immudb's: only immudb backends")
    from aethyr_immudb_recorder.factory import ImmudbFactory

    synced = backend.name == "immudb-synced"
    sync_ms = backend.env.get("IMMUDB_SYNC_FREQUENCY_MS")
    out: list[Measure] = []
    figures: dict[tuple[str, str], float] = {}
    with _servers(synced) as servers:
        primary = servers["primary"]
        env = {
            **backend.env,
            "IMMUDB_HOST": primary.host,  # type: ignore[attr-defined]
            "IMMUDB_PORT": str(primary.port),  # type: ignore[attr-defined]
        }
        on_primary = dataclasses.replace(backend, env=env, database_per_app=True)
        for mode in MODES:
            for scenario in ("save-1", "concurrent"):
                name = f"{app_name}_{mode}_{scenario.replace('-', '_')}"
                # Create the database on the primary, then have the replica copy it.
                factory = ImmudbFactory(
                    {**env, "IMMUDB_DATABASE": name.lower()}, registry=CollectorRegistry()
                )
                try:
                    factory.application_recorder()
                finally:
                    factory.close()
                if mode != "none":
                    replica = servers[mode]
                    replica.replicate(  # type: ignore[attr-defined]
                        name.lower(), sync_frequency_ms=int(sync_ms) if sync_ms else None
                    )
                sampler = None
                if mode != "none" and scenario == "concurrent":
                    sampler = LagSampler(
                        {**env, "IMMUDB_DATABASE": name.lower()},
                        servers[mode].address,  # type: ignore[attr-defined]
                    )
                    sampler.start()
                run = save_1 if scenario == "save-1" else concurrent
                try:
                    [measure] = run(on_primary, name, size)
                finally:
                    if sampler is not None:
                        sampler.halt.set()
                        sampler.join()
                figures[(mode, scenario)] = measure.value
                label = "no replica" if mode == "none" else f"{mode} replica"
                out.append(Measure(f"replicated {scenario}, {label}", measure.value, measure.unit))
                if sampler is not None and sampler.lags:
                    lags = sorted(sampler.lags)
                    out.append(
                        Measure(
                            f"replicated lag p50, {mode} replica",
                            statistics.median(lags),
                            "ms",
                        )
                    )
                    out.append(
                        Measure(f"replicated lag p99, {mode} replica", percentile(lags, 99), "ms")
                    )
    for mode in ("async", "sync"):
        for scenario in ("save-1", "concurrent"):
            base = figures[("none", scenario)]
            out.append(
                Measure(
                    f"replicated {scenario}, {mode} / none",
                    figures[(mode, scenario)] / base if base else 0.0,
                    "ratio",
                )
            )
    return out
