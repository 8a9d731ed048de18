"""Running the game: ``demo`` (a scripted session on an in-memory store, then a
rebuild compared with the live world), ``play`` (``<player>: <command>`` lines) and
``serve`` (the telnet server, ``docs/server.md``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethyr_domain.cli.common import (
    EXIT_DEAD_LETTERS,
    EXIT_LEASE_LOST,
    CliError,
    load_config,
    read_script,
    stdin_lines,
)
from aethyr_domain.cli.metrics_endpoint import serve_metrics
from aethyr_domain.cli.status import store_stats
from aethyr_domain.config import ServerConfig
from aethyr_domain.read.world_dump import dumps

if TYPE_CHECKING:
    from aethyr_domain.application import World

log = logging.getLogger(__name__)

DEMO_SCRIPT = """\
# Two players build and use a small world.
@admin alice
alice: look
alice: acroom north The Armoury
alice: adesc here A quiet square with a fountain.
alice: acreate Container a wooden chest
alice: acreate Sword a rusty sword
alice: acreate Shirt
alice: north
alice: acreate Dagger a sharp dagger
alice: acreate Breastplate
alice: south
bob: look
bob: get sword
bob: wield sword
bob: get shirt
bob: wear shirt
bob: inventory
bob: north
bob: get dagger
bob: south
bob: give dagger to alice
alice: aput chest in here
bob: get chest
bob: put dagger in chest
bob: drop chest
alice: north
alice: get breastplate
alice: wear breastplate
alice: south
alice: aset chest @long_desc An old chest bound with iron.
alice: look at chest
bob: remove shirt
bob: drop shirt
alice: adelete shirt
bob: unwield
bob: set password hunter22
alice: inventory
"""


# ------------------------------------------------------------------- demo
def run_demo(args: argparse.Namespace) -> int:
    from aethyr_domain.game.session import ScriptRunner, boot
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.read.replay import rebuild_world_state

    base = load_config(args)
    with tempfile.TemporaryDirectory(prefix="aethyr-demo-") as tmp:
        config = base.replace(
            event_sourcing_enabled=True,
            event_store="popo",
            outbox_path=str(Path(tmp) / "outbox.sqlite"),
        )
        app = open_world(config)
        manager = boot(config, world=app)
        try:
            print("== A scripted session (what each player sees) ==")
            ScriptRunner(manager, sys.stdout).run(DEMO_SCRIPT.splitlines())
            sink: Any = manager.sink
            drained = bool(sink.drain(config.outbox_drain_timeout or 10.0))
            projected_json = _projected(manager, app)
        finally:
            manager.close()
        live_json = dumps(manager.state)
        replay_json = dumps(rebuild_world_state(app))
        stats = store_stats(app)
    same = live_json == replay_json
    projected_same = projected_json is None or projected_json == live_json
    print()
    print("== Summary ==")
    print(f"outbox delivered everything: {'yes' if drained else 'NO'}")
    print(
        f"events recorded: {stats['events']} in {stats['aggregates']} aggregates "
        f"({len(stats['event_types'])} event types)"
    )
    for name, count in sorted(stats["event_types"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:4d}  {name}")
    live = manager.state
    print(
        f"live world: {sum(1 for o in live.objects.values() if not o.deleted)} objects "
        f"({len(live.rooms)} rooms, {len(live.players)} players), "
        f"{sum(1 for o in live.objects.values() if o.deleted)} deleted"
    )
    print(f"world rebuilt from the events matches the live world: {'yes' if same else 'NO'}")
    if projected_json is not None:
        print(
            "world printed from the in-process projection matches the live world: "
            f"{'yes' if projected_same else 'NO'}"
        )
    print(f"canonical JSON: {len(live_json.encode())} bytes, identical: {same and projected_same}")
    return 0 if same and projected_same and drained else 1


def _projected(manager: Any, app: World) -> str | None:
    """The world as the in-process projection holds it, once it applied every event
    (``None`` when ``projections_enabled`` is off)."""
    service = manager.projection
    if service is None:
        return None
    from aethyr_domain.read.projections.queries import world_dict
    from aethyr_domain.read.world_dump import canonical_json

    service.wait(app.recorder.max_notification_id(), timeout=10.0)
    return canonical_json(service.view.query(world_dict))


# ------------------------------------------------------------------- play
def run_play(args: argparse.Namespace) -> int:
    from aethyr_domain.game.session import BootError, ScriptRunner, boot

    config = load_config(args)
    script = read_script(args.script) if args.script else None  # before anything starts
    serve_metrics(config, "play")  # one scrape: recorder, outbox and projection metrics
    try:
        manager = boot(config)
    except BootError as exc:
        raise CliError(str(exc)) from None
    dead_at_start = int(getattr(manager.sink, "dead_at_start", 0))
    if dead_at_start:
        print(
            f"aethyr-es: warning: the outbox holds {dead_at_start} dead "
            "letter(s) from earlier sessions; see `aethyr-es outbox`",
            file=sys.stderr,
        )
    try:
        runner = ScriptRunner(manager, sys.stdout)
        runner.run(script if script is not None else stdin_lines())
        if args.dump_world:
            Path(args.dump_world).write_text(dumps(manager.state), encoding="utf-8")
        if manager.sink is not None:
            sink: Any = manager.sink
            if not sink.drain(config.outbox_drain_timeout) and sink.lost is None:
                print(
                    f"aethyr-es: {sink.backlog()} command(s) not yet delivered to the event "
                    f"store after {config.outbox_drain_timeout}s; they stay in the outbox "
                    f"({config.outbox_path}) and are delivered on the next start"
                    + (
                        f" (last error: {sink.deliverer.last_error})"
                        if sink.deliverer.last_error
                        else ""
                    ),
                    file=sys.stderr,
                )
        code = play_exit_code(manager, config)
    finally:
        manager.close()
    return code


def play_exit_code(manager: Any, config: ServerConfig) -> int:
    """0; 4 if this process lost its writer lease; 3 if the session made dead letters."""
    sink: Any = manager.sink
    if sink is None:
        return 0
    if sink.lost is not None:
        print(
            f"aethyr-es: {sink.lost}; {sink.backlog()} command(s) stay in the outbox "
            f"({config.outbox_path})",
            file=sys.stderr,
        )
        return EXIT_LEASE_LOST
    new_dead = sink.new_dead_letters()
    if new_dead:
        print(
            f"aethyr-es: {new_dead} command(s) of this session became dead letters "
            "(the event store does not have them); see `aethyr-es outbox`",
            file=sys.stderr,
        )
        return EXIT_DEAD_LETTERS
    return 0


# ------------------------------------------------------------------ serve
def run_serve(args: argparse.Namespace) -> int:
    from aethyr_domain.game.projection_process import ProjectionProcess, runs_as_process
    from aethyr_domain.game.server import serve
    from aethyr_domain.game.session import BootError, boot
    from aethyr_domain.outbox.delivery_process import (
        runs_as_process as delivery_runs_as_process,
    )

    config = load_config(args)
    serve_metrics(config, "serve")
    child = runs_as_process(config)  # the world projection in a process of its own
    try:
        manager = boot(
            config.replace(projections_enabled=False) if child else config,
            delivery_process=delivery_runs_as_process(config),
            config_path=args.config,
        )
    except BootError as exc:
        raise CliError(str(exc)) from None
    projection: ProjectionProcess | None = None
    try:
        if child:  # after boot: the world is loaded and the outbox delivered
            projection = ProjectionProcess.start(config, args.config)
        try:
            serve(manager, config, args.host, args.port)
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        if args.dump_world:  # the game thread has stopped: the world is still
            Path(args.dump_world).write_text(dumps(manager.state), encoding="utf-8")
    finally:
        code = play_exit_code(manager, config)
        if projection is not None:  # the outbox drained: the log holds every change
            projection.stop(_log_head(manager), config.shutdown_drain_timeout)
        manager.close()
    return code


def _log_head(manager: Any) -> int | None:
    """The event store's last notification id (``None`` if it cannot be read)."""
    world = getattr(manager.sink, "world", None)
    if world is None:
        return None
    try:
        return int(world.recorder.max_notification_id() or 0)
    except Exception as exc:  # the store went away: the child's own warning says more
        log.warning("cannot read the log's head at shutdown: %s", exc)
        return None
