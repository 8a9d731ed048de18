"""Every long-running ``aethyr-es`` process serves ``/metrics`` when ``metrics_enabled``
is set, on the configured port: ``play``, ``project`` and ``rebuild`` (``serve``: in
tests/server/test_serve_cli.py), each scraped
over HTTP while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aethyr_domain.cli.entry import main
from aethyr_immudb_recorder.launcher import free_port
from tests.scrape import names, scrape, value, wait_for

ROOT = Path(__file__).resolve().parents[2]
WORLD = "world_projection"  # the projection label's value
PLAY = "@admin ann\nann: acreate Sword\nann: get sword\nbo: look\n"


def sqlite_env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "AETHYR_EVENT_SOURCING_ENABLED": "1",
        "AETHYR_EVENT_STORE": "sqlite",
        "AETHYR_SQLITE_PATH": str(tmp_path / "ev.sqlite"),
        "AETHYR_OUTBOX_PATH": str(tmp_path / "ob.sqlite"),
        "AETHYR_METRICS_ENABLED": "1",
        "AETHYR_METRICS_PORT": str(port),
    }


def aethyr_es(
    *argv: str, env: dict[str, str], cwd: Path, stdin: int | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aethyr_domain.cli", *argv],
        env=env,
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=stdin,
    )


def test_play_serves_metrics_while_it_runs(tmp_path):
    port = free_port()
    proc = aethyr_es("play", env=sqlite_env(tmp_path, port), cwd=tmp_path, stdin=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        proc.stdin.write(PLAY)
        proc.stdin.flush()  # stdin stays open: the game is still running
        samples = wait_for(
            port,
            lambda s: (
                (value(s, "aethyr_outbox_delivered_total") or 0) >= 4
                and value(s, "aethyr_outbox_backlog") == 0
                and "aethyr_projection_events_processed_total" in names(s)
            ),
            what="the game's commands delivered and projected",
        )
        assert value(samples, "aethyr_outbox_dead_letter_commands") == 0
        assert {
            "aethyr_outbox_delivery_errors_total",
            "aethyr_outbox_dead_letters_total",
            "aethyr_projection_lag_events",
            "aethyr_projection_events_processed_total",
            "process_cpu_seconds_total",
        } <= names(samples)
        info = {"command": "play", "event_sourcing": "true", "event_store": "sqlite"}
        assert value(samples, "aethyr_info", **info) == 1
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.communicate()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_project_serves_metrics_and_stops_on_sigterm(tmp_path):
    env = sqlite_env(tmp_path, free_port())
    script = tmp_path / "s.txt"
    script.write_text(PLAY)
    del env["AETHYR_METRICS_ENABLED"]
    # play keeps no projection here: its in-process follower may or may not have applied
    # the log before play exits, and then `project` would have nothing left to count.
    env["AETHYR_PROJECTIONS_ENABLED"] = "0"
    played = subprocess.run(
        [sys.executable, "-m", "aethyr_domain.cli", "play", "--script", str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert played.returncode == 0, played.stderr
    env["AETHYR_METRICS_ENABLED"] = "1"
    del env["AETHYR_PROJECTIONS_ENABLED"]
    port = int(env["AETHYR_METRICS_PORT"])
    proc = aethyr_es("project", env=env, cwd=tmp_path)
    try:
        samples = wait_for(
            port,
            lambda s: (
                (value(s, "aethyr_projection_events_processed_total", projection=WORLD) or 0) > 0
                and value(s, "aethyr_projection_lag_events", projection=WORLD) == 0
            ),
            what="the projection to apply the whole log",
        )
        assert value(samples, "aethyr_projection_stuck_events", projection=WORLD) == 0
        info = {"command": "project", "event_sourcing": "true", "event_store": "sqlite"}
        assert value(samples, "aethyr_info", **info) == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.startswith("projection stopped at notification ")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rebuild_serves_metrics_while_it_runs(tmp_path, monkeypatch, capsys):
    from aethyr_domain.read.projections import rebuild as rebuild_module

    port = free_port()
    for key, val in sqlite_env(tmp_path, port).items():
        if key.startswith("AETHYR_"):
            monkeypatch.setenv(key, val)
    monkeypatch.delenv("AETHYR_CONFIG", raising=False)
    script = tmp_path / "s.txt"
    script.write_text(PLAY)
    monkeypatch.setenv("AETHYR_METRICS_ENABLED", "0")
    assert main(["play", "--script", str(script)]) == 0
    monkeypatch.setenv("AETHYR_METRICS_ENABLED", "1")
    scrapes = []
    real_rebuild = rebuild_module.rebuild

    def rebuild_then_scrape(*args, **kwargs):
        report = real_rebuild(*args, **kwargs)
        scrapes.append(scrape(port))  # the rebuild command is still running
        return report

    monkeypatch.setattr(rebuild_module, "rebuild", rebuild_then_scrape)
    assert main(["rebuild", "--json"]) == 0
    (samples,) = scrapes
    events = value(samples, "aethyr_projection_rebuild_events_total", projection=WORLD)
    assert events is not None and events > 0
    assert value(samples, "aethyr_projection_rebuild_progress_ratio", projection=WORLD) == 1.0
    assert (value(samples, "aethyr_projection_rebuild_seconds_total", projection=WORLD) or 0) > 0
    with pytest.raises(OSError):  # the endpoint was closed with the command
        scrape(port)


def test_project_stuck_on_an_event_keeps_retrying_and_says_so(tmp_path, caplog):
    """An event the projection cannot apply: the follower stays up, retries with back-off,
    and reports it in the log, ``aethyr_projection_stuck_events`` and the errors counter."""
    import logging
    import threading
    import uuid

    from eventsourcing.persistence import StoredEvent

    from aethyr_domain.cli.projections import run_project_process
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.read.projections import metrics

    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "ev.sqlite"),
        outbox_path=str(tmp_path / "ob.sqlite"),
        retry_base_delay=0.05,
        retry_max_delay=0.2,
    )
    app = open_world(config)
    try:
        bad = StoredEvent(
            originator_id=str(uuid.uuid4()), originator_version=1, topic="no.such:Event", state=b""
        )
        app.recorder.insert_events([bad])
    finally:
        app.close()
    errors = metrics.FOLLOWER_ERRORS.labels(WORLD, "event")
    before = errors._value.get()
    caplog.set_level(logging.WARNING)
    stop = threading.Event()
    position: list[int] = []
    runner = threading.Thread(
        target=lambda: position.append(run_project_process(config, stop=stop, check_interval=0.05))
    )
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while errors._value.get() < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert errors._value.get() >= before + 3  # retried again and again, still alive
        assert runner.is_alive()
        assert metrics.STUCK_EVENTS.labels(WORLD)._value.get() == 1
    finally:
        stop.set()
        runner.join(30)
    assert position == [0]  # it never got past the bad event
    assert any("cannot apply the next event" in r.getMessage() for r in caplog.records)


def test_the_dead_letter_gauge_counts_what_the_outbox_holds(tmp_path):
    """``aethyr_outbox_dead_letter_commands`` rises with each refusal and is set from the
    outbox when delivery starts, so it survives a restart (the alert's "> 0")."""
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.outbox.delivery import OUTBOX_DEAD_LETTERS, Deliverer, deliver_pending
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.outbox.queue import Outbox

    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "ev.sqlite"),
        outbox_path=str(tmp_path / "ob.sqlite"),
    )
    world = open_world(config)
    outbox = Outbox(config.outbox_path)
    try:
        OUTBOX_DEAD_LETTERS.set(0)
        outbox.append("NoSuchCommand", {"id": "x"}, "system")
        outbox.append("NoSuchCommand", {"id": "y"}, "system")
        dead = 0
        for _round in range(5):  # legacy command rows may take a round each
            dead += deliver_pending(outbox, world).dead
            if not outbox.backlog():
                break
        assert dead == 2
        assert OUTBOX_DEAD_LETTERS._value.get() == 2
        OUTBOX_DEAD_LETTERS.set(0)  # as in a new process
        deliverer = Deliverer(outbox, config, lambda: world, close_world=False).start()
        assert OUTBOX_DEAD_LETTERS._value.get() == 2
        assert deliverer.stop()
    finally:
        outbox.close()
        world.close()
