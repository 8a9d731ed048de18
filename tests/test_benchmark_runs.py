"""The benchmark runner and its scenarios end to end on a tiny size: code covered, JSON
shape and units checked, figures printed, never asserted as timings.

This module is ``slow`` (``SLOW_MODULES`` in tests/conftest.py), so ``scripts/test
--fast`` leaves it out: each test *measures*, which is slow by nature (repeated timing
loops, process pools, a replica server started per replication mode: about 20 s of a
2-core machine together), while what it checks is the benchmarks' plumbing, not the
product's behaviour. Plain ``scripts/test`` and CI run it. The benchmarks' parts that
measure nothing (tables, ratios, the game log) are tested in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.runner import main


def test_runner_writes_results_for_every_scenario_and_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    code = main(["--quick", "--size", "tiny", "--backends", "popo,sqlite", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "machine:" in printed and "median (min-max)" in printed

    document = json.loads(out.read_text())
    assert {"machine", "versions", "results"} <= set(document)
    assert document["machine"]["cores"] >= 1
    assert document["versions"]["eventsourcing"].startswith("9.5")
    results = document["results"]
    for row in results:
        assert set(row) >= {"scenario", "backend", "median", "unit", "min", "max"}
        assert row["min"] <= row["median"] <= row["max"]
    measured = {(row["scenario"], row["backend"]) for row in results}
    for scenario in ("save-1", "save-batch-100", "concurrent", "get-100", "notifications"):
        assert {(scenario, "popo"), (scenario, "sqlite")} <= measured
    assert ("subscribe-latency p99", "popo") in measured
    assert ("concurrent-processes", "sqlite") in measured
    for backend in ("popo", "sqlite"):
        assert ("game-delivery", backend) in measured
    for backend in ("popo", "sqlite"):
        assert {("replay 300", backend), ("replay 300 peak RSS", backend)} <= measured
        assert {("projection-lag p50", backend), ("projection-lag p99", backend)} <= measured
        assert {("boot 300 replay", backend), ("boot 300 checkpoint", backend)} <= measured
    units = {(row["scenario"], row["backend"]): row["unit"] for row in results}
    assert units[("replay 300", "popo")] == "events/s"
    assert units[("replay 300 peak RSS", "sqlite")] == "MB"
    assert units[("projection-lag p99", "popo")] == "ms"
    assert units[("game-delivery", "sqlite")] == "commands/s"
    assert units[("concurrent-processes", "sqlite")] == "events/s"
    assert units[("boot 300 checkpoint", "sqlite")] == "s"
    assert ("transcode", "OrjsonTranscoder") in measured
    assert ("transcode", "JSONTranscoder") in measured
    for transcoder in ("JSONTranscoder", "OrjsonTranscoder", "FastOrjsonTranscoder"):
        assert ("transcode played", transcoder) in measured
    skipped = {(row["scenario"], row["backend"]): row["reason"] for row in document["skipped"]}
    assert "subscribe" in skipped[("subscribe-latency", "sqlite")]
    assert "one process" in skipped[("concurrent-processes", "popo")]
    assert "proofs" in skipped[("verify", "sqlite")]
    assert any("transcode" in line for line in document["targets"])
    assert any(line.startswith("replay 300 on popo") for line in document["targets"])


def test_immudb_profile_prints_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.immudb_profile`` runs end to end (figures printed, not asserted)."""
    from benchmarks import immudb_profile
    from tests import immudb_harness

    immudb_harness.server()  # skips (or fails in CI) when immudb cannot be built or started
    immudb_profile.run(reps=3, table_counts=(1, 2))
    printed = capsys.readouterr().out
    for heading in ("round trips:", "tables per database:", "tracking:"):
        assert heading in printed
    assert "  2 tables: 1 event" in printed
    assert "1 event + tracking" in printed


def test_new_scenarios_run_on_a_real_immudb() -> None:
    """verify, game-delivery and concurrent-processes end to end on the session's server."""
    import uuid

    from benchmarks.backends import Backend
    from benchmarks.scenarios import SCENARIOS, SIZES
    from tests import immudb_harness

    server = immudb_harness.server()  # skips (or fails in CI) when immudb cannot start
    env = {
        "PERSISTENCE_MODULE": "aethyr_immudb_recorder",
        "IMMUDB_HOST": server.host,
        "IMMUDB_PORT": str(server.port),
    }
    backend = Backend("immudb", env, database_per_app=True)
    size = SIZES["tiny"]
    suffix = uuid.uuid4().hex[:8]
    measured = {}
    for scenario in ("verify", "game-delivery", "concurrent-processes"):
        app_name = f"bench_{scenario.replace('-', '_')}_{suffix}"
        (measure,) = SCENARIOS[scenario](backend, app_name, size)
        measured[measure.scenario] = measure
    assert measured["verify"].unit == "events/s" and measured["verify"].value > 0
    assert measured["game-delivery"].unit == "commands/s"
    assert measured["concurrent-processes"].unit == "events/s"


def test_dcb_scenario_runs_on_a_real_immudb() -> None:
    """The dcb scenario end to end on the session's server (figures, never timings)."""
    import uuid

    from benchmarks.backends import Backend
    from benchmarks.scenarios import SCENARIOS, SIZES
    from tests import immudb_harness

    server = immudb_harness.server()  # skips (or fails in CI) when immudb cannot start
    env = {
        "PERSISTENCE_MODULE": "aethyr_immudb_recorder",
        "IMMUDB_HOST": server.host,
        "IMMUDB_PORT": str(server.port),
    }
    backend = Backend("immudb", env, database_per_app=True)
    measures = SCENARIOS["dcb"](backend, f"bench_dcb_{uuid.uuid4().hex[:8]}", SIZES["tiny"])
    assert [m.scenario for m in measures] == [
        "dcb-append",
        "dcb-append-cond",
        "dcb-append-cond-read",
        "dcb-read-tag",
        "dcb-append-4t",
        "dcb-append-cond-4t",
    ]
    assert all(m.unit == "events/s" and m.value > 0 for m in measures)


def test_replicated_scenario_measures_replicas_on_real_immudb() -> None:
    """``replicated``: no / async / sync replica figures, ratios and lag percentiles."""
    from benchmarks.backends import Backend
    from benchmarks.scenarios import SCENARIOS, SIZES
    from tests import immudb_harness

    immudb_harness.server()  # skips (or fails in CI) when immudb cannot start
    backend = Backend("immudb", {"PERSISTENCE_MODULE": "aethyr_immudb_recorder"})
    measures = {m.scenario: m for m in SCENARIOS["replicated"](backend, "bench_rep", SIZES["tiny"])}
    for kind in ("no replica", "async replica", "sync replica"):
        for scenario in ("save-1", "concurrent"):
            measure = measures[f"replicated {scenario}, {kind}"]
            assert measure.unit == "events/s" and measure.value > 0
    for mode in ("async", "sync"):
        assert measures[f"replicated concurrent, {mode} / none"].unit == "ratio"
        assert measures[f"replicated lag p99, {mode} replica"].unit == "ms"
