"""Delivering the outbox to the event store: in order, exactly once, in group commits.

The game decided every entry already (:mod:`aethyr_domain.decision`); delivery
records the entries' events as they are and never decides again.

One round (:func:`deliver_pending`, used by boot, tests, benchmarks and the thread):

1. *Recovery.* While the outbox is unsettled (``Outbox.needs_recovery``: just
   opened, or an append whose outcome is unknown), the store decides which pending
   entries already took effect: from the oldest one on, each entry whose first event
   is stored with the same topic and state bytes is marked delivered, up to the first
   one that is not (:func:`recover_delivered`; the events carry their versions and
   timestamps, so another writer's event at that version cannot pass for ours). An
   ordinary round skips this: it costs nothing on the outbox.
2. *Group commit.* Every pending entry up to ``batch_size`` goes into ONE
   ``insert_events``, with the writer lease's tracking record in the same append
   (:class:`~aethyr_domain.outbox.writer_lease.WriterLease`); the entries are then
   marked delivered in one outbox transaction committed *without a flush* of its own.
   Nothing is written to the outbox before the append. So a round adds no flush to
   the outbox file the game thread flushes for every group of actions: the game's
   next flushed commit carries the marks to disk, and a mark a power cut loses is
   found again by step 1 (the entry is in the store). Exactly once does not rest on
   the marks: an entry appended twice would be refused by the store as a version
   clash, and step 3 finds it stored.
3. *Refusals.* An entry whose events skip ahead of an aggregate's version in the
   store (the store lost acknowledged events: an asynchronous failover) is never
   appended: it becomes a dead letter saying so (:mod:`aethyr_domain.outbox.version_gaps`).
   A batch the store refuses (``IntegrityError``: an event's version is
   taken) is split in halves until the refused entry is alone: it becomes a dead
   letter (logged as an error, counted), the rest of its batch still goes in. If the
   ``IntegrityError`` came from the lease (another writer took over), the round stops
   with :class:`~aethyr_domain.outbox.writer_lease.LeaseLostError` instead.
4. *Snapshots.* An aggregate whose new version crossed the World's snapshot
   threshold is snapshotted after its batch (as ``World.save`` does).

Command rows of earlier versions (no events) are decided once, against the store,
with the World's handlers (the same rules), rewritten in the outbox as events, and
delivered like the others; a command the World refuses becomes a dead letter.

Failure policy of the thread (:class:`Deliverer`): transient faults
(``OperationalError``, ``InterfaceError``, OS/connection errors) stop the round; the
entries stay in line and are retried after a back-off of ``retry_base_delay * 2**n``
capped at ``retry_max_delay``; after ``retry_attempts`` failures in a row the World is
reopened. A lost lease stops the thread for good (``Deliverer.lost``).

Stopping: :meth:`Deliverer.stop` waits (bounded) for the thread to finish its round.
The World and the outbox are closed only once nothing uses them: at once when the
thread ended in time, otherwise by the thread itself as it exits; ``stop`` then logs
a warning and returns ``False``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from prometheus_client import Counter, Gauge

from aethyr_domain import commands
from aethyr_domain.application import World
from aethyr_domain.config import ServerConfig
from aethyr_domain.errors import ConcurrencyConflictError
from aethyr_domain.outbox.event_store import last_version
from aethyr_domain.outbox.queue import Entry, Outbox, OutboxEvent
from aethyr_domain.outbox.version_gaps import refuse_version_gaps
from aethyr_domain.outbox.writer_lease import LeaseLostError, WriterLease

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("aethyr_outbox_backlog", "Commands in the outbox waiting for delivery")
OUTBOX_DELIVERED = Counter("aethyr_outbox_delivered", "Commands delivered to the event store")
OUTBOX_DEAD = Counter("aethyr_outbox_dead_letters", "Commands the event store refused")
OUTBOX_ERRORS = Counter("aethyr_outbox_delivery_errors", "Transient delivery failures")
#: The dead letters the outbox holds now (set when delivery starts, raised by each
#: refusal): unlike the counter above it survives a restart, so "> 0" is an alert.
OUTBOX_DEAD_LETTERS = Gauge(
    "aethyr_outbox_dead_letter_commands",
    "Commands in the outbox's dead letters (refused by the event store), waiting for an operator",
)

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConcurrencyConflictError,
    OSError,
    TimeoutError,
)

#: Seconds the thread waits after a round that did not fill its batch, before the next
#: one: under a steady trickle of game actions, fewer and larger appends (each round
#: costs a store round trip and an outbox transaction, and competes with the game
#: thread for the GIL and the outbox), for at most this much more delay to the store.
LINGER = 0.05

#: Test hook: called for each entry of a batch after the store committed it and before
#: the outbox marks the batch delivered (the worst moment for a crash).
AfterHandle = Callable[[Entry], None]


@dataclass
class RoundResult:
    """What one delivery round did."""

    delivered: int = 0
    dead: int = 0
    recovered: int = 0
    #: ``insert_events`` calls that committed (a group commit is one).
    appends: int = 0


def build_command(entry: Entry) -> commands.Command:
    """The command object a command row (earlier format) describes."""
    cls = getattr(commands, entry.command, None)
    if not (isinstance(cls, type) and issubclass(cls, commands.Command)):
        raise ValueError(f"unknown command {entry.command!r}")
    command: commands.Command = cls(**(entry.fields or {}), actor=entry.actor)
    return command


def to_stored_events(entries: Sequence[Entry]) -> list[StoredEvent]:
    """The entries' events as the recorder takes them, in order."""
    return [
        StoredEvent(e.originator_id, e.originator_version, e.topic, e.state)
        for entry in entries
        for e in entry.events or ()
    ]


