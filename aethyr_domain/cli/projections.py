"""The projections' ``aethyr-es`` subcommands and the ``world`` hooks.

* ``aethyr-es rebuild [--json]`` - blue/green rebuild (:mod:`.rebuild`); one at a
  time per store: a second one while one runs is refused (exit code 2) through the
  ``aethyr-rebuild`` lease (:mod:`aethyr_domain.outbox.writer_lease`);
* ``aethyr-es schema [--json]`` - the read model's schema version and applied
  migrations: ``{"version": N, "migrations": [{"version", "name",
  "applied_at", "checksum"}, ...]}``;
* ``aethyr-es project [--once] [--duration SECONDS]`` - the projection as a
  separate OS process: catches up, then follows the log live
  (:func:`run_project_process`);
* ``aethyr-es history ID [--json]`` - every event of one object
  (:mod:`aethyr_domain.read.history`);
* ``world --source projection`` - :func:`game_state_from_projection` (catches up first, then
  reads the read model);
* ``world --at TX|ISO-TIMESTAMP`` - :func:`world_at` (time travel by replay).

The read model lives in the configured event store (the same SQLite file or
immudb database; in memory for ``popo``), opened through eventsourcing's
infrastructure factory with the projection's name as environment prefix, as
the library's ``ProjectionRunner`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aethyr_domain.cli.common import CliError, require_event_sourcing, writing
from aethyr_domain.cli.metrics_endpoint import serve_metrics
from aethyr_domain.game.projection_process import READY
from aethyr_domain.read.projections.opening import open_view

if TYPE_CHECKING:
    from aethyr_domain.application import World
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.game_state import GameState
    from aethyr_domain.read.projections.view import WorldView

Handler = Callable[[argparse.Namespace], int]

log = logging.getLogger(__name__)


def _open_world(config: ServerConfig) -> World:
    """The World for a CLI command; a store that cannot be opened is a ``CliError``.

    Every command here only reads the log (projection catch-up, ``world --at``,
    ``history``, rebuilds), so the World may read from immudb replicas
    (``lag_tolerant``; ``docs/replication.md``).
    """
    from aethyr_domain.outbox.event_store import open_world_or_raise

    return open_world_or_raise(config, CliError, lag_tolerant=True)


def _open_cli_view(config: ServerConfig) -> WorldView:
    """:func:`open_view` for a CLI command: failures become one line and exit code 2.

    A store that cannot be opened gets the wording of
    :func:`~aethyr_domain.outbox.event_store.open_world_or_raise`; a read model whose schema
    this code cannot use (too new, edited migrations) its own message.
    """
    from eventsourcing.persistence import PersistenceError

    from aethyr_domain.outbox.event_store import cannot_open_message
    from aethyr_domain.read.projections.migrations import SchemaError

    try:
        return open_view(config)
    except SchemaError as exc:
        raise CliError(str(exc)) from None
    except PersistenceError as exc:
        raise CliError(cannot_open_message(exc)) from None


def game_state_from_projection(config: ServerConfig) -> GameState:
    """``world --source projection``: catch the read model up, then read it."""
    from aethyr_domain.read.projections.queries import world_dict
    from aethyr_domain.read.projections.runner import ProjectionService
    from aethyr_domain.read.world_dump import world_from_dict

    app = _open_world(config)
    try:
        view = _open_cli_view(config)
        try:
            _catch_up(ProjectionService(app, view))
            return world_from_dict(view.query(world_dict))
        finally:
            view.close()
    finally:
        app.close()


#: The name :func:`game_state_from_projection` had before issue 17, kept for code
#: outside this repository; it returns a ``GameState``.
load_world = game_state_from_projection


def _catch_up(service: Any) -> int:
    """``service.catch_up()`` for a CLI command: an event the read model cannot apply
    is one line naming it (a ``CliError``, exit code 2), not a traceback."""
    from aethyr_domain.read.projections.faults import ProjectionApplyError

    try:
        # In batches: one view transaction per event is one synced commit per event
        # on immudb (about 55 events/s), minutes for a backlog of thousands.
        return int(service.catch_up(batch_size=service.max_batch))
    except ProjectionApplyError as exc:
        raise CliError(str(exc)) from None


def world_at(config: ServerConfig, at: str) -> GameState:
    """``world --at TX|ISO-TIMESTAMP``: the world as it was then (replay up to it).

    ``TX`` is an immudb transaction id on the immudb store and a notification id
    on the others (:mod:`aethyr_domain.read.log_positions`).
    """
    from aethyr_domain.read.log_positions import notification_id_at
    from aethyr_domain.read.replay import TimeTravelError, parse_at, replay_world
    from aethyr_domain.read.world_dump import world_from_dict

    try:
        moment = parse_at(at)
    except TimeTravelError as exc:
        raise CliError(str(exc)) from None
    app = _open_world(config)
    try:
        if isinstance(moment, int):
            moment = notification_id_at(app, moment)
        return world_from_dict(replay_world(app, moment).world)
    finally:
        app.close()


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, indent=2) + "\n")


def _schema(args: argparse.Namespace, config: ServerConfig) -> int:
    view = _open_cli_view(config)
    try:
        applied = view.applied_migrations()
        generation = view.generation
    finally:
        view.close()
    version = max((m.version for m in applied), default=0)
    if args.json:
        _print_json({"version": version, "migrations": [m.as_dict() for m in applied]})
        return 0
    print(f"read model schema version {version} (generation {generation})")
    for m in applied:
        print(f"  {m.version:3d}  {m.applied_at}  {m.checksum[:12]}  {m.name}")
    return 0


def _rebuild(args: argparse.Namespace, config: ServerConfig) -> int:
    from aethyr_domain.read.projections.rebuild import cleanup, rebuild

    if args.cleanup:
        view = _open_cli_view(config)
        try:
            dropped = cleanup(view)
        finally:
            view.close()
        if args.json:
            _print_json({"cleaned_up": list(dropped)})
        else:
            names = ", ".join(str(g) for g in dropped) or "none"
            print(f"dropped generations left by interrupted rebuilds: {names}")
        return 0
    from aethyr_domain.outbox.writer_lease import REBUILD

    endpoint = serve_metrics(config, "rebuild")  # progress and speed while it runs
    try:
        app = _open_world(config)
        try:
            with writing(app, config, name=REBUILD, what="rebuild"):  # one rebuild at a time
                view = _open_cli_view(config)
                try:
                    report = rebuild(app, view)
                finally:
                    view.close()
        finally:
            app.close()
    finally:
        if endpoint is not None:
            endpoint.close()
    if args.json:
        _print_json(report.as_dict())
    else:
        print(
            f"rebuilt the read model: generation {report.old_generation} -> "
            f"{report.new_generation}, {report.events} events in {report.seconds:.2f}s "
            f"({report.rate:,.0f} events/s)"
        )
    return 0


def _history(args: argparse.Namespace, config: ServerConfig) -> int:
    from aethyr_domain.read.history import history_json, history_text

    app = _open_world(config)
    try:
        if args.json:
            _print_json(history_json(app, args.id))
        else:
            sys.stdout.write(history_text(app, args.id))
    finally:
        app.close()
    return 0


def run_project_process(
    config: ServerConfig,
    *,
    once: bool = False,
    duration: float | None = None,
    stop: threading.Event | None = None,
    check_interval: float = 1.0,
) -> int:
    """The projection as a process: catch up, then follow live until stopped.

    Follows through the recorder's ``subscribe()`` (polling for SQLite), checks
    every ``check_interval`` seconds that its generation is still the active one
    (a ``rebuild`` may have switched readers) and re-attaches if not, and stops
    on SIGTERM/SIGINT, after ``duration`` seconds, or when ``stop`` is set.
    A replaced view is closed (its datastore and connections), and so is the
    last one at the end. Returns the view's position (the last notification id
    applied) at the end.

    It survives outages of any length: when the store stops answering (or an event
    cannot be applied), everything is closed, the failure is logged and counted
    (``aethyr_projection_follower_errors_total{reason}``; ``reason="event"`` also
    sets ``aethyr_projection_stuck_events``), and the process attaches again after
    a back-off of ``retry_base_delay * 2**n`` capped at ``retry_max_delay``, until
    stopped. Only a read model this code cannot use (its schema too new, a store
    with no view) is final. ``once`` catches up a single time and lets failures
    propagate.
    """
    stop = stop if stop is not None else threading.Event()
    if once:
        return _catch_up_once(config)
    from aethyr_domain.read.projections import UnsupportedStoreError, metrics
    from aethyr_domain.read.projections.migrations import SchemaError
    from aethyr_domain.read.projections.projection import WorldProjection

    deadline = None if duration is None else time.monotonic() + duration
    follower = _Follower(config, stop, deadline, check_interval)
    name = WorldProjection.name
    delay = config.retry_base_delay
    while True:
        try:
            follower.run()
            return follower.position
        except (SchemaError, UnsupportedStoreError):
            raise  # the operator must act: retrying cannot help
        except Exception as exc:
            reason = "outage" if _is_outage(exc) else "event"
            metrics.FOLLOWER_ERRORS.labels(name, reason).inc()
            metrics.STUCK_EVENTS.labels(name).set(1 if reason == "event" else 0)
            if follower.attached:  # it worked since the last failure: back-off starts over
                delay = config.retry_base_delay
            log.warning(
                "projection %s %s at notification %d (%s: %s); attaching again in %.1fs",
                name,
                "lost the event store" if reason == "outage" else "cannot apply the next event",
                follower.position,
                type(exc).__name__,
                exc,
                delay,
            )
        remaining = None if deadline is None else deadline - time.monotonic()
        if stop.wait(delay if remaining is None else max(min(delay, remaining), 0.0)):
            return follower.position
        if deadline is not None and time.monotonic() >= deadline:
            return follower.position
        delay = min(delay * 2, config.retry_max_delay)


def follower_poll_env(config: ServerConfig) -> dict[str, str]:
    """``IMMUDB_POLL_INTERVAL`` for the ``project`` follower's World: its
    ``projection_batch_wait`` when that is longer than the recorder's default poll.

    The follower commits at most one view transaction per ``projection_batch_wait``
    (:mod:`~aethyr_domain.read.projections.runner`), so reading the log more often
    only costs the store: on immudb each read of new notifications is a ``Scan``
    that makes the server bring its index up to the newest transaction (an index
    flush), about once per commit of the game's delivery otherwise. An
    ``IMMUDB_POLL_INTERVAL`` in the environment is the operator's and wins.
    """
    from aethyr_immudb_recorder.settings import ImmudbKeys, ImmudbSettings

    wait = config.projection_batch_wait
    key = ImmudbKeys.IMMUDB_POLL_INTERVAL
    if config.event_store != "immudb" or key in os.environ or wait <= ImmudbSettings.poll_interval:
        return {}
    return {key: repr(wait)}


def _catch_up_once(config: ServerConfig) -> int:
    """``project --once``: catch up a single time; failures are one line, exit 2."""
    from aethyr_domain.read.projections.runner import ProjectionService

    app = _open_world(config)
    try:
        view = _open_cli_view(config)
        try:
            _catch_up(ProjectionService(app, view))
            return int(view.max_tracking_id(app.name) or 0)
        finally:
            view.close()
    finally:
        app.close()


def _started(service: Any) -> Any:
    """``service`` started, after a first pass over the backlog in batches.

    After an outage the follower attaches again with the whole backlog to apply (what
    the outbox delivered meanwhile: thousands of events). ``start()`` applies it one
    view transaction per event, one synced commit each on immudb (about 55 events/s):
    minutes in which SIGTERM cannot stop the process. Batches of ``max_batch`` take
    about a second per thousand. A failure of this pass is left to ``start()``, which
    meets it again and reports it (the stored fault, the metrics) as before.
    """
    try:
        service.catch_up(batch_size=service.max_batch)
    except Exception as exc:  # start() meets it again, event by event, and reports it
        log.info("batched catch-up stopped (%s); going on event by event", type(exc).__name__)
    return service.start()


def _is_outage(exc: BaseException) -> bool:
    """A store that does not answer (retried as an outage), as opposed to an event
    the projection cannot apply."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError))


