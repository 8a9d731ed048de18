"""Helpers of the outbox tests: decided entries (as the game makes them) and leases."""

from __future__ import annotations

import time
from typing import Any

from aethyr_domain import commands as c
from aethyr_domain.decision import Decider
from aethyr_domain.outbox.event_sink import OutboxSink, record_decision
from aethyr_domain.outbox.queue import Outbox
from aethyr_domain.outbox.writer_lease import LeaseHeldError, WriterLease


def decide(outbox: Outbox, mapper: Any, decider: Decider, command: c.Command) -> str | None:
    """Decide ``command`` in process and append its events as one entry."""
    return record_decision(outbox, mapper, decider.decide(command))


def fill_rooms(outbox: Outbox, mapper: Any, rooms: int, descriptions: int) -> int:
    """CreateRoom + ``descriptions`` x UpdateRoomDescription per room; entries made."""
    decider = Decider()
    made = 0
    for r in range(rooms):
        create = c.CreateRoom(f"room-{r}", f"Room {r}", "")
        made += decide(outbox, mapper, decider, create) is not None
        for d in range(descriptions):
            command = c.UpdateRoomDescription(f"room-{r}", f"v{d}")
            made += decide(outbox, mapper, decider, command) is not None
    return made


def acquire_patiently(recorder: Any, timeout: float, wait: float = 30.0) -> WriterLease:
    """The writer lease, waiting for a crashed holder's lease to time out."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return WriterLease.acquire(recorder, timeout=timeout)
        except LeaseHeldError:
            if time.monotonic() > deadline:
                raise
            time.sleep(timeout / 5)


def outbox_sink(sink: object) -> OutboxSink:
    """The game's sink as the outbox sink it is when event sourcing is on (a
    ``Manager``'s ``sink`` is typed by its protocol, which has no ``drain``)."""
    assert isinstance(sink, OutboxSink), f"not an outbox sink: {sink!r}"
    return sink
