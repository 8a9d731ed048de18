"""The benchmarks' parts without a measurement: tables, ratios, the game log, the
delivery scenario's commands, the runner's refusal of an unknown scenario.

The scenarios themselves run end to end in ``tests/test_benchmark_runs.py`` (slow).
Timings are never asserted (performance is measured in benchmarks/, not tested).
"""

from __future__ import annotations

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


def test_cpu_seconds_reads_a_process_tree_and_none_for_a_gone_process() -> None:
    """``server-load``'s CPU columns: a process's own CPU, its children's added with
    ``tree``, and no reading (not 0) for a process that is gone (a killed server)."""
    import os
    import subprocess
    import sys

    from benchmarks.cpu_time import cpu_seconds

    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", busy + "time.sleep(30)"])
    try:
        deadline = 0
        while (cpu_seconds(child.pid) or 0.0) < 0.25 and deadline < 200:  # its busy start
            subprocess.run(["sleep", "0.05"], check=True)
            deadline += 1
        own = cpu_seconds(os.getpid(), tree=False)
        with_children = cpu_seconds(os.getpid())
        assert own is not None and with_children is not None
        assert with_children >= own + 0.25  # the child's busy loop is in the tree
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds(child.pid) is None
