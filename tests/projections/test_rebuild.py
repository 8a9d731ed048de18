"""Blue/green rebuild: fresh tables, built while the game writes, equal to the incremental."""

from __future__ import annotations

import io
import threading

import pytest

from aethyr_domain.application import World
from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections import rebuild as rebuild_module
from aethyr_domain.read.projections.memory_view import MemoryWorldView
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.queries import world_dict
from aethyr_domain.read.projections.rebuild import Progress, cleanup, rebuild
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView
from aethyr_domain.read.projections.view import WorldView
from aethyr_domain.read.world_dump import canonical_json, dumps
from tests.projections.conftest import MakeView
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, Step, play


def more_steps(n: int) -> list[Step]:
    """Items created and moved around: the game writing during a rebuild."""
    steps: list[Step] = []
    for i in range(n):
        steps.append(
            (
                "CreateGameObject",
                {"id": f"coin-{i}", "name": f"coin {i}", "generic": "coin", "container_id": "hall"},
                "ada",
            )
        )
        steps.append(
            ("UpdateGameObjectContainer", {"id": f"coin-{i}", "container_id": "ada"}, "ada")
        )
    return steps


def test_rebuilt_read_model_equals_the_incremental_one(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP)
    incremental = make_view()
    with ProjectionService(world, incremental) as service:
        play(world, live, steps=ACTIONS)
        service.wait(world.recorder.max_notification_id(), timeout=20)
    incremental_json = canonical_json(incremental.query(world_dict))
    assert incremental_json == dumps(live)

    report = rebuild(world, make_view())
    assert (report.old_generation, report.new_generation) == (1, 2)
    assert report.events == world.recorder.max_notification_id()
    rebuilt = make_view()  # a reader opening now gets the new generation
    assert rebuilt.generation == 2
    assert rebuilt.generations() == {2: "active"}
    assert canonical_json(rebuilt.query(world_dict)) == incremental_json
    assert [m.version for m in rebuilt.applied_migrations()] == [1, 2]


def test_rebuild_while_the_game_keeps_writing(make_view: MakeView) -> None:
    world = World(env=FAST_ENV)
    live = play(world)
    view = make_view()
    ProjectionService(world, view).catch_up()
    writer = threading.Thread(target=play, args=(world, live, more_steps(40)))
    writer.start()
    report = rebuild(world, view)
    writer.join()
    fresh = view.open_generation(report.new_generation)
    ProjectionService(world, fresh).catch_up()  # what arrived after the switch
    assert canonical_json(fresh.query(world_dict)) == dumps(live)
    assert fresh.is_current() and not view.is_current()
    assert metrics.REBUILD_PROGRESS.labels(WorldProjection.name)._value.get() == 1.0


def test_progress_bar_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    progress = Progress(200, out)
    progress.update(100)
    progress.update(200)
    progress.finish()
    text = out.getvalue()
    assert "rebuild [" in text and "200/200 events" in text and "ETA 0s" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    Progress(10, quiet).update(10)
    assert quiet.getvalue() == ""  # no bar when not a terminal


def physical_generations(view: WorldView) -> set[int]:
    """Generation numbers that have tables in the store (``rm<N>_...``)."""
    if isinstance(view, MemoryWorldView):
        return set(view.store.tables)
    if isinstance(view, SQLiteWorldView):
        with view.datastore.transaction(commit=False) as c:
            c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            names = [str(row[0]) for row in c.fetchall()]
    else:
        from aethyr_immudb_recorder.recorders import existing_tables

        datastore = view.datastore  # type: ignore[attr-defined]
        names = sorted(datastore.run("tables", lambda s: existing_tables(datastore, s)))
    return {int(n[2:].split("_", 1)[0]) for n in names if n.startswith("rm") and "_" in n}


class RebuildInterruptedError(RuntimeError):
    """Stands for a crash or a Ctrl-C in the middle of a rebuild."""


def test_an_interrupted_rebuild_is_cleaned_up_by_the_next_one(
    make_view: MakeView, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(env=FAST_ENV)
    live = play(world)
    incremental = make_view()
    ProjectionService(world, incremental).catch_up()
    incremental_json = canonical_json(incremental.query(world_dict))
    assert incremental_json == dumps(live)
    head = world.recorder.max_notification_id() or 0

    # interrupt the replay mid-way: some batches of generation 2 are committed
    monkeypatch.setattr(rebuild_module, "BATCH_SIZE", 5)
    real_update = Progress.update

    def update(self: Progress, position: int) -> None:
        real_update(self, position)
        if position >= head // 2:
            raise RebuildInterruptedError(position)

    monkeypatch.setattr(Progress, "update", update)
    with pytest.raises(RebuildInterruptedError):
        rebuild(world, make_view())
    leftover = make_view()
    assert leftover.generations() == {1: "active", 2: "building"}
    assert physical_generations(leftover) == {1, 2}
    half = leftover.open_generation(2)
    assert 0 < (half.max_tracking_id(world.name) or 0) < head  # really half built

    monkeypatch.setattr(Progress, "update", real_update)
    report = rebuild(world, make_view())
    assert report.cleaned_up == (2,)
    assert report.as_dict()["cleaned_up"] == [2]
    rebuilt = make_view()
    assert rebuilt.generations() == {report.new_generation: "active"}
    assert physical_generations(rebuilt) == {report.new_generation}  # no stray tables
    assert canonical_json(rebuilt.query(world_dict)) == incremental_json  # byte for byte
    assert cleanup(rebuilt) == ()  # nothing left to clean


def test_cleanup_drops_a_generation_retired_but_not_dropped(make_view: MakeView) -> None:
    """A rebuild stopped between the switch and the drop leaves a ``retired`` one."""
    world = World(env=FAST_ENV)
    play(world, steps=SETUP)
    old = make_view()
    ProjectionService(world, old).catch_up()
    new = old.open_generation(2)
    ProjectionService(world, new).catch_up()
    new.activate()
    assert new.generations() == {1: "retired", 2: "active"}
    assert cleanup(new) == (1,)
    assert new.generations() == {2: "active"}
    assert physical_generations(new) == {2}
