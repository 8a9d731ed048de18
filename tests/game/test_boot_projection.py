"""Boot runs the world projection in process when ``projections_enabled``; the game's
metrics endpoint shows the projection metrics next to the outbox's."""

from __future__ import annotations

import io
from pathlib import Path

import prometheus_client
import pytest

from aethyr_domain.cli.entry import main
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.session import ScriptRunner, boot
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.world_dump import canonical_json, dumps

SCRIPT = """\
@admin ann
ann: acreate Sword sword
bo: look
ann: give sword to bo
bo: wield sword
"""


@pytest.fixture
def sqlite_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerConfig:
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "ev.sqlite"))
    monkeypatch.setenv("AETHYR_OUTBOX_PATH", str(tmp_path / "ob.sqlite"))
    return ServerConfig.load(None)


def test_boot_follows_the_game_with_the_projection(sqlite_config: ServerConfig) -> None:
    assert sqlite_config.projections_enabled  # the default
    manager = boot(sqlite_config)
    try:
        service = manager.projection
        assert service is not None
        ScriptRunner(manager, io.StringIO()).run(SCRIPT.splitlines())
        assert manager.sink is not None
        assert manager.sink.drain(10)  # type: ignore[attr-defined]
        service.wait(service.app.recorder.max_notification_id(), timeout=10)
        assert canonical_json(service.view.query(world_dict)) == dumps(manager.state)
        assert service.update_lag() == (0, 0.0)
    finally:
        manager.close()
    assert manager.closers == []
    # a second boot on the same store catches the same read model up and follows again
    again = boot(sqlite_config)
    try:
        assert canonical_json(again.projection.view.query(world_dict)) == dumps(again.state)
    finally:
        again.close()


def test_projections_disabled_starts_no_projection(
    sqlite_config: ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = boot(sqlite_config.replace(projections_enabled=False))
    try:
        assert manager.projection is None
    finally:
        manager.close()


def test_one_scrape_shows_outbox_recorder_and_projection_metrics() -> None:
    metrics.expose()
    metrics.expose()  # idempotent
    scrape = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "aethyr_outbox_backlog" in scrape
    assert "# TYPE aethyr_projection_lag_events gauge" in scrape
    assert "# TYPE aethyr_projection_rebuild_progress_ratio gauge" in scrape
    assert "# TYPE aethyr_replay_events_total counter" in scrape
    assert "aethyr_replay_seconds_total" in scrape
    assert "per_second" not in scrape  # no pre-computed rates: rate() of the counters


def test_demo_shows_the_projection_equals_the_live_world(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "world printed from the in-process projection matches the live world: yes" in out
    assert "identical: True" in out