def is_stored(world: World, event: OutboxEvent) -> bool:
    """True if the store holds exactly this event (same id, version, topic, state)."""
    found = world.recorder.select_events(
        event.originator_id,
        gt=event.originator_version - 1,
        lte=event.originator_version,
        limit=1,
    )
    return bool(found) and found[0].topic == event.topic and bytes(found[0].state) == event.state


def recover_in_flight(
    outbox: Outbox, world: World, *, batch_size: int = 100, result: RoundResult | None = None
) -> int:
    """Settle what a crash, a power cut or a timeout left unsettled; how many pending
    entries turned out to be in the store already (now marked delivered).

    Runs only while ``outbox.needs_recovery`` (a newly opened outbox, or an append
    whose outcome is unknown): an ordinary round does not touch the outbox here.
    Markers an earlier version wrote are settled first. Rows it cannot decode become
    dead letters, counted in ``result``.
    """
    if not outbox.needs_recovery:
        return 0
    recovered = _recover_command_marker(outbox, world)
    if outbox.in_flight_batch() is not None:
        outbox.clear_in_flight()  # an earlier version's marker: the check covers its batch
    recovered += recover_delivered(outbox, world, batch_size=batch_size, result=result)
    outbox.needs_recovery = False
    return recovered


def recover_delivered(
    outbox: Outbox, world: World, *, batch_size: int = 100, result: RoundResult | None = None
) -> int:
    """Mark delivered the oldest pending entries the store already holds; how many.

    Delivery appends the oldest pending entries, in order, each batch atomically, so
    the entries that reached the store but are still pending (their marks were lost,
    or a crash came between the append and the mark) are the head of the line: the
    check walks it from the oldest entry and stops at the first entry whose first
    event is not stored with the same topic and state bytes (the events carry their
    versions and timestamps, so another writer's event at that version cannot pass
    for ours), or at a command row of an earlier version. An entry past that point
    that the store holds anyway is still never recorded twice: its append is refused
    as a version clash, and :func:`_deliver` finds it stored.
    """
    recovered = 0
    while True:
        head = _read_pending(outbox, batch_size, result or RoundResult())
        stored: list[int] = []
        for entry in head:
            if not entry.events or not is_stored(world, entry.events[0]):
                break
            stored.append(entry.seq)
        if stored:
            outbox.mark_batch_delivered(stored)
            OUTBOX_DELIVERED.inc(len(stored))
            recovered += len(stored)
        if len(stored) < len(head) or not head:
            return recovered


