"""The dual-write path on the embedded stores (POPO and sqlite): scripted actions ->
outbox -> World -> a replay of the log prints the same JSON as the live world."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from aethyr_domain import ServerConfig
from aethyr_domain.cli.play import DEMO_SCRIPT
from aethyr_domain.errors import NotFoundError
from aethyr_domain.game.migrate import MigrationError, migrate_to_event_store
from aethyr_domain.game.session import ScriptRunner, boot
from aethyr_domain.outbox.event_store import iter_notifications, open_world, topic_name
from aethyr_domain.read.replay import rebuild_world_state
from aethyr_domain.read.world_dump import dumps, loads
from tests.game.outbox_support import outbox_sink


def _config(store, tmp_path):
    return ServerConfig(
        event_sourcing_enabled=True,
        event_store=store,
        sqlite_path=str(tmp_path / "events.sqlite"),
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_poll_interval=0.05,
    )


def _event_types(app):
    return Counter(topic_name(n.topic) for n in iter_notifications(app))


@pytest.fixture(params=["popo", "sqlite"])
def store(request):
    return request.param


def _play(config, app, script=DEMO_SCRIPT):
    manager = boot(config, world=app)
    out = io.StringIO()
    ScriptRunner(manager, out).run(script.splitlines())
    sink = outbox_sink(manager.sink)
    assert sink.drain(20)
    assert sink.outbox.dead_letters() == []
    emitted = sink.outbox.delivered_count()
    manager.close()
    return manager, emitted, out.getvalue()


def test_replay_matches_live_world(store, tmp_path):
    config = _config(store, tmp_path)
    app = open_world(config)
    manager, delivered, transcript = _play(config, app)
    assert "You put on a nice shirt (torso)." in transcript
    live = dumps(manager.state)
    assert dumps(rebuild_world_state(app)) == live
    types = _event_types(app)
    # exactly once: one GameObjectCreated per object, one PlayerCreated per player
    assert types["GameObjectCreated"] == len(manager.state.objects)
    assert types["PlayerCreated"] == len(manager.state.players) == 2
    assert types["GameObjectDeleted"] == sum(o.deleted for o in manager.state.objects.values())
    assert delivered > 30
    app.close()


def test_actor_is_recorded(store, tmp_path):
    config = _config(store, tmp_path)
    app = open_world(config)
    manager, _n, _t = _play(config, app, "@admin ann\nann: acreate Sword\nbo: get sword\n")
    actors: dict[str, set[str]] = {}
    from aethyr_domain.outbox.event_store import iter_events

    for event in iter_events(app):
        actors.setdefault(type(event).__name__, set()).add(event.actor)
    ann = manager.state.find_player_by_name("ann").id
    bo = manager.state.find_player_by_name("bo").id
    assert actors["GameObjectAttributesUpdated"] == {ann}
    assert bo in actors["GameObjectContainerUpdated"]
    assert actors["PlayerAdminStatusUpdated"] == {"system"}
    app.close()


def test_migrate_dump_into_fresh_store_twice(store, tmp_path):
    config = _config(store, tmp_path)
    source = open_world(config)
    manager, _n, _t = _play(config, source)
    text = dumps(manager.state)
    target_config = config.replace(sqlite_path=str(tmp_path / "imported.sqlite"))
    target = open_world(target_config)
    first = migrate_to_event_store(target, loads(text))
    assert first.total > 0
    assert dumps(rebuild_world_state(target)) == text
    count = sum(_event_types(target).values())
    second = migrate_to_event_store(target, loads(text))
    assert second.total == 0
    assert second.already_present == len(manager.state.objects)
    assert sum(_event_types(target).values()) == count
    source.close()
    target.close()


class ForgetfulWorld:
    """A real World whose reads never show one object, as a store that lost (or never
    kept) a write would look to the import."""

    def __init__(self, world, lost_id):
        self.world, self.lost_id = world, lost_id

    def handle(self, command):
        return self.world.handle(command)

    def get(self, object_id):
        if object_id == self.lost_id:
            raise NotFoundError(object_id)
        return self.world.get(object_id)


def test_migrate_stops_with_a_typed_error_when_the_store_loses_an_object(store, tmp_path):
    config = _config(store, tmp_path)
    source = open_world(config)
    manager, _n, _t = _play(config, source)
    source.close()
    dump = loads(dumps(manager.state))
    lost = sorted(dump.rooms)[0]
    target = open_world(config.replace(sqlite_path=str(tmp_path / "imported.sqlite")))
    with pytest.raises(MigrationError, match=rf"object {lost!r} is missing") as refused:
        migrate_to_event_store(ForgetfulWorld(target, lost), dump)  # type: ignore[arg-type]
    assert refused.value.object_id == lost
    assert "import stopped" in str(refused.value)
    assert target.get(lost).name == dump.objects[lost].name  # the write itself happened
    target.close()


def test_sqlite_restart_rebuilds_the_live_world(tmp_path):
    config = _config("sqlite", tmp_path)
    manager, _n, _t = _play(config, None)
    before = dumps(manager.state)
    again = boot(config)
    try:
        assert dumps(again.state) == before
        out = io.StringIO()
        ScriptRunner(again, out).run(["bob: look"])
        assert "Also here" not in out.getvalue() or "alice" in out.getvalue()
        assert again.state.find_player_by_name("bob") is not None
    finally:
        again.close()


def test_store_down_never_blocks_and_delivers_later(tmp_path, monkeypatch):
    from eventsourcing.persistence import OperationalError

    from aethyr_domain.game.manager import Manager
    from aethyr_domain.outbox.delivery import deliver_pending
    from aethyr_domain.outbox.event_sink import OutboxSink
    from aethyr_domain.outbox.queue import Outbox

    config = _config("sqlite", tmp_path).replace(retry_base_delay=0.01, retry_max_delay=0.02)

    def unreachable():
        raise OperationalError("store is down")

    sink = OutboxSink.start(config, world_factory=unreachable)
    manager = Manager(config=config, sink=sink)
    out = io.StringIO()
    ScriptRunner(manager, out).run(DEMO_SCRIPT.splitlines())
    assert sink.drain(0.3) is False
    backlog = sink.backlog()
    assert backlog > 30
    assert "store is down" in (sink.deliverer.last_error or "")
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("aethyr_outbox_backlog") == backlog
    manager.close()
    outbox = Outbox(config.outbox_path)
    app = open_world(config)
    deliver_pending(outbox, app, batch_size=1000)
    assert outbox.backlog() == 0 and outbox.delivered_count() == backlog
    assert dumps(rebuild_world_state(app)) == dumps(manager.state)
    outbox.close()
    app.close()


def test_boot_refuses_an_undelivered_outbox_and_closes_the_store_it_opened(tmp_path, monkeypatch):
    from aethyr_domain.game.session import BootError
    from aethyr_domain.outbox import event_store
    from aethyr_domain.outbox.queue import Outbox

    config = ServerConfig(
        event_sourcing_enabled=True,
        event_store="sqlite",
        sqlite_path=str(tmp_path / "events.sqlite"),
        outbox_path=str(tmp_path / "outbox.sqlite"),
        outbox_drain_timeout=0.0,  # no time to deliver: the entry stays
    )
    outbox = Outbox(config.outbox_path)
    outbox.append("CreateRoom", {"id": "r1", "name": "Room", "description": ""}, "system")
    outbox.close()
    opened = []
    real_open = event_store.open_world

    closed = []

    def recording_open(cfg, **kwargs):
        app = real_open(cfg, **kwargs)
        opened.append(app)
        real_close = app.close

        def close():
            closed.append(app)
            real_close()

        app.close = close  # type: ignore[method-assign]
        return app

    monkeypatch.setattr(event_store, "open_world", recording_open)
    still_pending = r"^1 command\(s\) still in the outbox after boot delivery$"
    with pytest.raises(BootError, match=still_pending):
        boot(config)
    assert len(opened) == 1
    assert closed == opened
    reopened = Outbox(config.outbox_path)
    assert reopened.backlog() == 1  # nothing delivered, nothing lost
    reopened.close()
