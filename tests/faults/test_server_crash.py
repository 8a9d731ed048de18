"""SIGKILL the immudb server in the middle of 2,000+ scripted game actions, keep it down
for 30 s, restart it on the same data dir.

Proves, against a real (synced) immudb:

* the game keeps answering throughout: every action returns a reply, and the outbox
  backlog grows while the server is down (the actions did not wait for the store);
* the backlog metric (``aethyr_outbox_backlog``) rises during the outage and falls to 0
  after the restart (sampled every 0.2 s);
* afterwards the store holds exactly the events of the emitted commands, once each and
  in order: its (aggregate, version, topic) log equals the one an in-memory reference
  World makes from the same commands;
* a replay of the log and the projection caught up on immudb equal the live world;
* no plaintext password reached the outbox file while commands were pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections.opening import open_view
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, world_from_dict
from aethyr_immudb_recorder.launcher import ImmudbServer
from tests.faults.game_load import GameLoad, reference_log, store_log
from tests.faults.support import immudb_config
from tests.game.outbox_support import outbox_sink

pytestmark = pytest.mark.immudb

ACTIONS_BEFORE, ACTIONS_DURING, ACTIONS_AFTER = 600, 900, 600
OUTAGE_SECONDS = 30.0


class BacklogSampler(threading.Thread):
    """Samples the backlog gauge every ``interval`` seconds: (time, value) pairs."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            value = REGISTRY.get_sample_value("aethyr_outbox_backlog") or 0.0
            self.samples.append((time.monotonic(), value))
            self.halt.wait(self.interval)


def _plaintext_on_disk(outbox_path: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in outbox_path.parent.glob(outbox_path.name + "*"):
        data = path.read_bytes()
        found += [f"{s} in {path.name}" for s in secrets if s.encode() in data]
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImmudbServer]:
    """A synced server on a data dir in ``tmp_path``; stopped after the test whatever
    happened to it (the test SIGKILLs it and starts it again on the same data dir)."""
    srv = ImmudbServer(synced=True, data_dir=tmp_path / "immudb").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_sigkill_and_30s_outage_during_2000_actions(tmp_path, caplog, server):
    caplog.set_level(logging.DEBUG)
    config = immudb_config(server, "aethyr", tmp_path)
    manager = boot(config)
    sampler = BacklogSampler()
    try:
        load = GameLoad(manager)
        sink = outbox_sink(manager.sink)
        assert sink is not None
        sampler.start()
        for _ in range(ACTIONS_BEFORE):
            assert load.next_action()
        server.kill()  # SIGKILL, possibly in the middle of a delivery
        killed_at = time.monotonic()
        emitted_before_outage = len(load.emitted)
        spacing = (OUTAGE_SECONDS - 1.0) / ACTIONS_DURING
        for n in range(ACTIONS_DURING):
            assert load.next_action()
            if n == ACTIONS_DURING // 2:
                manager.set_password(load.players[0], "changed-secret-pw", actor=load.players[0])
            time.sleep(spacing)
        backlog_down = sink.backlog()
        emitted_during = len(load.emitted) - emitted_before_outage
        leaked = _plaintext_on_disk(
            Path(config.outbox_path),
            ["changed-secret-pw", "bob-secret-pw", "alice-secret-pw", "carol-secret-pw"],
        )
        while time.monotonic() - killed_at < OUTAGE_SECONDS:
            time.sleep(0.1)
        server.start()  # same port, same data dir
        restarted_at = time.monotonic()
        for _ in range(ACTIONS_AFTER):
            assert load.next_action()
        assert sink.drain(180), sink.deliverer.last_error
        drained_at = time.monotonic()
        sampler.halt.set()
        sampler.join()
        assert sink.outbox.dead_letters() == []
    finally:
        sampler.halt.set()
        manager.close()

    total_actions = ACTIONS_BEFORE + ACTIONS_DURING + ACTIONS_AFTER
    assert load.step == total_actions >= 2000
    # The game answered while the store was down: what it decided piled up in the outbox
    # (one entry per command: this load emits no command that changes nothing; group
    # commits keep up before the kill, so the outage's commands are the backlog).
    assert backlog_down >= emitted_during > ACTIONS_DURING // 2
    assert leaked == []
    # The backlog metric rose during the outage and fell back to 0 after the restart.
    during = [v for t, v in sampler.samples if killed_at <= t < restarted_at]
    after = [v for t, v in sampler.samples if t >= restarted_at]
    assert max(during) >= emitted_during
    assert during[-1] >= during[0]
    assert after[-1] == 0.0 or REGISTRY.get_sample_value("aethyr_outbox_backlog") == 0.0

    app = open_world(config)
    try:
        stored = store_log(app)
        expected = reference_log(load.emitted)
        # Exactly once: no (aggregate, version) twice, nothing missing, same order.
        assert [k for k, c in Counter((a, v) for a, v, _t in stored).items() if c > 1] == []
        assert len(stored) == len(expected)
        assert stored == expected
        live = dumps(manager.state)
        assert dumps(rebuild_world_state(app)) == live
        view = open_view(config)
        ProjectionService(app, view).catch_up(batch_size=250)
        assert dumps(world_from_dict(view.query(world_dict))) == live
    finally:
        app.close()

    for secret in ("changed-secret-pw", "bob-secret-pw", "alice-secret-pw"):
        assert secret not in caplog.text
    latencies = sorted(load.latencies)
    print(
        f"\nserver crash: {total_actions} actions, {len(stored)} events; backlog peak "
        f"{max(during):.0f}; drained {drained_at - restarted_at:.1f}s after restart; action "
        f"latency p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