def _recover_command_marker(outbox: Outbox, world: World) -> int:
    """The marker an earlier version left while delivering one command row.

    Earlier versions could only tell by the aggregate's version whether the command
    took effect; this is kept for a file written by one of them.
    """
    marker = outbox.in_flight()
    if marker is None:
        return 0
    pending = outbox.entries_between(marker.seq, marker.seq)
    if not pending or not pending[0].is_command:
        outbox.clear_in_flight()
        return 0
    if last_version(world, marker.aggregate_id) > marker.version_before:
        outbox.mark_delivered(marker.seq)
        OUTBOX_DELIVERED.inc()
        return 1
    outbox.clear_in_flight()
    return 0


def deliver_pending(
    outbox: Outbox,
    world: World,
    *,
    batch_size: int = 100,
    lease: WriterLease | None = None,
    after_handle: AfterHandle | None = None,
) -> RoundResult:
    """One round: recover, then record up to ``batch_size`` entries in one append.

    ``lease`` is the writer lease the appends carry (the game, ``migrate`` and
    benchmarks pass theirs); without it the events are appended without a tracking
    record (tests of this module only). Transient errors and
    :class:`~aethyr_domain.outbox.writer_lease.LeaseLostError` propagate.
    """
    result = RoundResult()
    result.recovered = recover_in_flight(outbox, world, batch_size=batch_size, result=result)
    batch: list[Entry] = []
    for entry in _read_pending(outbox, batch_size, result):
        if entry.is_command:
            if batch:
                break  # deliver the decided entries before it
            decided = _decide_command_row(outbox, world, entry, result)
            if decided is not None:
                _deliver(outbox, world, [decided], lease, after_handle, result)
            break  # one command row per round: the next one is decided on its result
        batch.append(entry)
    if batch:
        batch = _without_version_gaps(outbox, world, batch, result)
    if batch:
        _deliver(outbox, world, batch, lease, after_handle, result)
    OUTBOX_BACKLOG.set(outbox.backlog())
    return result


def _read_pending(outbox: Outbox, limit: int, result: RoundResult) -> list[Entry]:
    """The oldest ``limit`` pending entries; rows that cannot be decoded become dead
    letters (logged, counted in ``result``)."""
    read = outbox.read_pending(limit)
    if read.quarantined:
        log.error(
            "%d outbox row(s) could not be decoded: moved to the dead letters", read.quarantined
        )
        OUTBOX_DEAD.inc(read.quarantined)
        result.dead += read.quarantined
    return read.entries


def _without_version_gaps(
    outbox: Outbox, world: World, batch: list[Entry], result: RoundResult
) -> list[Entry]:
    """``batch`` without the entries that would leave a version gap in the log: those
    become dead letters (:mod:`aethyr_domain.outbox.version_gaps`)."""

    def refuse(entry: Entry, reason: str) -> None:
        _dead(outbox, entry, reason)
        result.dead += 1

    return refuse_version_gaps(world, batch, refuse)


