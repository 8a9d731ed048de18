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
import os
import sys

from aethyr_domain.cli.common import CliError, load_config
from aethyr_domain.cli.metrics_endpoint import MetricsEndpointError
from aethyr_domain.cli.play import run_demo, run_play, run_serve
from aethyr_domain.cli.projections import register as register_projections
from aethyr_domain.cli.replication import register as register_replication
from aethyr_domain.cli.status import run_outbox, run_stats
from aethyr_domain.cli.store import run_migrate, run_store_upgrade, run_verify
from aethyr_domain.cli.users import add_users_parser
from aethyr_domain.cli.world import run_world
from aethyr_domain.config import ConfigError
from aethyr_domain.read.world_dump import WorldDumpError


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
    ).set_defaults(func=run_demo)
    play = sub.add_parser("play", parents=[common], help="run '<player>: <command>' lines")
    play.add_argument("--script", metavar="FILE", help="script file (default: stdin)")
    play.add_argument("--dump-world", metavar="OUT", help="write the final world as JSON")
    play.set_defaults(func=run_play)
    world = sub.add_parser("world", parents=[common], help="print the world as canonical JSON")
    world.add_argument("--json", action="store_true", required=True, help="JSON output")
    world.add_argument("--source", choices=("live", "projection", "replay"), default="replay")
    world.add_argument(
        "--at",
        metavar="TX|ISO-TIMESTAMP",
        help="the world as it was then: TX is an immudb transaction id on the immudb store, "
        "a notification id on sqlite/popo; or an ISO-8601 time (UTC if no offset)",
    )
    world.set_defaults(func=run_world)
    stats = sub.add_parser("stats", parents=[common], help="event store and outbox statistics")
    stats.add_argument("--json", action="store_true", help="JSON output")
    stats.set_defaults(func=run_stats)
    outbox = sub.add_parser(
        "outbox", parents=[common], help="pending entries and dead letters; retry or discard"
    )
    outbox.add_argument("action", nargs="?", choices=("list", "retry", "discard"), default="list")
    outbox.add_argument("id", nargs="?", metavar="ID", help="a dead letter's seq")
    outbox.add_argument("--all", action="store_true", help="retry: every dead letter")
    outbox.add_argument("--json", action="store_true", help="JSON output")
    outbox.set_defaults(func=run_outbox)
    serve = sub.add_parser("serve", parents=[common], help="run the game as a telnet server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=4000, help="port (0: any free port)")
    serve.add_argument("--dump-world", metavar="OUT", help="at shutdown, write the world as JSON")
    serve.set_defaults(func=run_serve)
    migrate = sub.add_parser("migrate", parents=[common], help="import a world dump (idempotent)")
    migrate.add_argument("dump", metavar="DUMP.json", nargs="?")
    migrate.add_argument(
        "--from-storage", metavar="FILE", help="import the game's own storage (flag-off world)"
    )
    migrate.set_defaults(func=run_migrate)
    register_projections(sub, common, load_config)  # rebuild, schema, project, history
    register_replication(sub, common, load_config)  # promote
    verify = sub.add_parser(
        "verify", parents=[common], help="check the store against immudb's cryptographic proofs"
    )
    verify.add_argument("--aggregate", metavar="ID", help="verify one aggregate's events only")
    verify.set_defaults(func=run_verify)
    store = sub.add_parser("store", help="maintenance of the immudb event store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    store_sub.add_parser(
        "upgrade",
        parents=[common],
        help="copy a store in the SQL layout of earlier versions into the KV layout "
        "(keeps ids, order and versions; checks counts and hashes; resumable)",
    ).set_defaults(func=run_store_upgrade)
    add_users_parser(sub, common)
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
