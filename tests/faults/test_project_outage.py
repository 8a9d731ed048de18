"""``aethyr-es project`` survives an immudb outage far longer than its retries (~3 s):
it logs and counts the failure, attaches again with back-off once the server is back,
catches up with what was written meanwhile, and exits only on SIGTERM.

A real, synced immudb is stopped for 8 s and restarted on the same data dir and port;
the projection runs as its own OS process with its metrics endpoint, scraped over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aethyr_domain.commands import CreateRoom, UpdateRoomDescription
from aethyr_domain.outbox.event_store import open_world
from aethyr_immudb_recorder.launcher import ImmudbServer, free_port
from tests.faults.support import immudb_config, write_config_file
from tests.scrape import value, wait_for

pytestmark = pytest.mark.immudb

OUTAGE_SECONDS = 8.0
WORLD = "world_projection"
ERRORS = "aethyr_projection_follower_errors_total"


def _write(config, prefix: str, rooms: int) -> int:
    """Write some rooms; the store's last notification id."""
    app = open_world(config)
    try:
        for r in range(rooms):
            app.handle(CreateRoom(f"{prefix}-{r}", f"Room {r}", "A room."))
            app.handle(UpdateRoomDescription(f"{prefix}-{r}", f"{prefix} {r}"))
        return int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()


def test_project_survives_a_long_immudb_outage_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = ImmudbServer(synced=True, data_dir=tmp_path / "immudb").start()
    port = free_port()
    proc: subprocess.Popen[str] | None = None
    try:
        config = immudb_config(server, "aethyr", tmp_path, metrics_enabled=True, metrics_port=port)
        head = _write(config, "before", rooms=5)
        config_file = write_config_file(config, tmp_path / "aethyr.toml")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "aethyr_domain.cli", "project", "--config", str(config_file)],
            env=env,
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wait_for(
            port,
            lambda s: (
                value(s, "aethyr_projection_events_processed_total", projection=WORLD) == head
            ),
            what="the projection to catch up",
        )

        server.kill()  # SIGKILL: the outage begins
        down_at = time.monotonic()
        samples = wait_for(
            port,
            lambda s: (value(s, ERRORS, projection=WORLD, reason="outage") or 0) >= 1,
            timeout=OUTAGE_SECONDS,
            what="the outage to be counted",
        )
        assert value(samples, "aethyr_projection_stuck_events", projection=WORLD) == 0
        time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - down_at), 0.0))
        assert proc.poll() is None, proc.communicate()  # alive through the whole outage

        server.start()  # same data dir, same port
        new_head = _write(config, "after", rooms=3)
        assert new_head > head
        samples = wait_for(
            port,
            lambda s: (
                value(s, "aethyr_projection_events_processed_total", projection=WORLD) == new_head
                and value(s, "aethyr_projection_lag_events", projection=WORLD) == 0
            ),
            timeout=60,
            what="the projection to catch up after the restart",
        )
        assert value(samples, "aethyr_projection_stuck_events", projection=WORLD) == 0

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out == f"projection stopped at notification {new_head}\n"
        assert "Traceback" not in err
        assert "lost the event store" in err and "attaching again in" in err
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
