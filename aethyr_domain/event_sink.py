"""The path from the Manager to the World: outbox + delivery thread.

:class:`OutboxSink` is the :class:`~aethyr_domain.manager.CommandSink` the Manager uses
when event sourcing is enabled. ``emit`` only appends to the local outbox and wakes
the delivery thread, so a game action never waits for the event store and never fails
because the store is slow or down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aethyr_domain.config import ServerConfig
from aethyr_domain.delivery import OUTBOX_BACKLOG, Deliverer
from aethyr_domain.event_store import open_world
from aethyr_domain.outbox import Outbox


class OutboxSink:
    """Durable, non-blocking command sink feeding the World in the background."""

    def __init__(self, outbox: Outbox, deliverer: Deliverer) -> None:
        self.outbox = outbox
        self.deliverer = deliverer

    @classmethod
    def start(
        cls, config: ServerConfig, world_factory: Callable[[], Any] | None = None
    ) -> OutboxSink:
        """Open the outbox at ``config.outbox_path`` and start delivering."""
        outbox = Outbox(config.outbox_path)
        factory = world_factory or (lambda: open_world(config))
        deliverer = Deliverer(outbox, config, factory).start()
        OUTBOX_BACKLOG.set(outbox.backlog())
        return cls(outbox, deliverer)

    def emit(self, command: str, fields: Mapping[str, Any], actor: str) -> None:
        self.outbox.append(command, fields, actor)
        OUTBOX_BACKLOG.inc()
        self.deliverer.wake()

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until everything is delivered; True on success."""
        return self.deliverer.drain(timeout)

    @property
    def world(self) -> Any:
        """The World the thread delivers to (``None`` until it connected)."""
        return self.deliverer.world

    def backlog(self) -> int:
        return self.outbox.backlog()

    def close(self) -> None:
        self.deliverer.stop()
        self.outbox.close()
