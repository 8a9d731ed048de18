"""The path from the Manager to the World: outbox + delivery thread.

:class:`OutboxSink` is the :class:`~aethyr_domain.manager.CommandSink` the Manager uses
when event sourcing is enabled. ``emit`` only appends to the local outbox and wakes
the delivery thread, so a game action never waits for the event store and never fails
because the store is slow or down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decision
from aethyr_domain.delivery import OUTBOX_BACKLOG, Deliverer
from aethyr_domain.event_store import open_world
from aethyr_domain.outbox import Outbox
from aethyr_domain.values import thaw


def command_entry(decision: Decision) -> tuple[str, dict[str, Any], str]:
    """The decision's command as the outbox stores it: (class name, JSON fields, actor)
    (temporary, with :meth:`OutboxSink.record`; a plaintext password is never kept)."""
    command = decision.command
    fields = {
        f.name: thaw(getattr(command, f.name))
        for f in dataclasses.fields(command)
        if f.name not in ("actor", "password")
    }
    return type(command).__name__, fields, command.actor


class OutboxSink:
    """Durable, non-blocking command sink feeding the World in the background."""

    def __init__(self, outbox: Outbox, deliverer: Deliverer) -> None:
        self.outbox = outbox
        self.deliverer = deliverer
        self._after_close: list[Callable[[], None]] = []

    @classmethod
    def start(
        cls,
        config: ServerConfig,
        world_factory: Callable[[], Any] | None = None,
        *,
        close_world: bool = True,
    ) -> OutboxSink:
        """Open the outbox at ``config.outbox_path`` and start delivering.

        ``close_world=False`` leaves the World open at :meth:`close` (for a World the
        caller owns and keeps using, e.g. the in-memory POPO one).
        """
        outbox = Outbox(config.outbox_path)
        factory = world_factory or (lambda: open_world(config))
        deliverer = Deliverer(outbox, config, factory, close_world=close_world).start()
        OUTBOX_BACKLOG.set(outbox.backlog())
        return cls(outbox, deliverer)

    def record(self, decision: Decision) -> None:
        """Queue what the game decided (a decision without events records nothing).

        Temporary adapter: the outbox still stores the command (name, fields, actor)
        and delivery runs it on the World again; the outbox rework stores
        ``decision.events`` instead.
        """
        if decision.events:
            self.emit(*command_entry(decision))

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

    def after_close(self, closer: Callable[[], None]) -> None:
        """Have :meth:`close` call ``closer`` (in registration order, after the outbox is
        closed) once the delivery thread no longer runs - for what that thread uses
        but does not own, such as a World the caller opened."""
        self._after_close.append(closer)

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering, then close the World (if owned), the outbox and what
        :meth:`after_close` registered.

        If the delivery thread is still in a round after ``timeout`` seconds (a hung
        store), nothing is closed under it: the thread closes everything as it ends
        and a warning is logged (:meth:`~aethyr_domain.delivery.Deliverer.stop`).
        """
        self.deliverer.stop(timeout, then=self._closed)

    def _closed(self) -> None:
        """Close the outbox, then run every registered closer - all of them, even if one
        raises (the first error is re-raised at the end)."""
        self.outbox.close()
        closers, self._after_close = self._after_close, []
        error: BaseException | None = None
        for closer in closers:
            try:
                closer()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error
