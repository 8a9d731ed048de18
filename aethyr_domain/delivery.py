"""Delivering the outbox to the World: in order, exactly once in effect, off the game thread.

:func:`deliver_pending` is one synchronous round (used by tests, ``play`` and the
thread); :class:`Deliverer` runs rounds on a daemon thread, wakes up when the Manager
appends, and backs off exponentially while the store is unreachable.

Failure policy:

* transient faults (``OperationalError``, ``InterfaceError``, OS/connection errors, the
  domain's ``ConcurrencyConflictError``) stop the round; the entry stays first in line
  and is retried after a back-off of ``retry_base_delay * 2**n`` capped at
  ``retry_max_delay``. After ``retry_attempts`` failures in a row the World is
  reopened (a fresh connection).
* anything else (the domain refused the command, ``IntegrityError``, a malformed
  entry) is permanent: the entry moves to the dead letters and is never retried.

Stopping: :meth:`Deliverer.stop` waits (bounded) for the thread to finish its round.
The World and the outbox are closed only once nothing uses them: at once when the
thread ended in time, otherwise by the thread itself as it exits (a round blocked on
a hung store would otherwise find its connection closed under its feet); ``stop``
then logs a warning and returns ``False``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from prometheus_client import Counter, Gauge

from aethyr_domain import commands
from aethyr_domain.config import ServerConfig
from aethyr_domain.errors import ConcurrencyConflictError
from aethyr_domain.event_store import last_version
from aethyr_domain.outbox import Entry, Outbox

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

#: Test hook: called after the World accepted an entry, before it is marked delivered.
AfterHandle = Callable[[Entry], None]


@dataclass
class RoundResult:
    """What one delivery round did."""

    delivered: int = 0
    dead: int = 0
    recovered: int = 0


def build_command(entry: Entry) -> commands.Command:
    """The command object an outbox entry describes."""
    cls = getattr(commands, entry.command, None)
    if not (isinstance(cls, type) and issubclass(cls, commands.Command)):
        raise ValueError(f"unknown command {entry.command!r}")
    command: commands.Command = cls(**entry.fields, actor=entry.actor)
    return command


def recover_in_flight(outbox: Outbox, world: Any) -> int:
    """Settle an entry whose delivery was interrupted; returns 1 if it had taken effect."""
    marker = outbox.in_flight()
    if marker is None:
        return 0
    pending = outbox.pending(1)
    if not pending or pending[0].seq != marker.seq:
        outbox.clear_in_flight()  # the entry is gone already (delivered or dead)
        return 0
    if last_version(world, marker.aggregate_id) > marker.version_before:
        outbox.mark_delivered(marker.seq)
        OUTBOX_DELIVERED.inc()
        return 1
    outbox.clear_in_flight()
    return 0


def deliver_pending(
    outbox: Outbox,
    world: Any,
    *,
    batch_size: int = 100,
    after_handle: AfterHandle | None = None,
) -> RoundResult:
    """Deliver up to ``batch_size`` entries in order; transient errors propagate."""
    result = RoundResult(recovered=recover_in_flight(outbox, world))
    for entry in outbox.pending(batch_size):
        try:
            command = build_command(entry)
        except Exception as exc:  # a malformed entry can never succeed
            _dead(outbox, entry, f"{type(exc).__name__}: {exc}")
            result.dead += 1
            continue
        outbox.mark_in_flight(entry, last_version(world, entry.aggregate_id))
        try:
            world.handle(command)
        except TRANSIENT:
            raise
        except Exception as exc:
            _dead(outbox, entry, f"{type(exc).__name__}: {exc}")
            result.dead += 1
            continue
        if after_handle is not None:
            after_handle(entry)
        outbox.mark_delivered(entry.seq)
        OUTBOX_DELIVERED.inc()
        result.delivered += 1
    OUTBOX_BACKLOG.set(outbox.backlog())
    return result


def _dead(outbox: Outbox, entry: Entry, error: str) -> None:
    log.error("outbox entry %s (%s) refused: %s", entry.seq, entry.command, error)
    outbox.mark_dead(entry, error)
    OUTBOX_DEAD.inc()
    OUTBOX_DEAD_LETTERS.inc()


class Deliverer:
    """The background thread that drains the outbox into the World."""

    def __init__(
        self,
        outbox: Outbox,
        config: ServerConfig,
        world_factory: Callable[[], Any],
        *,
        close_world: bool = True,
    ) -> None:
        self.outbox = outbox
        self.close_world = close_world
        self.config = config
        self.world_factory = world_factory
        self.world: Any = None
        self.last_error: str | None = None
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
            return self._idle.wait_for(lambda: self.outbox.backlog() == 0, timeout)

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
                    self.outbox, self.world, batch_size=self.config.outbox_batch_size
                )
                failures = 0
                self.last_error = None
                with self._idle:
                    self._idle.notify_all()
                if result.delivered or result.dead or result.recovered:
                    continue  # maybe more waiting
                self._wake.wait(self.config.outbox_poll_interval)
                self._wake.clear()
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
        try:
            self.world.close()
        except Exception:  # pragma: no cover - closing a broken connection
            log.debug("closing the world failed", exc_info=True)
        self.world = None
