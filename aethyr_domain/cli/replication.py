"""``aethyr-es promote`` and the replication part of ``aethyr-es stats``.

* ``promote HOST:PORT [--force]``: switch the immudb replica at ``HOST:PORT`` of the
  configured database (``immudb_database``) to a primary
  (:func:`aethyr_immudb_recorder.replicas.promote`). Run it after the old primary is
  gone; it refuses while the old primary still answers (two primaries would both
  accept writes) unless ``--force``. Then point the game at ``HOST:PORT``
  (``immudb_address`` / ``immudb_port``). The runbook is ``docs/replication.md``.
* :func:`replication_stats`: each configured replica's lag (transactions and seconds)
  for ``stats``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aethyr_domain.cli.common import CliError
from aethyr_domain.config import ServerConfig

if TYPE_CHECKING:
    from aethyr_domain.application import World


def replication_stats(app: World) -> list[dict[str, Any]]:
    """Each replica's lag behind the primary, measured now (empty without replicas).

    ``app`` must be opened ``lag_tolerant`` (so its factory knows the replicas).
    Measuring also updates the ``aethyr_recorder_replication_lag_*`` gauges.
    """
    replicas = getattr(getattr(app, "factory", None), "replicas", None)
    if replicas is None:
        return []
    return [
        {
            "replica": lag.replica,
            "reachable": lag.reachable,
            "caught_up": lag.caught_up,
            "lag_transactions": lag.transactions,
            "lag_seconds": round(lag.seconds, 4),
        }
        for lag in replicas.lag()
    ]


def replication_lines(entries: list[dict[str, Any]]) -> list[str]:
    """The text lines of ``stats`` for :func:`replication_stats`."""
    lines = []
    for e in entries:
        if not e["reachable"]:
            lines.append(f"replica {e['replica']}: unreachable")
            continue
        state = "caught up" if e["caught_up"] else "still behind"
        lines.append(
            f"replica {e['replica']}: {e['lag_transactions']} transactions behind, "
            f"{e['lag_seconds']:.3f} s to catch up ({state})"
        )
    return lines


def _promote(args: argparse.Namespace, config: ServerConfig) -> int:
    from aethyr_immudb_recorder.replicas import ReplicationError, parse_address, promote

    if config.event_store != "immudb":
        raise CliError(f"promote needs event_store = immudb (configured: {config.event_store})")
    try:
        host, port = parse_address(args.address)
    except ValueError as exc:
        raise CliError(f"promote: {exc}") from None
    try:
        result = promote(
            f"{host}:{port}",
            config.immudb_database,
            user=config.immudb_username,
            password=config.immudb_password.reveal(),
            force=args.force,
        )
    except ReplicationError as exc:
        raise CliError(str(exc)) from None
    if not result.was_replica:
        print(
            f"{config.immudb_database!r} at {host}:{port} is already a primary "
            f"(last transaction {result.last_tx}); nothing changed"
        )
    else:
        print(
            f"promoted {config.immudb_database!r} at {host}:{port} to primary "
            f"(it replicated {result.old_primary}; last transaction {result.last_tx}); "
            f"point the game at it: immudb_address = {host!r}, immudb_port = {port}"
        )
    return 0


def register(
    sub: Any,
    common: argparse.ArgumentParser,
    load_config: Callable[[argparse.Namespace], ServerConfig],
) -> None:
    """Add ``promote`` to the ``aethyr-es`` sub-command parser ``sub``."""
    promote = sub.add_parser(
        "promote",
        parents=[common],
        help="switch an immudb replica of the store to primary (after the primary is gone)",
    )
    promote.add_argument("address", metavar="HOST:PORT", help="the replica to promote")
    promote.add_argument(
        "--force",
        action="store_true",
        help="promote even though the old primary still answers (risks two primaries)",
    )
    promote.set_defaults(func=lambda args: _promote(args, load_config(args)))