def _decide_command_row(
    outbox: Outbox, world: World, entry: Entry, result: RoundResult
) -> Entry | None:
    """Decide a command row of the earlier format against the store; the entry with
    its events, or ``None`` (refused: a dead letter; or it changed nothing)."""
    from aethyr_domain.handlers import HANDLERS
    from aethyr_domain.unit_of_work import UnitOfWork

    try:
        command = build_command(entry)
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise ValueError(f"unknown command {entry.command!r}")
        uow = UnitOfWork(world)
        handler(uow, command, world._prepare(command))
        events = [e for aggregate in uow.changed() for e in aggregate.collect_events()]
    except TRANSIENT:
        raise
    except Exception as exc:
        _dead(outbox, entry, f"{type(exc).__name__}: {exc}")
        result.dead += 1
        return None
    if not events:
        outbox.mark_delivered(entry.seq)
        OUTBOX_DELIVERED.inc()
        result.delivered += 1
        return None
    stored = [world.mapper.to_stored_event(e) for e in events]
    decided = tuple(
        OutboxEvent(str(s.originator_id), s.originator_version, s.topic, bytes(s.state))
        for s in stored
    )
    outbox.replace_with_events(entry.seq, decided)
    return Entry(entry.seq, entry.command_id, entry.command, entry.actor, events=decided)


def _deliver(
    outbox: Outbox,
    world: World,
    batch: list[Entry],
    lease: WriterLease | None,
    after_handle: AfterHandle | None,
    result: RoundResult,
) -> None:
    """Append ``batch`` in one ``insert_events``; split it when the store refuses it."""
    stored = to_stored_events(batch)
    try:
        if lease is not None:
            lease.append(stored)
        else:
            world.recorder.insert_events(stored)
    except IntegrityError as exc:  # nothing was written (appends are atomic)
        if len(batch) > 1:
            middle = len(batch) // 2
            _deliver(outbox, world, batch[:middle], lease, after_handle, result)
            _deliver(outbox, world, batch[middle:], lease, after_handle, result)
            return
        entry = batch[0]
        if entry.events and is_stored(world, entry.events[0]):  # an earlier try went in
            outbox.mark_batch_delivered([entry.seq])
            OUTBOX_DELIVERED.inc()
            result.delivered += 1
            return
        _dead(outbox, entry, f"{type(exc).__name__}: {exc}")
        result.dead += 1
        return
    except BaseException:  # a timeout, a lost connection: the append may have committed
        outbox.needs_recovery = True
        raise
    result.appends += 1
    if after_handle is not None:
        for entry in batch:
            after_handle(entry)
    outbox.mark_batch_delivered([entry.seq for entry in batch])
    OUTBOX_DELIVERED.inc(len(batch))
    result.delivered += len(batch)
    _snapshot(world, stored)


def _snapshot(world: World, stored: Sequence[StoredEvent]) -> None:
    """Snapshot the aggregates whose new versions crossed the World's threshold."""
    threshold = int(getattr(world, "snapshot_threshold", 0) or 0)
    if not threshold or getattr(world, "snapshots", None) is None:
        return
    for event in stored:
        if event.originator_version % threshold:
            continue
        try:
            world.take_snapshot(str(event.originator_id), version=event.originator_version)
        except IntegrityError:
            continue  # already snapshotted at that version
        except Exception as exc:  # a snapshot is an optimisation: never fail delivery
            log.warning(
                "snapshot of %s at version %d failed: %s: %s",
                event.originator_id,
                event.originator_version,
                type(exc).__name__,
                exc,
            )


def _dead(outbox: Outbox, entry: Entry, error: str) -> None:
    log.error("outbox entry %s (%s) refused: %s", entry.seq, entry.command, error)
    outbox.mark_dead(entry, error)
    OUTBOX_DEAD.inc()
    OUTBOX_DEAD_LETTERS.inc()


