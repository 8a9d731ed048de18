"""Scenario ``replicated``: what an immudb replica costs the writer, and how far it lags.

On each immudb backend (``immudb``: unsynced servers; ``immudb-synced``: synced; the
databases' ``syncFrequency`` as in the backend, ``IMMUDB_SYNC_FREQUENCY_MS=0``) this
starts its own primary server and two replica servers (``ImmudbServer(replica_of=...)``:
one asynchronous, one synchronous) and measures, on a new database each:

* ``save-1`` and ``concurrent`` (the scenarios of :mod:`benchmarks.scenarios`) with
  no replica, with an asynchronous replica and with a synchronous one (the primary's
  database ``syncReplication=true, syncAcks=1`` and, since a synchronous primary cannot
  run with 0, ``syncFrequency`` 1 ms: :mod:`aethyr_immudb_recorder.sync_replication`),
  plus the ratios replica / none (> 1 would mean faster with the replica);
* the asynchronous and synchronous replicas' lag under the ``concurrent`` load (4
  threads writing 50-event batches, kept up for ``lag_seconds`` of the size, at least
  1 s): a sampler reads the primary's and the replica's latest transaction ids every
  5 ms; the lag of a primary sample is how long until the replica was seen holding
  that transaction (p50 and p99, ms) - what the
  ``aethyr_recorder_replication_lag_seconds`` gauge reports.

Targets (issue 15): async lag p99 < 100 ms under ``concurrent``; sync replication
at most 2x slower on ``concurrent``. ``runner.py`` prints them as ``met``/``MISSED``.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry

from benchmarks.backends import Backend
from benchmarks.scenarios import (
    Measure,
    Size,
    Skip,
    concurrent,
    percentile,
    save_1,
    stored_events,
)

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
    """Samples the primary's and the replica's latest committed transaction ids.

    Every ``interval`` seconds it reads both (``CurrentState``). The lag of each primary
    sample (time t, transaction P) is how long after t the replica was first seen
    with a transaction >= P. After :meth:`finish` it keeps sampling until the replica
    has the primary's last transaction (at most ``settle`` seconds).
    """

    def __init__(self, primary_env: dict[str, str], replica: str, interval: float = 0.005) -> None:
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
        self.settle = 30.0
        self.samples: list[tuple[float, int, int]] = []

    def run(self) -> None:
        stop_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                primary = self.primary.current_tx_id()
                replica = self.replica.current_tx_id()
                self.samples.append((now, primary, replica))
                if self.halt.is_set():
                    stop_at = stop_at or now + self.settle
                    last = max(p for _, p, _ in self.samples)
                    if replica >= last or now > stop_at:
                        return
                time.sleep(self.interval)
        finally:
            self.primary.close()
            self.replica.close()

    def finish(self) -> list[float]:
        """Stop, wait for the replica to settle; the lag of every primary sample (ms)."""
        self.halt.set()
        self.join()
        lags = []
        for i, (t, p, _) in enumerate(self.samples):
            for t2, _, r in self.samples[i:]:
                if r >= p:
                    lags.append((t2 - t) * 1000)
                    break
        return sorted(lags)


def _write_for(env: dict[str, str], seconds: float) -> None:
    """4 writer threads inserting 50-event batches for ``seconds`` (``concurrent``'s shape)."""
    from aethyr_immudb_recorder.factory import ImmudbFactory

    factory = ImmudbFactory(env, registry=CollectorRegistry())
    try:
        recorder = factory.application_recorder()
        deadline = time.monotonic() + seconds

        def writer() -> None:
            while time.monotonic() < deadline:
                recorder.insert_events(stored_events(50))

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        factory.close()


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
                run = save_1 if scenario == "save-1" else concurrent
                [measure] = run(on_primary, name, size)
                figures[(mode, scenario)] = measure.value
                label = "no replica" if mode == "none" else f"{mode} replica"
                out.append(Measure(f"replicated {scenario}, {label}", measure.value, measure.unit))
                if mode != "none" and scenario == "concurrent":
                    # Lag under the same load, kept up long enough to sample.
                    db_env = {**env, "IMMUDB_DATABASE": name.lower()}
                    sampler = LagSampler(db_env, servers[mode].address)  # type: ignore[attr-defined]
                    sampler.start()
                    _write_for(db_env, max(size.lag_seconds, 1.0))
                    lags = sampler.finish()
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
