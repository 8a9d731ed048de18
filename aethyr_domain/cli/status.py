"""``stats`` (event counts by type, aggregates, outbox backlog, store health) and
``outbox`` (pending entries and dead letters; ``retry``, ``discard``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethyr_domain.cli.common import (
    CliError,
    load_config,
    open_outbox,
)
from aethyr_domain.cli.replication import replication_lines, replication_stats
from aethyr_domain.config import ServerConfig

if TYPE_CHECKING:
    from aethyr_domain.application import World


# ------------------------------------------------------------------ stats
def run_stats(args: argparse.Namespace) -> int:
    config = load_config(args)
    report: dict[str, Any] = {
        "event_sourcing_enabled": config.event_sourcing_enabled,
        "event_store": config.event_store,
    }
    reachable = True
    if not config.event_sourcing_enabled:  # nothing to open: no store, no outbox
        report["store_health"] = "disabled"
    else:
        try:
            from aethyr_domain.outbox.event_store import open_world

            app = open_world(config, lag_tolerant=True)
            try:
                report.update(store_stats(app))
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
        for line in replication_lines(report["replication"]):
            print(line)
    if "outbox" in report:
        ob = report["outbox"]
        print(
            f"outbox: backlog {ob['backlog']}, delivered {ob['delivered']}, "
            f"dead letters {ob['dead_letters']}"
        )
    return status


def store_stats(app: World) -> dict[str, Any]:
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


def _projection_faults(app: World) -> list[dict[str, Any]]:
    """The projections stuck on an event they cannot apply (read from the store, see
    ``docs/projections.md``); one entry with ``error`` if the report cannot be read."""
    from aethyr_domain.read.projections.stored_faults import stored_faults

    try:
        return [{**f.as_dict(), "line": f.line()} for f in stored_faults(app)]
    except Exception as exc:
        error = f"cannot read the projection fault report: {type(exc).__name__}: {exc}"
        return [{"error": error, "line": error}]


def _outbox_stats(config: ServerConfig) -> dict[str, Any]:
    if not Path(config.outbox_path).exists():
        return {"path": config.outbox_path, "backlog": 0, "delivered": 0, "dead_letters": 0}
    outbox = open_outbox(config)
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
def run_outbox(args: argparse.Namespace) -> int:
    """``outbox [--json]``, ``outbox retry ID|--all``, ``outbox discard ID``."""
    config = load_config(args)
    if not Path(config.outbox_path).exists():
        raise CliError(f"there is no outbox at {config.outbox_path}")
    outbox = open_outbox(config)
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
