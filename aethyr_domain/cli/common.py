"""What every command group shares: the one-line failure (:class:`CliError`, exit
code 2) and the other exit codes, reading the configuration and scripts, the
``event_sourcing_enabled`` check, the outbox and the writer lease of a command.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethyr_domain.config import ServerConfig

if TYPE_CHECKING:
    from aethyr_domain.application import World


class CliError(Exception):
    """A user-facing failure: printed as ``aethyr-es: <message>`` with exit code 2."""


#: ``play``: the session ended, but some of its commands became dead letters.
EXIT_DEAD_LETTERS = 3
#: ``play``: another writer took the store's writer lease over; delivery stopped.
EXIT_LEASE_LOST = 4


def load_config(args: argparse.Namespace) -> ServerConfig:
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


def stdin_lines() -> Iterator[str]:
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


def open_outbox(config: ServerConfig) -> Any:
    """The outbox of ``config``; a file that is not one is a ``CliError``."""
    from aethyr_domain.outbox.queue import Outbox, OutboxError

    try:
        return Outbox(config.outbox_path)
    except OutboxError as exc:
        raise CliError(str(exc)) from None


@contextlib.contextmanager
def writing(
    app: World, config: ServerConfig, *, name: str | None = None, what: str = "writer"
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
