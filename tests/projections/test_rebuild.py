"""Blue/green rebuild: fresh tables, built while the game writes, equal to the incremental."""

from __future__ import annotations

import io
import threading

from aethyr_domain.application import World
from aethyr_domain.projections import metrics
from aethyr_domain.projections.projection import WorldProjection
from aethyr_domain.projections.queries import world_dict
from aethyr_domain.projections.rebuild import Progress, rebuild
from aethyr_domain.projections.runner import ProjectionService
from aethyr_domain.world_dump import canonical_json, dumps
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
