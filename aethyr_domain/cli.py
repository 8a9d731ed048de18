"""The ``aethyr-es`` command line."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from uuid import UUID


def _demo(_: argparse.Namespace) -> int:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Torch(Aggregate):
        @event("Lit")
        def __init__(self, name: str) -> None:
            self.name = name

    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    torch = Torch(name="torch")
    recordings = app.save(torch)
    copy: Torch = app.repository.get(torch.id)
    print(f"aethyr-es {metadata.version('aethyr-eventsourcing')}: install works")
    print(f"saved {len(recordings)} event(s); reloaded {copy.name!r} from the event store")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aethyr-es`` console script."""
    parser = argparse.ArgumentParser(prog="aethyr-es", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the scripted demo on the embedded store").set_defaults(
        func=_demo
    )
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