class _Follower:
    """One attachment of :func:`run_project_process` at a time: open, catch up,
    follow until stopped, close."""

    def __init__(
        self,
        config: ServerConfig,
        stop: threading.Event,
        deadline: float | None,
        check_interval: float,
    ) -> None:
        self.config = config
        self.stop = stop
        self.deadline = deadline
        self.check_interval = check_interval
        #: The last notification id known applied (kept across attachments).
        self.position = 0
        #: True once the current attachment caught up (the store answered).
        self.attached = False

    def run(self) -> None:
        """Follow until stopped; raises what interrupted it (everything closed)."""
        from aethyr_domain.outbox.event_store import open_world
        from aethyr_domain.read.projections import metrics
        from aethyr_domain.read.projections.runner import MAX_BATCH, ProjectionService

        self.attached = False
        config, stop = self.config, self.stop
        # The follower reads replicas; on immudb it polls no faster than it commits.
        app = open_world(config, lag_tolerant=True, **follower_poll_env(config))
        view: WorldView | None = None
        service: ProjectionService | None = None
        try:
            view = open_view(config)
            service = ProjectionService(app, view, batch_wait=config.projection_batch_wait)
            # The series exists (0) before the first event is applied: a scrape during
            # the catch-up must not find the other series and miss this one. (Creating
            # the labelled child keeps a value an earlier attachment set.)
            metrics.STUCK_EVENTS.labels(service.projection.name)
            service = _started(service)
            self.attached = True
            if service.fault is None:  # (a fault start() just reported keeps its 1)
                metrics.STUCK_EVENTS.labels(service.projection.name).set(0)
            self.position = int(view.max_tracking_id(app.name) or 0)
            while not stop.wait(self.check_interval):
                if self.deadline is not None and time.monotonic() > self.deadline:
                    break
                if service.error is not None or not view.is_current():
                    try:
                        service.stop()
                    except Exception as exc:  # the old generation was dropped under us
                        log.warning("projection re-attaching after %s", exc)
                    finally:
                        view.close()  # the replaced view's datastore and connections
                    view = service = None
                    view = open_view(config)
                    service = _started(
                        ProjectionService(app, view, batch_wait=config.projection_batch_wait)
                    )
                try:
                    service.update_lag()
                except Exception:
                    if view.is_current():
                        raise
                    # A rebuild switched readers and dropped this view's tables between
                    # the check above and this read (each store fails differently: a
                    # missing table, a missing generation): re-attach at the next check.
                self.position = int(view.max_tracking_id(app.name) or 0)
            service.stop()
            if stop.is_set():  # SIGTERM: apply what the log holds before exiting
                service.catch_up(batch_size=MAX_BATCH)
            self.position = int(view.max_tracking_id(app.name) or 0)
        finally:
            if service is not None:  # already stopped unless an error brought us here
                with contextlib.suppress(Exception):
                    service.stop()
            if view is not None:
                with contextlib.suppress(Exception):
                    view.close()
            with contextlib.suppress(Exception):
                app.close()


