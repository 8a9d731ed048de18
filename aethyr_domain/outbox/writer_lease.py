"""One writer per store: a lease kept in the event store itself, with fencing.

Two hosts can point at one immudb, so a lock file on one host is not enough. The lease
is a tracking record of the World's process recorder (any of the POPO, SQLite and
immudb ones), under the application name :data:`WRITER` (``aethyr-writer``). Its
position encodes who holds it and when it last proved to be alive::

    position = epoch << 42 | milliseconds since 1970 (UTC)

* every append of the holder (a delivery batch, written with
  ``insert_events(events, tracking=Tracking(WRITER, position))``) and a heartbeat
  thread (every ``timeout / 4``, ``insert_events([], tracking=...)``) advance it:
  ``max(last + 1, epoch << 42 | now_ms)``;
* a clean release writes ``epoch << 42 | (2**42 - 1)`` (:data:`RELEASED_MS`);
* a starting writer reads the maximum. Nothing, released, or a last heartbeat older
  than ``timeout``: it claims ``epoch + 1`` (see below). Otherwise it is refused with
  :class:`LeaseHeldError` before it changed anything.

Fencing falls out of the recorders' contract: a tracking position must be strictly
greater than the stored one (eventsourcing 9.5's POPO and SQLite recorders and
``aethyr_immudb_recorder`` all refuse others with ``IntegrityError``). A writer that was
paused while another took over (a higher epoch) gets ``IntegrityError`` on its next
append and learns (:meth:`WriterLease.check`) that it lost the lease
(:class:`LeaseLostError`): it stops writing.

Claiming: the claim is written at ``(epoch + 1) << 42`` exactly (timestamp 0, so two
starters racing for the same epoch cannot both succeed: the second position is not
greater), and the claimer holds the lease only once its first heartbeat succeeded.
Another starter that saw the claim's timestamp 0 as stale may claim ``epoch + 2`` in
between; the first heartbeat then fails and the first starter is refused.

Clocks: the age of a lease is the reader's clock minus the holder's. Hosts whose
clocks differ by more than a fraction of the timeout can take over a live lease
early (fencing still stops the old holder's next append) or wait longer than the
timeout; keep the writers' clocks synchronised (NTP).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

log = logging.getLogger(__name__)

#: Tracking application name of the lease of the writers of the World's log.
WRITER = "aethyr-writer"
#: Tracking application name of the lease that lets one read-model rebuild run at a time.
REBUILD = "aethyr-rebuild"
#: Default seconds without a heartbeat after which a lease may be taken over.
DEFAULT_TIMEOUT = 15.0

EPOCH_SHIFT = 42
RELEASED_MS = (1 << EPOCH_SHIFT) - 1


class LeaseError(Exception):
    """The lease cannot be taken or kept; ``str(error)`` is one line for the operator."""


class LeaseHeldError(LeaseError):
    """Another live writer holds the lease: this process must not write."""


class LeaseLostError(LeaseError):
    """This writer held the lease, but another one took it over: stop writing."""


def split(position: int) -> tuple[int, int]:
    """``(epoch, milliseconds)`` of a lease position."""
    return position >> EPOCH_SHIFT, position & RELEASED_MS


def now_ms() -> int:
    """Milliseconds since 1970 (the lease's clock)."""
    return int(time.time() * 1000)


class WriterLease:
    """The lease of one writer process on one store (see the module docstring).

    Use :meth:`acquire`; then :meth:`append` for every write that must be fenced,
    :meth:`start_heartbeat` to keep the lease while idle, and :meth:`release` at a
    clean exit. Thread-safe: appends and heartbeats are serialised, so positions
    reach the store in increasing order.
    """

    def __init__(
        self,
        recorder: Any,
        epoch: int,
        position: int,
        *,
        name: str = WRITER,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.recorder = recorder
        self.epoch = epoch
        self.position = position
        self.name = name
        self.timeout = timeout
        self.clock = clock
        #: Set once another writer took over (every later append raises).
        self.lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- acquiring
    @classmethod
    def acquire(
        cls,
        recorder: Any,
        *,
        name: str = WRITER,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], int] = now_ms,
        what: str = "writer",
    ) -> WriterLease:
        """Take the lease, or raise :class:`LeaseHeldError` without writing anything.

        ``recorder`` is a process recorder (``max_tracking_id`` and
        ``insert_events(..., tracking=...)``); ``what`` names the holder in messages.
        """
        current = recorder.max_tracking_id(name)
        epoch = 0
        if current is not None:
            epoch, stamp = split(current)
            if stamp != RELEASED_MS:
                age = (clock() - stamp) / 1000.0
                if age <= timeout:
                    raise LeaseHeldError(
                        f"another {what} is writing to this event store (lease {name!r} "
                        f"epoch {epoch}, last heartbeat {max(age, 0.0):.1f}s ago); "
                        f"it is taken over {timeout:g}s after its last heartbeat "
                        "(writer_lease_timeout)"
                    )
        claim = (epoch + 1) << EPOCH_SHIFT
        try:
            recorder.insert_events([], tracking=Tracking(name, claim))
        except IntegrityError:
            raise LeaseHeldError(
                f"another {what} took the lease {name!r} of this event store at the same "
                "moment; try again"
            ) from None
        lease = cls(recorder, epoch + 1, claim, name=name, timeout=timeout, clock=clock)
        try:
            lease.heartbeat()
        except LeaseLostError:
            raise LeaseHeldError(
                f"another {what} took the lease {name!r} of this event store at the same "
                "moment; try again"
            ) from None
        return lease

    # --------------------------------------------------------------- writing
    def _next_position(self) -> int:
        return max(
            self.position + 1, (self.epoch << EPOCH_SHIFT) | min(self.clock(), RELEASED_MS - 1)
        )

    def append(self, stored_events: Sequence[StoredEvent]) -> Any:
        """``insert_events(stored_events)`` with the lease's next tracking record.

        Raises :class:`LeaseLostError` if the lease was lost (before or by this
        append); the recorder's ``IntegrityError`` if the events themselves were
        refused; transient errors as they come.
        """
        with self._lock:
            if self.lost is not None:
                raise LeaseLostError(self.lost)
            position = self._next_position()
            try:
                result = self.recorder.insert_events(
                    list(stored_events), tracking=Tracking(self.name, position)
                )
            except IntegrityError:
                self._check_locked()
                raise
            self.position = position
            return result

    def heartbeat(self) -> None:
        """Advance the lease without events (proves this writer is alive)."""
        self.append([])

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if another writer advanced the lease."""
        with self._lock:
            self._check_locked()

    def _check_locked(self) -> None:
        if self.lost is not None:
            raise LeaseLostError(self.lost)
        current = self.recorder.max_tracking_id(self.name)
        if current is not None and current > self.position:
            epoch, _stamp = split(current)
            self.lost = (
                f"this process lost its lease {self.name!r} on the event store (it held "
                f"epoch {self.epoch}; epoch {epoch} took over, probably after this process "
                f"was paused for more than {self.timeout:g}s): it stops writing"
            )
            log.error("%s", self.lost)
            raise LeaseLostError(self.lost)

    # ------------------------------------------------------------- heartbeat
    def start_heartbeat(self) -> WriterLease:
        """Heartbeat every ``timeout / 4`` seconds on a daemon thread until released."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._beat, name=f"{self.name}-heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def _beat(self) -> None:
        interval = max(self.timeout / 4.0, 0.01)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except LeaseLostError:
                return  # logged by _check_locked; appends now raise
            except Exception as exc:  # transient: the next beat tries again
                log.warning("lease %r heartbeat failed: %s: %s", self.name, type(exc).__name__, exc)

    def stop_heartbeat(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(self.timeout, 1.0))

    def release(self) -> bool:
        """Stop the heartbeat and give the lease up at once; True if released.

        A lease already lost, or a store that cannot be reached, is left alone (the
        next writer takes it over after the timeout) and False is returned.
        """
        self.stop_heartbeat()
        with self._lock:
            if self.lost is not None:
                return False
            position = (self.epoch << EPOCH_SHIFT) | RELEASED_MS
            try:
                self.recorder.insert_events([], tracking=Tracking(self.name, position))
            except Exception as exc:
                log.warning(
                    "could not release the lease %r (%s: %s); it is taken over after %gs",
                    self.name,
                    type(exc).__name__,
                    exc,
                    self.timeout,
                )
                return False
            self.position = position
            self.lost = "the lease was released"
        return True
