"""Writing to and checking the event store: ``migrate`` (import a world dump or the
game's own storage), ``verify`` (immudb's proofs) and ``store upgrade`` (the SQL
layout of earlier versions into the KV layout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aethyr_domain.cli.common import (
    CliError,
    load_config,
    require_event_sourcing,
    writing,
)
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.read.world_dump import loads


# ---------------------------------------------------------------- migrate
def run_migrate(args: argparse.Namespace) -> int:
    config = load_config(args)
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


# ----------------------------------------------------------------- verify
def run_verify(args: argparse.Namespace) -> int:
    """Check the event store against immudb's proofs; exit 1 when a check fails."""
    config = load_config(args)
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
def run_store_upgrade(args: argparse.Namespace) -> int:
    """Copy an immudb store from the SQL layout into the KV layout (resumable)."""
    from eventsourcing.utils import Environment

    from aethyr_domain.application import World
    from aethyr_immudb_recorder.factory import ImmudbFactory
    from aethyr_immudb_recorder.upgrade import UpgradeError, upgrade_store

    config = load_config(args)
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
