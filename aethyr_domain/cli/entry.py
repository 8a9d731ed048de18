"""The ``aethyr-es`` command line.

Commands (each takes ``--config FILE`` and honours ``AETHYR_*``; see
``docs/configuration.md``):

* ``demo``: a scripted session on the embedded store, then a rebuild from the events
  compared with the live world;
* ``play [--script FILE] [--dump-world OUT.json]``: run ``<player>: <command>`` lines;
* ``world --json [--source live|projection|replay]``: the world as canonical JSON;
* ``stats [--json]``: event counts by type, aggregates, outbox backlog, store health;
* ``outbox [--json]``, ``outbox retry ID|--all``, ``outbox discard ID``: the outbox's
  pending entries and dead letters;
* ``serve [--host H] [--port P]``: the game as a telnet server (``docs/server.md``);
* ``migrate DUMP.json``, ``migrate --from-storage FILE``: import a world dump, or the
  game's own storage (what it writes with event sourcing off), into the event store
  (idempotent, atomic).
* ``verify [--aggregate ID]``: check what the store returns against immudb's proofs and
  that the server's history extends the trusted state kept in ``immudb_state_file``.
* ``promote HOST:PORT``: switch an immudb replica to primary after the primary is gone
  (:mod:`aethyr_domain.cli.replication`, ``docs/replication.md``).
* ``store upgrade``: copy an immudb store from the SQL layout of earlier versions into
  the KV layout (:mod:`aethyr_immudb_recorder.upgrade`; resumable, checked).
* ``users create NAME --database DB --permission read|readwrite|admin``,
  ``users grant NAME ...``, ``users list [--json]``: immudb users, run with an admin's
  credentials (:mod:`aethyr_immudb_recorder.users`; ``docs/security.md``). The new
  password is read from standard input or ``--password-file``, never printed.

Failures an operator can fix are one line, ``aethyr-es: <message>``, and exit code 2
(never a traceback): bad configuration, unreadable or non-UTF-8 input, a store that
cannot be opened, a metrics port in use. With ``event_sourcing_enabled`` off no command
opens, creates or connects to an event store, an outbox or a read model: ``stats``
reports the flag, ``play`` and ``serve`` keep the world in the game's own storage
(``storage_path``), the store commands refuse with exit code 2. ``demo`` is the
exception by design: it always runs on an in-memory store and a temporary outbox,
removed when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aethyr_domain.cli.metrics_endpoint import MetricsEndpointError, serve_metrics
from aethyr_domain.config import ConfigError, ServerConfig
from aethyr_domain.game_state import LiveWorld
from aethyr_domain.read.world_dump import WorldDumpError, dumps, loads

#: ``module:function`` returning a LiveWorld read from the projections, given a config.
PROJECTION_HOOK = "aethyr_domain.read.projections:load_world"

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


class CliError(Exception):
    """A user-facing failure: printed as ``aethyr-es: <message>`` with exit code 2."""


#: ``play``: the session ended, but some of its commands became dead letters.
EXIT_DEAD_LETTERS = 3
#: ``play``: another writer took the store's writer lease over; delivery stopped.
EXIT_LEASE_LOST = 4


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig.load(args.config)


def require_event_sourcing(config: ServerConfig, command: str) -> None:
    """Refuse a command that needs the event store when the flag is off (``CliError``)."""
    if not config.event_sourcing_enabled:
        raise CliError(
            f"{command} needs the event store, but event sourcing is disabled "
            "(set event_sourcing_enabled = true, or AETHYR_EVENT_SOURCING_ENABLED=1)"
        )


def read_script(path: str) -> list[str]:
    """The lines of a script file: UTF-8, a leading byte-order mark ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read script {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CliError(
            f"cannot read script {path}: not UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    return text.splitlines()


def _stdin_lines() -> Iterator[str]:
    """Standard input line by line, a leading byte-order mark ignored."""
    first = True
    try:
        for line in sys.stdin:
            if first:
                line = line.removeprefix("\ufeff")
                first = False
            yield line
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot read standard input: not UTF-8 ({exc.reason})") from None


# ------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from aethyr_domain.game.session import ScriptRunner, boot
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.read.replay import rebuild_world_state

    base = _config(args)
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
        live_json = dumps(manager.world)
        replay_json = dumps(rebuild_world_state(app))
        stats = _store_stats(app)
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
    live = manager.world
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


def _projected(manager: Any, app: Any) -> str | None:
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
def _play(args: argparse.Namespace) -> int:
    from aethyr_domain.game.session import BootError, ScriptRunner, boot

    config = _config(args)
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
        runner.run(script if script is not None else _stdin_lines())
        if args.dump_world:
            Path(args.dump_world).write_text(dumps(manager.world), encoding="utf-8")
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
        code = _play_exit_code(manager, config)
    finally:
        manager.close()
    return code


def _play_exit_code(manager: Any, config: ServerConfig) -> int:
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


# ------------------------------------------------------------------ world
def _world(args: argparse.Namespace) -> int:
    config = _config(args)
    require_event_sourcing(config, "world")
    if args.at is not None:
        from aethyr_domain.cli.projections import world_at

        live = world_at(config, args.at)
    else:
        live = load_world(config, args.source)
    sys.stdout.write(dumps(live))
    return 0


def load_world(config: ServerConfig, source: str) -> LiveWorld:
    """The world from ``source``: ``replay`` (the event log), ``live`` or ``projection``.

    ``live`` is the world the game would load at boot - the log replayed, then what
    the outbox still holds applied - computed read-only (:func:`live_world`).
    """
    if source == "projection":
        module_name, _, func = PROJECTION_HOOK.partition(":")
        try:
            loader: Callable[[ServerConfig], LiveWorld] = getattr(
                importlib.import_module(module_name), func
            )
        except (ImportError, AttributeError):
            raise CliError(
                "the projection source is not available in this build "
                f"(expected {PROJECTION_HOOK}(config) -> LiveWorld)"
            ) from None
        return loader(config)
    from aethyr_domain.outbox.event_store import open_world_or_raise
    from aethyr_domain.read.replay import rebuild_world_state

    app = open_world_or_raise(config, CliError, lag_tolerant=source == "replay")
    try:
        if source == "live":
            return live_world(config, app)
        return rebuild_world_state(app)
    finally:
        app.close()


def live_world(config: ServerConfig, app: Any) -> LiveWorld:
    """The store's world with the outbox's pending entries applied in memory.

    Read-only: nothing is delivered or written, and no lease is taken. The entries'
    events are applied in order to the aggregates replayed from the store, skipping
    an entry already stored (an interrupted delivery) and one that no longer fits
    (its aggregate moved past the entry's version: delivery will refuse it).
    Command rows of earlier versions are not decided here, so they are not shown.
    """
    from aethyr_domain.outbox.delivery import is_stored, to_stored_events
    from aethyr_domain.read.replay import final_aggregates, live_world_of

    aggregates, _events = final_aggregates(app)
    if Path(config.outbox_path).exists():
        outbox = _open_outbox(config)
        try:
            entries = outbox.entries_between(0, 2**62)
        finally:
            outbox.close()
        for entry in entries:
            if not entry.events or is_stored(app, entry.events[0]):
                continue
            events = [app.mapper.to_domain_event(s) for s in to_stored_events([entry])]
            staged = dict(aggregates)
            fits = True
            for event in events:
                key = str(event.originator_id)
                current = staged.get(key)
                if (0 if current is None else current.version) + 1 != event.originator_version:
                    fits = False
                    break
                staged[key] = event.mutate(copy.deepcopy(current))
            if fits:
                aggregates = staged
    return live_world_of(aggregates)


def _open_outbox(config: ServerConfig) -> Any:
    """The outbox of ``config``; a file that is not one is a ``CliError``."""
    from aethyr_domain.outbox.queue import Outbox, OutboxError

    try:
        return Outbox(config.outbox_path)
    except OutboxError as exc:
        raise CliError(str(exc)) from None


# ------------------------------------------------------------------ stats
def _stats(args: argparse.Namespace) -> int:
    config = _config(args)
    report: dict[str, Any] = {
        "event_sourcing_enabled": config.event_sourcing_enabled,
        "event_store": config.event_store,
    }
    reachable = True
    if not config.event_sourcing_enabled:  # nothing to open: no store, no outbox
        report["store_health"] = "disabled"
    else:
        try:
            from aethyr_domain.cli.replication import replication_stats
            from aethyr_domain.outbox.event_store import open_world

            app = open_world(config, lag_tolerant=True)
            try:
                report.update(_store_stats(app))
                report["store_health"] = "ok"
                if config.immudb_replicas and config.event_store == "immudb":
                    report["replication"] = replication_stats(app)
            finally:
                app.close()
        except Exception as exc:
            reachable = False
            report["store_health"] = f"unreachable: {type(exc).__name__}: {exc}"
        report["outbox"] = _outbox_stats(config)
    # An unreachable store is exit code 2, after the report (the outbox is still shown).
    status = 0 if reachable else 2
    if not reachable:
        print(f"aethyr-es: the event store is {report['store_health']}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(report, sort_keys=True, indent=2) + "\n")
        return status
    print(f"event sourcing enabled: {config.event_sourcing_enabled}")
    print(f"event store: {config.event_store} ({report['store_health']})")
    for fault in report.get("projection_faults", []):
        print(f"projection stuck: {fault['line']}")
    if "events" in report:
        print(f"events: {report['events']}  aggregates: {report['aggregates']}")
        for name, count in sorted(report["event_types"].items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {count:6d}  {name}")
    if "replication" in report:
        from aethyr_domain.cli.replication import replication_lines

        for line in replication_lines(report["replication"]):
            print(line)
    if "outbox" in report:
        ob = report["outbox"]
        print(
            f"outbox: backlog {ob['backlog']}, delivered {ob['delivered']}, "
            f"dead letters {ob['dead_letters']}"
        )
    return status


def _store_stats(app: Any) -> dict[str, Any]:
    from aethyr_domain.outbox.event_store import iter_notifications, topic_name

    types: Counter[str] = Counter()
    aggregates: set[str] = set()
    last = 0
    for notification in iter_notifications(app):
        types[topic_name(notification.topic)] += 1
        aggregates.add(str(notification.originator_id))
        last = notification.id
    return {
        "events": sum(types.values()),
        "aggregates": len(aggregates),
        "event_types": dict(sorted(types.items())),
        "max_notification_id": last,
        "projection_faults": _projection_faults(app),
    }


def _projection_faults(app: Any) -> list[dict[str, Any]]:
    """The projections stuck on an event they cannot apply (read from the store, see
    ``docs/projections.md``); one entry with ``error`` if the report cannot be read."""
    from aethyr_domain.read.projections.faults import stored_faults

    try:
        return [{**f.as_dict(), "line": f.line()} for f in stored_faults(app)]
    except Exception as exc:
        error = f"cannot read the projection fault report: {type(exc).__name__}: {exc}"
        return [{"error": error, "line": error}]


def _outbox_stats(config: ServerConfig) -> dict[str, Any]:
    if not Path(config.outbox_path).exists():
        return {"path": config.outbox_path, "backlog": 0, "delivered": 0, "dead_letters": 0}
    outbox = _open_outbox(config)
    try:
        return {
            "path": config.outbox_path,
            "backlog": outbox.backlog(),
            "delivered": outbox.delivered_count(),
            "dead_letters": outbox.dead_letter_count(),
        }
    finally:
        outbox.close()


# ----------------------------------------------------------------- outbox
def _outbox(args: argparse.Namespace) -> int:
    """``outbox [--json]``, ``outbox retry ID|--all``, ``outbox discard ID``."""
    config = _config(args)
    if not Path(config.outbox_path).exists():
        raise CliError(f"there is no outbox at {config.outbox_path}")
    outbox = _open_outbox(config)
    try:
        if args.action == "list":
            if args.id is not None or args.all:
                raise CliError("`aethyr-es outbox` lists; use `outbox retry|discard ID`")
            return _print_outbox(outbox.listing(), args.json)
        if args.action == "retry":
            if args.all == (args.id is not None):
                raise CliError("outbox retry: give one dead letter ID or --all")
            seqs = [d["seq"] for d in outbox.dead_letters()] if args.all else [_seq(args.id)]
            done = [seq for seq in seqs if outbox.retry(seq)]
            if not args.all and not done:
                raise CliError(f"outbox retry: no dead letter {args.id}")
            print(f"{len(done)} dead letter(s) back in line; the game delivers them")
            return 0
        if args.id is None or args.all:
            raise CliError("outbox discard: give one dead letter ID")
        if not outbox.discard(_seq(args.id)):
            raise CliError(f"outbox discard: no dead letter {args.id}")
        print(f"dead letter {args.id} discarded")
        return 0
    finally:
        outbox.close()


def _seq(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"expected a dead letter ID (a number), got {text!r}") from None


def _print_outbox(listing: dict[str, list[dict[str, Any]]], as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(listing, sort_keys=True, indent=2) + "\n")
        return 0
    print(f"pending: {len(listing['pending'])}")
    for row in listing["pending"]:
        events = "command" if row["events"] is None else f"{row['events']} event(s)"
        print(f"  {row['seq']:6d}  {row['command']} by {row['actor']} ({events})")
    print(f"dead letters: {len(listing['dead'])}")
    for row in listing["dead"]:
        print(f"  {row['seq']:6d}  {row['command']} by {row['actor']}: {row['error']}")
        if row["raw"] is not None:
            print(f"          raw: {row['raw'][:200]}")
    return 0


# ------------------------------------------------------------------ serve
def _serve(args: argparse.Namespace) -> int:
    from aethyr_domain.game.server import serve
    from aethyr_domain.game.session import BootError, boot

    config = _config(args)
    serve_metrics(config, "serve")
    try:
        manager = boot(config)
    except BootError as exc:
        raise CliError(str(exc)) from None
    try:
        try:
            serve(manager, config, args.host, args.port)
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        if args.dump_world:  # the game thread has stopped: the world is still
            Path(args.dump_world).write_text(dumps(manager.world), encoding="utf-8")
    finally:
        code = _play_exit_code(manager, config)
        manager.close()
    return code


# ---------------------------------------------------------------- migrate
def _migrate(args: argparse.Namespace) -> int:
    config = _config(args)
    source = args.from_storage or args.dump
    if (args.dump is None) == (args.from_storage is None):
        raise CliError("migrate takes a DUMP.json or --from-storage FILE (one of them)")
    dump = None
    if args.dump is not None:
        try:
            dump = loads(Path(args.dump).read_bytes())
        except OSError as exc:
            raise CliError(f"cannot read {args.dump}: {exc.strerror}") from None
    elif not Path(args.from_storage).is_file():
        raise CliError(f"cannot read {args.from_storage}: no such file")
    require_event_sourcing(config, "migrate")  # (a bad dump is reported either way)
    from aethyr_domain.errors import InvalidCommandError
    from aethyr_domain.game.migrate import (
        InvalidDumpError,
        MigrationError,
        migrate_from_storage,
        migrate_to_event_store,
    )
    from aethyr_domain.game.storage import StorageError
    from aethyr_domain.outbox.event_store import open_world_or_raise

    app = open_world_or_raise(config, CliError)
    try:
        with writing(app, config, what="writer (game, migrate)"):
            # checked whole first: all or nothing
            if dump is not None:
                report = migrate_to_event_store(app, dump)
            else:
                report = migrate_from_storage(app, args.from_storage)
    except (MigrationError, InvalidDumpError, StorageError) as exc:
        raise CliError(str(exc)) from None
    except InvalidCommandError as exc:
        raise CliError(f"cannot import {source}: {exc}") from None
    finally:
        app.close()
    print(
        f"imported {source}: {report.total} command(s), "
        f"{report.already_present} object(s) already present"
    )
    for name, count in sorted(report.commands.items()):
        print(f"  {count:6d}  {name}")
    return 0


@contextlib.contextmanager
def writing(
    app: Any, config: ServerConfig, *, name: str | None = None, what: str = "writer"
) -> Iterator[Any]:
    """Hold the store's lease ``name`` (the writer lease by default) while the block
    runs: a ``CliError`` (exit code 2) before anything is written if another live
    process holds it; heartbeats meanwhile; released at the end."""
    from eventsourcing.persistence import PersistenceError

    from aethyr_domain.outbox.writer_lease import WRITER, LeaseError, WriterLease

    try:
        lease = WriterLease.acquire(
            app.recorder, name=name or WRITER, timeout=config.writer_lease_timeout, what=what
        )
    except LeaseError as exc:
        raise CliError(str(exc)) from None
    except PersistenceError as exc:  # e.g. an immudb user with read permission only
        raise CliError(f"cannot take the writer lease: {type(exc).__name__}: {exc}") from None
    lease.start_heartbeat()
    try:
        yield lease
    finally:
        lease.release()


# ----------------------------------------------------------------- verify
def _verify(args: argparse.Namespace) -> int:
    """Check the event store against immudb's proofs; exit 1 when a check fails."""
    config = _config(args)
    if config.event_store != "immudb":
        raise CliError(f"verify needs event_store = immudb (configured: {config.event_store})")
    require_event_sourcing(config, "verify")
    from aethyr_domain.outbox.event_store import open_world_or_raise
    from aethyr_immudb_recorder.verification import VerificationError, verify_events

    app = open_world_or_raise(config, CliError, lag_tolerant=True)
    try:
        recorder: Any = app.recorder
        if args.aggregate is not None and not recorder.select_events(args.aggregate, limit=1):
            raise CliError(
                f"no events of aggregate {args.aggregate!r} in the store: nothing to verify"
            )
        report = verify_events(
            recorder.read_datastore(),  # a caught-up replica, if configured, else the primary
            recorder.events_table_name,
            config.immudb_state_file,
            aggregate_id=args.aggregate,
        )
    except VerificationError as exc:
        print(f"aethyr-es verify: FAILED ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"cannot verify: {type(exc).__name__}: {exc}") from None
    finally:
        app.close()
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary())
    print(f"trusted state saved to {config.immudb_state_file} (tx {report.verified_tx})")
    return 0


# ------------------------------------------------------------------ store
def _store_upgrade(args: argparse.Namespace) -> int:
    """Copy an immudb store from the SQL layout into the KV layout (resumable)."""
    from eventsourcing.utils import Environment

    from aethyr_domain.application import World
    from aethyr_immudb_recorder.factory import ImmudbFactory
    from aethyr_immudb_recorder.upgrade import UpgradeError, upgrade_store

    config = _config(args)
    if config.event_store != "immudb":
        raise CliError(
            f"store upgrade needs event_store = immudb (configured: {config.event_store})"
        )
    factory = ImmudbFactory(Environment(name=World.name, env=config.eventsourcing_env()))
    try:
        report = upgrade_store(
            factory.datastore,
            progress=lambda table, last: print(f"  {table}: copied up to id {last}", flush=True),
        )
    except UpgradeError as exc:
        print(f"aethyr-es store upgrade: FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        raise CliError(f"cannot upgrade the store: {type(exc).__name__}: {exc}") from None
    finally:
        factory.close()
    print(report.summary())
    return 0


# ------------------------------------------------------------------ users
def _users(args: argparse.Namespace) -> int:
    """``users create|grant|list``: immudb users, as the configured (admin) user."""
    from eventsourcing.utils import Environment

    from aethyr_domain.application import World
    from aethyr_immudb_recorder.errors import ConfigurationError
    from aethyr_immudb_recorder.settings import ImmudbSettings
    from aethyr_immudb_recorder.users import UserAdmin, UserAdminError

    config = _config(args)
    if config.event_store != "immudb":
        raise CliError(f"users needs event_store = immudb (configured: {config.event_store})")
    try:
        settings = ImmudbSettings.from_env(
            Environment(name=World.name, env=config.eventsourcing_env())
        )
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    database = args.database or config.immudb_database
    with UserAdmin(settings) as admin:
        try:
            if args.users_command == "list":
                users = admin.list_users()
                if args.json:
                    rows = [u.as_dict() for u in users]
                    sys.stdout.write(json.dumps(rows, sort_keys=True, indent=2) + "\n")
                else:
                    for user in users:
                        print(user.line())
                return 0
            if args.users_command == "grant":
                admin.grant(args.name, database=database, permission=args.permission)
                print(f"user {args.name!r} has {args.permission} on database {database!r}")
                return 0
            password = _new_password(args.password_file)
            admin.create_user(
                args.name,
                password,
                database=database,
                permission=args.permission,
                create_database=args.create_database,
            )
        except UserAdminError as exc:
            raise CliError(str(exc)) from None
    print(f"created immudb user {args.name!r} with {args.permission} on database {database!r}")
    return 0


def _new_password(path: str | None) -> str:
    """The new user's password: from ``path`` or standard input (one line; never echoed)."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read --password-file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CliError(f"cannot read --password-file {path}: not UTF-8") from None
        password = text.removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass("new user's password: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise CliError("no password given (standard input or --password-file)")
    return password


def _users_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    users = sub.add_parser(
        "users", help="immudb users and permissions (run with an admin's credentials)"
    )
    users_sub = users.add_subparsers(dest="users_command", required=True)
    for command in ("create", "grant"):
        p = users_sub.add_parser(
            command,
            parents=[common],
            help="create a user with a permission on one database"
            if command == "create"
            else "give an existing user a permission on one database",
        )
        p.add_argument("name", metavar="NAME")
        p.add_argument("--database", metavar="DB", help="default: immudb_database")
        p.add_argument("--permission", required=True, choices=("read", "readwrite", "admin"))
        if command == "create":
            p.add_argument(
                "--password-file",
                metavar="FILE",
                help="read the new password from FILE (default: standard input)",
            )
            p.add_argument(
                "--create-database",
                action="store_true",
                help="create the database first if it is missing (needs immudb's superuser)",
            )
        p.set_defaults(func=_users)
    listing = users_sub.add_parser("list", parents=[common], help="every user and permission")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(func=_users, database=None)


# ------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="TOML configuration file (default: $AETHYR_CONFIG; AETHYR_* variables override)",
    )
    parser = argparse.ArgumentParser(prog="aethyr-es", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "demo", parents=[common], help="scripted session on the embedded store, then a rebuild"
    ).set_defaults(func=_demo)
    play = sub.add_parser("play", parents=[common], help="run '<player>: <command>' lines")
    play.add_argument("--script", metavar="FILE", help="script file (default: stdin)")
    play.add_argument("--dump-world", metavar="OUT", help="write the final world as JSON")
    play.set_defaults(func=_play)
    world = sub.add_parser("world", parents=[common], help="print the world as canonical JSON")
    world.add_argument("--json", action="store_true", required=True, help="JSON output")
    world.add_argument("--source", choices=("live", "projection", "replay"), default="replay")
    world.add_argument(
        "--at",
        metavar="TX|ISO-TIMESTAMP",
        help="the world as it was then: TX is an immudb transaction id on the immudb store, "
        "a notification id on sqlite/popo; or an ISO-8601 time (UTC if no offset)",
    )
    world.set_defaults(func=_world)
    stats = sub.add_parser("stats", parents=[common], help="event store and outbox statistics")
    stats.add_argument("--json", action="store_true", help="JSON output")
    stats.set_defaults(func=_stats)
    outbox = sub.add_parser(
        "outbox", parents=[common], help="pending entries and dead letters; retry or discard"
    )
    outbox.add_argument("action", nargs="?", choices=("list", "retry", "discard"), default="list")
    outbox.add_argument("id", nargs="?", metavar="ID", help="a dead letter's seq")
    outbox.add_argument("--all", action="store_true", help="retry: every dead letter")
    outbox.add_argument("--json", action="store_true", help="JSON output")
    outbox.set_defaults(func=_outbox)
    serve = sub.add_parser("serve", parents=[common], help="run the game as a telnet server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=4000, help="port (0: any free port)")
    serve.add_argument("--dump-world", metavar="OUT", help="at shutdown, write the world as JSON")
    serve.set_defaults(func=_serve)
    migrate = sub.add_parser("migrate", parents=[common], help="import a world dump (idempotent)")
    migrate.add_argument("dump", metavar="DUMP.json", nargs="?")
    migrate.add_argument(
        "--from-storage", metavar="FILE", help="import the game's own storage (flag-off world)"
    )
    migrate.set_defaults(func=_migrate)
    from aethyr_domain.cli.projections import register

    register(sub, common, _config)  # rebuild, schema, project, history
    from aethyr_domain.cli import replication as replication_commands

    replication_commands.register(sub, common, _config)  # promote
    verify = sub.add_parser(
        "verify", parents=[common], help="check the store against immudb's cryptographic proofs"
    )
    verify.add_argument("--aggregate", metavar="ID", help="verify one aggregate's events only")
    verify.set_defaults(func=_verify)
    store = sub.add_parser("store", help="maintenance of the immudb event store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    store_sub.add_parser(
        "upgrade",
        parents=[common],
        help="copy a store in the SQL layout of earlier versions into the KV layout "
        "(keeps ids, order and versions; checks counts and hashes; resumable)",
    ).set_defaults(func=_store_upgrade)
    _users_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aethyr-es`` console script."""
    # gRPC's C core logs TLS handshake failures to stderr itself; the CLI reports every
    # failure in its own one line (set GRPC_VERBOSITY to see gRPC's logs again).
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, ConfigError, WorldDumpError, MetricsEndpointError) as exc:
        print(f"aethyr-es: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
