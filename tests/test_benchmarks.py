"""The benchmark runner's quick path on a tiny size: code covered, JSON shape checked.

Timings are never asserted (performance is measured in benchmarks/, not tested).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.runner import main
from benchmarks.transcode import game_events


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
    assert ("transcode", "OrjsonTranscoder") in measured
    assert ("transcode", "JSONTranscoder") in measured
    skipped = {(row["scenario"], row["backend"]): row["reason"] for row in document["skipped"]}
    assert "subscribe" in skipped[("subscribe-latency", "sqlite")]
    assert any("transcode" in line for line in document["targets"])


def test_runner_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "tiny", "--scenarios", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_game_events_are_plausible_and_repeatable() -> None:
    events = game_events(20)
    assert events == game_events(20)
    assert all("timestamp" in state for state in events)
    assert any("originator_topic" in state for state in events)


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