def _project(args: argparse.Namespace, config: ServerConfig) -> int:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    if args.parent_pid is not None:
        _stop_with_parent(args.parent_pid, stop)
        print(READY, flush=True)  # the parent may signal from now on
    _log_to_stderr()
    endpoint = serve_metrics(config, "project")
    try:
        position = run_project_process(config, once=args.once, duration=args.duration, stop=stop)
    finally:
        if endpoint is not None:
            endpoint.close()
    print(f"projection stopped at notification {position}")
    return 0


def _stop_with_parent(parent: int, stop: threading.Event, interval: float = 1.0) -> None:
    """Set ``stop`` once process ``parent`` is gone (``serve`` runs ``project`` as its
    child: a killed server must not leave its projection running)."""
    import os

    def watch() -> None:
        while not stop.wait(interval):
            if os.getppid() != parent:
                log.warning("projection: the parent process %d is gone; stopping", parent)
                stop.set()

    threading.Thread(target=watch, name="project-parent-watch", daemon=True).start()


def _log_to_stderr() -> None:
    """Send the retries' warnings to stderr, timestamped, unless the host program
    configured logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def register(
    sub: Any, common: argparse.ArgumentParser, load_config: Callable[[argparse.Namespace], Any]
) -> None:
    """Add ``rebuild``, ``schema``, ``project`` and ``history`` to the ``aethyr-es`` parser."""

    def bind(func: Callable[[argparse.Namespace, Any], int]) -> Handler:
        def handler(args: argparse.Namespace) -> int:
            config = load_config(args)
            require_event_sourcing(config, args.command)  # before any store module loads
            from aethyr_domain.read.history import NoHistoryError
            from aethyr_domain.read.projections import UnsupportedStoreError
            from aethyr_domain.read.projections.faults import ProjectionApplyError
            from aethyr_domain.read.projections.migrations import SchemaError

            try:
                return func(args, config)
            except (
                NoHistoryError,
                SchemaError,
                UnsupportedStoreError,
                ProjectionApplyError,  # rebuild: an event the fresh tables cannot take
            ) as exc:
                print(f"aethyr-es: {exc}", file=sys.stderr)
                return 2

        return handler

    p = sub.add_parser(
        "rebuild", parents=[common], help="replay the log into fresh read-model tables (blue/green)"
    )
    p.add_argument("--json", action="store_true", help="JSON report")
    p.add_argument(
        "--cleanup",
        action="store_true",
        help="only drop the generations an interrupted rebuild left behind (a rebuild "
        "does this first anyway)",
    )
    p.set_defaults(func=bind(_rebuild))
    p = sub.add_parser("schema", parents=[common], help="read-model schema version and migrations")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=bind(_schema))
    p = sub.add_parser(
        "project",
        parents=[common],
        help="run the projection as a process: catch up, then follow live",
    )
    p.add_argument("--once", action="store_true", help="catch up and exit")
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: run until SIGTERM/SIGINT)",
    )
    # serve's child (docs/server.md): stop when that process is gone
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=bind(_project))
    p = sub.add_parser("history", parents=[common], help="every event of one object")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=bind(_history))
