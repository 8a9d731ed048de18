"""Closing views: whoever opens a view with ``open_view`` closes it, also when a rebuild
makes it replace the view (the old one's datastore and connections are released)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aethyr_domain.cli import projections as cli_commands
from aethyr_domain.config import ServerConfig
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.read.projections import opening
from aethyr_domain.read.projections.rebuild import rebuild
from aethyr_domain.read.projections.view import WorldView

STORES = ["sqlite", "popo", pytest.param("immudb", marks=pytest.mark.immudb)]

open_view = opening.open_view  # the real one: the ``opened`` fixture wraps the module's


@pytest.fixture(params=STORES)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> ServerConfig:
    common: dict[str, Any] = {
        "event_sourcing_enabled": True,
        "outbox_path": str(tmp_path / "outbox.sqlite"),
    }
    if request.param == "sqlite":
        return ServerConfig(
            event_store="sqlite", sqlite_path=str(tmp_path / "events.sqlite"), **common
        )
    if request.param == "popo":
        return ServerConfig(event_store="popo", **common)
    from tests import immudb_harness

    srv = immudb_harness.server()
    return ServerConfig(
        event_store="immudb",
        immudb_address=srv.host,
        immudb_port=srv.port,
        immudb_database=immudb_harness.fresh_database("close"),
        **common,
    )


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[WorldView]]:
    """Every view ``open_view`` returns during the test (the real ones, recorded)."""
    views: list[WorldView] = []

    def recording(config: ServerConfig) -> WorldView:
        view = open_view(config)
        views.append(view)
        return view

    monkeypatch.setattr(cli_commands, "open_view", recording)  # the projection commands
    monkeypatch.setattr(opening, "open_view", recording)  # boot imports it when it runs
    yield views
    for view in views:  # never leak a connection, whatever the test did
        view.close()


def resources_released(view: WorldView) -> bool:
    """The view is closed and so is whatever connection it held."""
    datastore = getattr(view, "datastore", None)
    if datastore is None:  # the memory view holds no connection
        return view.closed
    pool = getattr(datastore, "pool", None)  # eventsourcing's SQLiteDatastore
    return view.closed and bool(pool.closed if pool is not None else datastore.closed)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_close_releases_the_views_factory_and_is_idempotent(config: ServerConfig) -> None:
    view = open_view(config)
    other = view.open_generation(view.generation + 1)  # shares the store, owns nothing
    other.close()
    assert other.closed and not view.closed
    assert view.schema_version() == 2  # the parent still works
    view.close()
    view.close()
    assert resources_released(view)


def rebuild_elsewhere(config: ServerConfig, attached: WorldView) -> None:
    """Rebuild the read model ``attached`` reads, as ``aethyr-es rebuild`` in another
    process would (through ``attached`` itself for the in-memory store, whose read
    model exists only in that view)."""
    world = open_world(config)
    try:
        if config.event_store == "popo":
            rebuild(world, attached)
            return
        view = open_view(config)
        try:
            rebuild(world, view)
        finally:
            view.close()
    finally:
        world.close()


def start_project_loop(config: ServerConfig, stop: threading.Event) -> tuple[Any, list[int]]:
    result: list[int] = []
    process = threading.Thread(
        target=lambda: result.append(
            cli_commands.run_project_process(config, stop=stop, check_interval=0.05)
        )
    )
    process.start()
    return process, result


def test_project_process_closes_the_view_a_rebuild_replaced(
    config: ServerConfig, opened: list[WorldView]
) -> None:
    stop = threading.Event()
    process, result = start_project_loop(config, stop)
    try:
        wait_for(lambda: len(opened) == 1, "the project loop opened its view")
        first = opened[0]
        rebuild_elsewhere(config, first)
        wait_for(lambda: len(opened) == 2, "the project loop re-attached")
        wait_for(lambda: resources_released(first), "the replaced view was closed")
        assert not opened[1].closed
    finally:
        stop.set()
        process.join(30)
    assert not process.is_alive() and result == [0]
    assert all(resources_released(view) for view in opened)


def test_project_process_survives_a_rebuild_between_its_check_and_its_lag_read(
    config: ServerConfig, opened: list[WorldView]
) -> None:
    """The loop checks ``is_current()``, then reads the lag from the view: a rebuild
    that drops the old generation in between must lead to a re-attach, not a crash."""
    stop = threading.Event()
    process, result = start_project_loop(config, stop)
    try:
        wait_for(lambda: len(opened) == 1, "the project loop opened its view")
        first = opened[0]
        checked = first.is_current
        rebuilt = threading.Event()

        def current_then_rebuilt() -> bool:  # the rebuild lands right after the check
            answer = checked()
            if answer and not rebuilt.is_set():
                rebuild_elsewhere(config, first)
                rebuilt.set()
            return answer

        first.is_current = current_then_rebuilt  # type: ignore[method-assign]
        wait_for(rebuilt.is_set, "the rebuild ran inside the loop's check")
        wait_for(lambda: len(opened) == 2 or not process.is_alive(), "the loop re-attached")
        assert process.is_alive(), "the project loop died"
    finally:
        stop.set()
        process.join(30)
    assert not process.is_alive() and result == [0]
    assert all(resources_released(view) for view in opened)


@pytest.mark.parametrize(
    "argv",
    [
        ["world", "--json", "--source", "projection"],
        ["schema", "--json"],
        ["rebuild", "--json"],
        ["rebuild", "--cleanup"],
        ["project", "--once"],
    ],
)
def test_cli_commands_close_the_views_they_open(
    config: ServerConfig,
    opened: list[WorldView],
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aethyr_domain.cli.entry import main

    monkeypatch.setattr(ServerConfig, "load", classmethod(lambda cls, path: config))
    assert main(argv) == 0, capsys.readouterr().err
    assert opened
    assert all(resources_released(view) for view in opened)


def test_boot_closes_the_projection_view_when_the_manager_closes(
    config: ServerConfig, opened: list[WorldView]
) -> None:
    from aethyr_domain.game.session import boot

    manager = boot(config)
    try:
        assert manager.projection is not None and opened == [manager.projection.view]
        assert not opened[0].closed
    finally:
        manager.close()
    assert resources_released(opened[0])
