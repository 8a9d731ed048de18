"""The benchmark runner's quick path on a tiny size: code covered, JSON shape checked.

Timings are never asserted (performance is measured in benchmarks/, not tested).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aethyr_domain.replay import rebuild_world_state, replay_world
from aethyr_domain.world_dump import dumps, world_from_dict
from benchmarks.game_log import game_log
from benchmarks.replay import label
from benchmarks.replay_child import world_class
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
    for backend in ("popo", "sqlite"):
        assert {("replay 300", backend), ("replay 300 peak RSS", backend)} <= measured
        assert {("projection-lag p50", backend), ("projection-lag p99", backend)} <= measured
        assert {("boot 300 replay", backend), ("boot 300 checkpoint", backend)} <= measured
    units = {(row["scenario"], row["backend"]): row["unit"] for row in results}
    assert units[("replay 300", "popo")] == "events/s"
    assert units[("replay 300 peak RSS", "sqlite")] == "MB"
    assert units[("projection-lag p99", "popo")] == "ms"
    assert units[("boot 300 checkpoint", "sqlite")] == "s"
    assert ("transcode", "OrjsonTranscoder") in measured
    assert ("transcode", "JSONTranscoder") in measured
    for transcoder in ("JSONTranscoder", "OrjsonTranscoder", "FastOrjsonTranscoder"):
        assert ("transcode played", transcoder) in measured
    skipped = {(row["scenario"], row["backend"]): row["reason"] for row in document["skipped"]}
    assert "subscribe" in skipped[("subscribe-latency", "sqlite")]
    assert any("transcode" in line for line in document["targets"])
    assert any(line.startswith("replay 300 on popo") for line in document["targets"])


def test_runner_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "tiny", "--scenarios", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_game_events_are_plausible_and_repeatable() -> None:
    events = game_events(20)
    assert events == game_events(20)
    assert all("timestamp" in state for state in events)
    assert any("originator_topic" in state for state in events)


def test_the_game_log_is_repeatable_and_replays_to_the_same_world_both_ways() -> None:
    log = game_log(1500)
    assert len(log) >= 1500
    again = game_log(1500)
    assert [(e.originator_id, e.originator_version, e.topic) for e in log] == [
        (e.originator_id, e.originator_version, e.topic) for e in again
    ]
    topics = {e.topic.rsplit(":", 1)[1] for e in log}
    assert {"RoomCreated", "PlayerCreated", "ItemAddedToInventory", "ItemEquipped"} <= topics
    world = world_class("copied")(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    world.recorder.insert_events(log)
    rebuilt = rebuild_world_state(world)
    assert rebuilt.equipment and rebuilt.inventories and rebuilt.players
    # aggregates (rebuild_world_state) and the read model's event logic (replay_world) agree
    assert dumps(rebuilt) == dumps(world_from_dict(replay_world(world).world))


def test_replay_size_labels() -> None:
    assert [label(n) for n in (300, 20_000, 100_000, 1_000_000)] == ["300", "20k", "100k", "1M"]


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
