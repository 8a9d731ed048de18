"""A projection process SIGKILLed mid-catch-up resumes from its tracking position.

The view's rows and its tracking position commit in one immudb transaction, so after
the kill the position says exactly what was applied: the resumed pass applies exactly
``head - position`` events (nothing skipped, nothing applied twice) and the view then
equals a replay of the log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aethyr_domain.commands import CreateGameObject, CreateRoom, UpdateGameObjectContainer
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections.opening import open_view
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, world_from_dict
from tests.faults.support import immudb_config
from tests.immudb_harness import fresh_database, server

pytestmark = pytest.mark.immudb

CHILD = Path(__file__).with_name("project_child.py")


def test_projection_killed_mid_batch_resumes_without_skip_or_repeat(tmp_path):
    srv = server()
    database = fresh_database("projcrash")
    config = immudb_config(srv, database, tmp_path)
    app = open_world(config)
    app.handle(CreateRoom("hall", "Hall", "Big."))
    app.handle(CreateRoom("yard", "Yard", "Open."))
    for n in range(25):
        app.handle(CreateGameObject(f"box-{n}", f"box {n}", "box", container_id="hall"))
        app.handle(UpdateGameObjectContainer(f"box-{n}", "yard"))
    head = app.recorder.max_notification_id()
    child = subprocess.Popen(
        [sys.executable, str(CHILD), srv.host, str(srv.port), database],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    applied = [int(child.stdout.readline().split()[1]) for _ in range(37)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    try:
        view = open_view(config)
        position = view.max_tracking_id(app.name)
        assert position is not None and head is not None
        assert applied == list(range(1, 38))  # in order, one by one
        assert 37 <= position < head  # what was reported is committed; killed mid-way
        resumed = ProjectionService(app, view).catch_up()
        assert resumed == head - position  # nothing skipped or repeated
        assert view.max_tracking_id(app.name) == head
        assert dumps(world_from_dict(view.query(world_dict))) == dumps(rebuild_world_state(app))
    finally:
        app.close()
