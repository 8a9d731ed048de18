"""The path from the game to the event store: decisions -> outbox -> delivery thread.

:class:`OutboxSink` is the :class:`~aethyr_domain.game.manager.CommandSink` the Manager uses
when event sourcing is enabled. :meth:`OutboxSink.record` takes a
:class:`~aethyr_domain.decision.Decision` (a command the game decided in process),
maps its events to stored events with the World's mapper and appends them to the
local outbox as ONE entry, then wakes the delivery thread: a game action never waits
for the event store and never fails because the store is slow or down.

Group commit: between :meth:`OutboxSink.begin_batch` and
:meth:`OutboxSink.commit_batch` (the server's game thread, see
:mod:`aethyr_domain.game.group_commit`) ``record`` only collects the entries, in order;
``commit_batch`` appends them all in one outbox transaction (one fsync) and wakes the
delivery thread once. :meth:`OutboxSink.abort_batch` drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aethyr_domain.application import World
from aethyr_domain.config import ServerConfig
from aethyr_domain.decision import Decision
from aethyr_domain.outbox.delivery import OUTBOX_BACKLOG, Deliverer
from aethyr_domain.outbox.delivery_process import DeliveryProcess
from aethyr_domain.outbox.event_store import open_world
from aethyr_domain.outbox.queue import Outbox, OutboxEvent
from aethyr_domain.outbox.writer_lease import WriterLease

log = logging.getLogger(__name__)


def outbox_events(mapper: Any, decision: Decision) -> list[OutboxEvent]:
    """The decision's events as the store will hold them (the World's mapper)."""
    out = []
    for event in decision.events:
        stored = mapper.to_stored_event(event)
        out.append(
            OutboxEvent(
                str(stored.originator_id),
                stored.originator_version,
                stored.topic,
                bytes(stored.state),
            )
        )
    return out


def record_decision(outbox: Outbox, mapper: Any, decision: Decision) -> str | None:
    """Append one decision to ``outbox`` as one entry; its id (``None``: no events)."""
    if not decision.events:
        return None
    command = decision.command
    return outbox.append_events(
        type(command).__name__, str(command.actor), outbox_events(mapper, decision)
    )


def default_mapper() -> Any:
    """The mapper of a ``World`` whose store is not at hand (an in-memory one: the
    mapper does not depend on the store, only on the transcoder settings)."""
    from aethyr_domain.application import World

    world = World(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        return world.mapper
    finally:
        world.close()


class OutboxSink:
    """Durable, non-blocking sink feeding the event store in the background.

    ``mapper`` is the World's (``app.mapper``): it makes the stored events' bytes
    (:func:`default_mapper` when not given).
    ``lease`` is the writer lease this process holds (the delivery appends carry it;
    :meth:`close` releases it once the thread stopped). ``deliverer`` is the delivery
    thread, or ``serve``'s delivery child process
    (:class:`~aethyr_domain.outbox.delivery_process.DeliveryProcess`, which holds the
    lease itself: no ``lease`` here then).
    """

    def __init__(
        self,
        outbox: Outbox,
        deliverer: Deliverer | DeliveryProcess,
        mapper: Any = None,
        *,
        lease: WriterLease | None = None,
    ) -> None:
        self.outbox = outbox
        self.deliverer = deliverer
        self.mapper = mapper
        self.lease = lease
        #: Dead letters the outbox held when this sink started (``new_dead_letters``).
        self.dead_at_start = outbox.dead_letter_count()
        self._after_close: list[Callable[[], None]] = []
        #: The open batch's entries ``(command, actor, events)``, or ``None``.
        self._batch: list[tuple[str, str, list[OutboxEvent]]] | None = None

    @classmethod
    def start(
        cls,
        config: ServerConfig,
        world_factory: Callable[[], World] | None = None,
        *,
        close_world: bool = True,
        mapper: Any = None,
        lease: WriterLease | None = None,
        outbox: Outbox | None = None,
    ) -> OutboxSink:
        """Open the outbox at ``config.outbox_path`` (unless given) and start delivering.

        ``close_world=False`` leaves the World open at :meth:`close` (for a World the
        caller owns and keeps using, e.g. the in-memory POPO one).
        """
        outbox = outbox if outbox is not None else Outbox(config.outbox_path)
        factory = world_factory or (lambda: open_world(config))
        deliverer = Deliverer(outbox, config, factory, close_world=close_world, lease=lease)
        deliverer.start()
        OUTBOX_BACKLOG.set(outbox.backlog())
        return cls(outbox, deliverer, mapper, lease=lease)

    def record(self, decision: Decision) -> None:
        """Append the decision's events as one outbox entry (nothing if it has none)."""
        if self.mapper is None:
            self.mapper = default_mapper()
        if self._batch is not None:
            if decision.events:
                command = decision.command
                events = outbox_events(self.mapper, decision)
                self._batch.append((type(command).__name__, str(command.actor), events))
            return
        if record_decision(self.outbox, self.mapper, decision) is None:
            return
        OUTBOX_BACKLOG.inc()
        self.deliverer.wake()

    def begin_batch(self) -> None:
        """From now on :meth:`record` collects entries until :meth:`commit_batch` or
        :meth:`abort_batch`."""
        self._batch = []

    def commit_batch(self) -> int:
        """Append the collected entries in one outbox transaction (all or none) and
        wake delivery; how many. The batch ends either way (the outbox's error
        propagates if the write failed)."""
        batch, self._batch = self._batch, None
        if not batch:
            return 0
        self.outbox.append_events_many(batch)
        OUTBOX_BACKLOG.inc(len(batch))
        self.deliverer.wake()
        return len(batch)

    def abort_batch(self) -> None:
        """Forget the collected entries (none of them was written)."""
        self._batch = None

    def new_dead_letters(self) -> int:
        """Dead letters added since this sink started (``play`` exits 3 if any)."""
        return max(0, self.outbox.dead_letter_count() - self.dead_at_start)

    @property
    def lost(self) -> str | None:
        """Why delivery stopped for good (this process lost its writer lease), if it did."""
        return self.deliverer.lost

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until everything is delivered; True on success."""
        return self.deliverer.drain(timeout)

    @property
    def world(self) -> World | None:
        """The World the thread delivers to (``None`` until it connected)."""
        return self.deliverer.world

    def backlog(self) -> int:
        """Entries waiting for delivery, counting those of an open batch (not yet in
        the outbox): a checkpoint must not be taken while any are pending."""
        return self.outbox.backlog() + len(self._batch or ())

    def after_close(self, closer: Callable[[], None]) -> None:
        """Have :meth:`close` call ``closer`` (in registration order, after the outbox is
        closed) once the delivery thread no longer runs - for what that thread uses
        but does not own, such as a World the caller opened."""
        self._after_close.append(closer)

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering, release the lease, then close the World (if owned), the
        outbox and what :meth:`after_close` registered.

        If the delivery thread is still in a round after ``timeout`` seconds (a hung
        store), nothing is closed under it: the thread closes everything as it ends
        and a warning is logged (:meth:`~aethyr_domain.outbox.delivery.Deliverer.stop`).
        """
        self.deliverer.stop(timeout, then=self._closed)

    def _closed(self) -> None:
        """Release the lease, close the outbox, then run every registered closer - all
        of them, even if one raises (the first error is re-raised at the end)."""
        if self.lease is not None:
            self.lease.release()
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
