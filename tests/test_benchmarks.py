"""The benchmark runner's quick path on a tiny size: code covered, JSON shape checked.

Timings are never asserted (performance is measured in benchmarks/, not tested).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aethyr_domain.read.replay import rebuild_world_state, replay_world
from aethyr_domain.read.world_dump import dumps, world_from_dict
from benchmarks.game_log import accepted_commands, game_log, setup_size
from benchmarks.replay import label
from benchmarks.replay_child import world_class
from benchmarks.runner import main
from benchmarks.stats import Results, durable_ratio, durable_table, table, targets
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


def test_durable_headline_compares_synced_immudb_with_postgres() -> None:
    """The headline table: ratios oriented so > 1 means immudb-synced is better."""
    results = Results()
    for value in (100.0, 120.0, 110.0):
        results.add("save-1", "immudb-synced", value, "events/s")
    for value in (200.0, 220.0):
        results.add("save-1", "postgres", value, "events/s")
    results.add("get-100", "immudb-synced", 2.0, "ms")
    results.add("get-100", "postgres", 3.0, "ms")
    results.add("concurrent", "immudb", 900.0, "events/s")  # unsynced: not in the headline
    results.add("concurrent", "postgres", 300.0, "events/s")
    assert durable_ratio(results, "save-1") == pytest.approx(110 / 210)
    assert durable_ratio(results, "get-100") == pytest.approx(1.5)  # time: inverted
    assert durable_ratio(results, "concurrent") is None
    headline = durable_table(results)
    assert headline is not None
    lines = headline.splitlines()
    assert lines[0].split() == ["scenario", "unit", "immudb-synced", "postgres", "ratio", "target"]
    assert "0.52x" in lines[2] and ">= 1.2x MISSED" in lines[2]
    assert "1.50x" in lines[3] and ">= 1.5x met" in lines[3]
    assert not any(line.startswith("concurrent") for line in lines)
    found = targets(results)
    assert "immudb UNSYNCED vs postgres, concurrent: 3.00x (target >= 2x) met" in found
    assert any(
        line.startswith("immudb-synced vs postgres, get-100 (time, inverted): 1.50x")
        for line in found
    )
    assert "immudb UNSYNCED" in table(results, ["postgres", "immudb-synced", "immudb"])
    assert durable_table(Results()) is None


def test_game_delivery_commands_go_through_the_outbox_into_the_store(tmp_path: Path) -> None:
    """The delivery scenario's commands are decided into the outbox and all delivered."""
    from aethyr_domain.outbox.queue import Outbox
    from benchmarks.game_delivery import deliver_all, fill_outbox

    game = accepted_commands(60)
    assert len(game.actions) == 60 and len(game.setup) == setup_size(8)
    assert len(game.setup_events) >= len(game.setup)
    world = world_class("DeliveryCheck")(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo", "SCRYPT_N": "1024"}
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    try:
        world.recorder.insert_events(game.setup_events)
        before = world.recorder.max_notification_id() or 0
        fill_outbox(outbox, world, game.actions)
        assert outbox.backlog() == 60
        assert deliver_all(outbox, world, batch_size=25) == 60
        assert outbox.backlog() == 0 and outbox.dead_letters() == []
        assert (world.recorder.max_notification_id() or 0) > before
    finally:
        outbox.close()
        world.close()


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