class Deliverer:
    """The background thread that drains the outbox into the event store."""

    def __init__(
        self,
        outbox: Outbox,
        config: ServerConfig,
        world_factory: Callable[[], World],
        *,
        close_world: bool = True,
        lease: WriterLease | None = None,
    ) -> None:
        self.outbox = outbox
        self.close_world = close_world
        self.config = config
        self.world_factory = world_factory
        self.lease = lease
        self.world: World | None = None
        self.last_error: str | None = None
        #: Why delivery stopped for good (this process lost its writer lease), if it did.
        self.lost: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="aethyr-outbox", daemon=True)
        # Who closes the World (and ``then``) after stop(): the caller, or the thread
        # itself when it outlived stop()'s timeout. Guarded by ``_exit_lock``.
        self._exit_lock = threading.Lock()
        self._exited = False
        self._on_exit: list[Callable[[], None]] = []

    def start(self) -> Deliverer:
        OUTBOX_DEAD_LETTERS.set(len(self.outbox.dead_letters()))
        self._thread.start()
        return self

    def wake(self) -> None:
        """Tell the thread there is something new (called after each append)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0, *, then: Callable[[], None] | None = None) -> bool:
        """Stop the thread (pending entries stay in the outbox), then close the World
        (when ``close_world``) and call ``then`` (e.g. the outbox's ``close``).

        Returns ``True`` if the thread ended within ``timeout`` seconds: everything
        is closed when ``stop`` returns. Otherwise the thread is still inside a
        round (a store call that hangs, a World being opened) and still uses the
        World and the outbox: nothing is closed under it; it closes them itself as
        it leaves, ``stop`` logs a warning and returns ``False``.
        """
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        closers = [self._close_world]
        if then is not None:
            closers.append(then)
        with self._exit_lock:
            ended = self._exited or self._thread.ident is None  # ended, or never started
            if not ended:
                self._on_exit.extend(closers)
        if not ended:
            log.warning(
                "outbox delivery thread still busy %.1fs after stop; it closes the World "
                "and the outbox itself when its round ends",
                timeout,
            )
            return False
        for close in closers:
            close()
        return True

    def _close_world(self) -> None:
        world, self.world = self.world, None
        if world is not None and self.close_world:
            world.close()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an empty backlog; True if it emptied."""
        self.wake()
        with self._idle:
            return self._idle.wait_for(
                lambda: self.lost is not None or self.outbox.backlog() == 0, timeout
            ) and (self.lost is None)

    def _run(self) -> None:
        try:
            self._deliver_until_stopped()
        finally:
            with self._exit_lock:
                self._exited = True
                closers, self._on_exit = self._on_exit, []
            for close in closers:  # stop() timed out: close what it left to us
                try:
                    close()
                except Exception:
                    log.exception("closing after the delivery thread stopped failed")

    def _deliver_until_stopped(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self.world is None:
                    self.world = self.world_factory()
                    if self._stop.is_set():
                        break  # stopped while the World was being opened
                result = deliver_pending(
                    self.outbox,
                    self.world,
                    batch_size=self.config.outbox_batch_size,
                    lease=self.lease,
                )
                failures = 0
                self.last_error = None
                with self._idle:
                    self._idle.notify_all()
                if result.delivered or result.dead or result.recovered:
                    if result.delivered + result.dead < self.config.outbox_batch_size:
                        self._stop.wait(LINGER)  # let the next round's batch grow
                    continue  # maybe more waiting
                self._wake.wait(self.config.outbox_poll_interval)
                self._wake.clear()
            except LeaseLostError as exc:
                self.lost = self.last_error = str(exc)
                log.error("outbox delivery stopped: %s", exc)
                with self._idle:
                    self._idle.notify_all()
                return
            except TRANSIENT as exc:
                failures += 1
                OUTBOX_ERRORS.inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox delivery failed (attempt %d): %s", failures, self.last_error)
                if failures >= max(1, self.config.retry_attempts) and self.world is not None:
                    self._reopen()
                    failures = 0
                delay = min(
                    self.config.retry_base_delay * 2 ** max(0, failures - 1),
                    self.config.retry_max_delay,
                )
                self._stop.wait(delay)
            except Exception as exc:  # never let the thread die silently
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("outbox delivery thread error")
                self._stop.wait(self.config.retry_max_delay)

    def _reopen(self) -> None:
        if not self.close_world:  # a World the caller owns: keep it, just retry
            return
        world = self.world
        try:
            if world is not None:
                world.close()
        except Exception:  # pragma: no cover - closing a broken connection
            log.debug("closing the world failed", exc_info=True)
        self.world = None
