"""Running the world projection: catch up, then follow the live event log.

:class:`ProjectionService` drives a :class:`~.projection.WorldProjection`
over an application *instance* (the game's ``World``), so it works in process
with every store, including the in-memory one where a second application
object would see an empty log:

* :meth:`ProjectionService.catch_up` reads the log in pages with
  ``select_notifications`` from the view's tracking position and applies every
  event (synchronous; used by ``world --source projection``, tests, rebuilds);
* :meth:`ProjectionService.start` follows the log in a thread: through the
  recorder's ``subscribe()`` (eventsourcing's ``ApplicationSubscription``)
  when the store supports it (POPO, immudb), otherwise by polling (SQLite).
  Events are applied in *batches*: whatever the subscription has ready (up to
  ``max_batch`` events) goes into ONE view transaction together with the
  tracking position of the batch's last event - still exactly-once, but one
  commit per batch instead of one per event, so a slow store (immudb) keeps up
  with a busy game. ``batch_wait`` paces the commits: at most one per
  ``batch_wait`` seconds, the events that arrive meanwhile gathered into the
  next; the first event after a quiet spell is applied at once. The follower
  remembers the position it wrote last, so a batch costs one view transaction
  and no extra read of the position (a refusal, when another process moved it,
  reads it again). A poll applies what arrived since the last one in batches
  of ``max_batch`` too;
* :meth:`ProjectionService.wait` blocks until the view has applied a given
  notification id (read-your-writes for a UI).

A view that cannot apply an event never stops the follower (nor the game):
the follower reports a :class:`~.faults.ProjectionFault` (log, metrics, the
store's ``projection_faults`` table that ``aethyr-es stats`` reads), waits with
exponential :class:`~.faults.Backoff` and tries again from the view's position;
events before the failing one in a batch are applied, so the report names the
event itself. :meth:`ProjectionService.catch_up` raises a typed
:class:`~.faults.ProjectionApplyError` instead (its callers are synchronous).

``aethyr-es project`` (:func:`run_project_process`) is the separate OS process
a deployment runs next to the game: it opens the store named by the
configuration, catches up, then follows live until stopped, updating the lag
metrics; when a ``rebuild`` switches readers to a new generation it re-attaches
to it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.projection import ApplicationSubscription

from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.faults import (
    Backoff,
    ProjectionApplyError,
    ProjectionFault,
    describe_error,
)
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.view import WorldView, utc_now

logger = logging.getLogger(__name__)

PAGE_SIZE = 500

MAX_BATCH = 200
"""Most events the follower applies in one view transaction."""

ATTACH_TIMEOUT = 10.0
"""Seconds :meth:`ProjectionService.start` waits for the follower to subscribe."""

Item = tuple[Any, Tracking]
_END = object()  # put on the follower's queue when the subscription ends


def _is_outage(exc: BaseException) -> bool:
    """A store that does not answer (or the error it caused while applying an event),
    as opposed to an event the view cannot apply."""
    from eventsourcing.persistence import InterfaceError

    outage = (OperationalError, InterfaceError, OSError, TimeoutError)
    return isinstance(exc, outage) or isinstance(exc.__cause__, outage)


class ProjectionService:
    """A world projection over one application instance and one view."""

    def __init__(
        self,
        app: Application[Any],
        view: WorldView,
        poll_interval: float = 0.2,
        max_batch: int = MAX_BATCH,
        batch_wait: float = 0.0,
        backoff: Backoff | None = None,
    ) -> None:
        if max_batch < 1:
            msg = f"max_batch must be at least 1, not {max_batch}"
            raise ValueError(msg)
        self.app = app
        self.view = view
        self.projection = WorldProjection(view)
        self.poll_interval = poll_interval
        self.max_batch = max_batch
        self.batch_wait = batch_wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: ApplicationSubscription[Any] | None = None
        self.backoff = backoff if backoff is not None else Backoff()
        self.error: BaseException | None = None
        """Only what is not an ``Exception`` (``KeyboardInterrupt``...) ends the thread."""
        self.fault: ProjectionFault | None = None
        """Set while the projection is stuck on an event it cannot apply."""
        self._lock = threading.Lock()
        #: Set once the follower's first attempt to subscribe has ended (subscribed,
        #: fell back to polling, or failed): see :meth:`start`.
        self._attached = threading.Event()
        #: The view's position as the follower last wrote it (``None``: read it).
        self._position: int | None = None
        #: When the follower's last batch was committed (``time.monotonic()``).
        self._committed = float("-inf")

    # -- one pass -----------------------------------------------------------
    def catch_up(self, progress: Callable[[int], None] | None = None, batch_size: int = 1) -> int:
        """Apply every event after the view's position; return how many were applied.

        ``batch_size`` > 1 applies that many events per view transaction (tracking
        the last one): what a rebuild uses to replay fast. If another process
        applied an event first (the tracking record refuses it), the position is
        read again and the pass goes on from there; a refusal at a position that did
        not move is not a race and is raised (as in :meth:`_apply_batch`).
        """
        done = 0
        refused_at: int | None = None
        with self._lock:
            while True:
                position = self.view.max_tracking_id(self.app.name) or 0
                page = self.app.recorder.select_notifications(
                    start=position, limit=PAGE_SIZE, inclusive_of_start=False
                )
                try:
                    for start in range(0, len(page), batch_size):
                        chunk = page[start : start + batch_size]
                        self._apply(
                            [(self._decode(n), Tracking(self.app.name, n.id)) for n in chunk]
                        )
                        done += len(chunk)
                        if progress is not None:
                            progress(chunk[-1].id)
                except IntegrityError:
                    if refused_at == position:
                        raise  # refused twice at the same position: not a race
                    refused_at = position
                    continue  # someone else moved the position: read it again
                if len(page) < PAGE_SIZE:
                    break
        self._recovered()
        self.update_lag()
        return done

    def _decode(self, notification: Any) -> Any:
        """The domain event of a stored notification; :class:`ProjectionApplyError`
        naming it if it cannot be decoded."""
        try:
            return self.app.mapper.to_domain_event(notification)
        except Exception as exc:
            raise ProjectionApplyError.of(
                notification, Tracking(self.app.name, notification.id), exc
            ) from exc

    def _apply(self, items: list[Item]) -> None:
        """Apply ``items`` in one view transaction tracking the last one.

        If the view fails, the items are applied one per transaction, so the ones
        before the failing event are kept and the error names that event: a
        :class:`ProjectionApplyError` (an ``IntegrityError`` - a tracking race - is
        passed on as it is, for the caller to re-read the position).
        """
        self._position = None  # unknown until this transaction is known to be committed
        try:
            if len(items) == 1:
                self.projection.process_event(*items[0])
            else:
                self.projection.process_events(
                    [e for e, _ in items], items[-1][1], first=items[0][1].notification_id
                )
            self._position = items[-1][1].notification_id
            return
        except IntegrityError:
            raise
        except Exception as exc:
            if len(items) == 1:
                raise ProjectionApplyError.of(items[0][0], items[0][1], exc) from exc
        for event, tracking in items:
            try:
                self.projection.process_event(event, tracking)
            except IntegrityError:
                raise
            except Exception as exc:
                raise ProjectionApplyError.of(event, tracking, exc) from exc
            self._position = tracking.notification_id

    # -- faults --------------------------------------------------------------
    def _report(self, exc: Exception) -> float:
        """Report a failed attempt (log, metrics, the store); return the wait before
        the next one."""
        if isinstance(exc, ProjectionApplyError):
            error = exc
        else:  # not tied to one event: the subscription, the store, a decoding thread
            error = ProjectionApplyError(describe_error(exc))
        now = utc_now()
        previous = self.fault
        same = (
            previous is not None
            and previous.notification_id == error.notification_id
            and previous.aggregate_id == error.aggregate_id
        )
        attempts = previous.attempts + 1 if same and previous is not None else 1
        delay = self.backoff.delay(attempts)
        fault = ProjectionFault(
            projection=self.projection.name,
            generation=self.view.generation,
            notification_id=error.notification_id,
            aggregate_id=error.aggregate_id,
            version=error.version,
            error=error.error,
            attempts=attempts,
            first_failed_at=previous.first_failed_at if same and previous is not None else now,
            last_failed_at=now,
            retry_in=delay,
        )
        reason = "outage" if _is_outage(exc) else "event"
        metrics.FOLLOWER_ERRORS.labels(fault.projection, reason).inc()
        metrics.STUCK_EVENTS.labels(fault.projection).set(1 if reason == "event" else 0)
        logger.warning("projection %s", fault.line())
        logger.debug("projection %s: the failed attempt", fault.projection, exc_info=exc)
        try:
            self.view.record_fault(fault)
        except Exception as store_exc:  # the store may be what failed: the log has it
            logger.warning(
                "projection %s: cannot store the fault report: %s",
                fault.projection,
                describe_error(store_exc),
            )
        self.fault = fault  # after the store: who sees the fault can read its stored report
        return delay

    def _recovered(self) -> None:
        """Clear the fault report once the follower got past the event."""
        fault = self.fault
        if fault is None:
            return
        metrics.STUCK_EVENTS.labels(fault.projection).set(0)
        logger.warning(
            "projection %s: could %s again after %d failed attempt(s)",
            fault.projection,
            ProjectionApplyError(
                fault.error, fault.notification_id, fault.aggregate_id, fault.version
            ).what(),
            fault.attempts,
        )
        with contextlib.suppress(Exception):  # a later report replaces the row anyway
            self.view.clear_fault(fault.projection)
        self.fault = None  # last: who sees ``None`` sees the stored report gone too

    def _clear_stored_fault(self) -> None:
        """Forget a fault an earlier process stored, once this one got past it."""
        with contextlib.suppress(Exception):
            if any(f.projection == self.projection.name for f in self.view.faults()):
                self.view.clear_fault(self.projection.name)

    def update_lag(self) -> tuple[int, float]:
        """Refresh the lag gauges; return (events behind, seconds behind)."""
        head = self.app.recorder.max_notification_id() or 0
        position = self.view.max_tracking_id(self.app.name) or 0
        behind = max(head - position, 0)
        seconds = 0.0
        if behind:
            page = self.app.recorder.select_notifications(
                start=position, limit=1, inclusive_of_start=False
            )
            if page:
                event = self.app.mapper.to_domain_event(page[0])
                stamp = getattr(event, "timestamp", None)
                if isinstance(stamp, datetime):
                    seconds = max((datetime.now(UTC) - stamp).total_seconds(), 0.0)
        name = self.projection.name
        metrics.LAG_EVENTS.labels(name).set(behind)
        metrics.LAG_SECONDS.labels(name).set(seconds)
        return behind, seconds

    # -- following -----------------------------------------------------------
    def start(self) -> ProjectionService:
        """Catch up, then follow new events in a background thread.

        An event the view cannot apply does not make this fail: it is reported (see
        :mod:`.faults`) and the thread retries it with backoff, so a game that
        starts its projection always starts.

        It returns once the follower has subscribed (bounded by
        :data:`ATTACH_TIMEOUT`), so that callers may write to the store right away:
        eventsourcing 9.5's in-memory recorder iterates its listener set while it
        inserts, without a lock or a copy, so a subscription registering its
        listener during an insert breaks that insert with ``RuntimeError: Set
        changed size during iteration``.
        """
        try:
            self.catch_up()
            self._clear_stored_fault()
        except Exception as exc:
            self._report(exc)
        self._thread = threading.Thread(target=self._follow, name="world-projection", daemon=True)
        self._thread.start()
        if not self._attached.wait(ATTACH_TIMEOUT):
            logger.warning("the projection follower did not subscribe within %ss", ATTACH_TIMEOUT)
        return self

    def _follow(self) -> None:
        try:
            if self.fault is not None:  # start() could not catch up: wait, then retry
                self._attached.set()
                self._stop.wait(self.fault.retry_in)
            while not self._stop.is_set():
                try:
                    self._follow_once()
                    return
                except Exception as exc:
                    # A view that cannot apply an event, a store that went away (a
                    # restart, an outage): report, wait, then resubscribe from the
                    # view's tracking position and try again.
                    self._stop.wait(self._report(exc))
        except BaseException as exc:  # kept for stop()/wait() to re-raise
            self.error = exc
            metrics.STUCK_EVENTS.labels(self.projection.name).set(1)  # until re-attached
            self._stop.set()
        finally:
            self._attached.set()

    def _follow_once(self) -> None:
        """Subscribe from the view's position and apply ready events in batches until
        stopped (one view transaction per batch, tracking its last event)."""
        try:
            subscription: ApplicationSubscription[Any] = ApplicationSubscription(
                self.app, gt=self.view.max_tracking_id(self.app.name)
            )
        except NotImplementedError:
            self._attached.set()
            self._poll()
            return
        finally:  # also when subscribing failed: _follow reports it and retries
            self._attached.set()
        self._subscription = subscription
        ready: queue.Queue[object] = queue.Queue(maxsize=4 * self.max_batch)
        done = threading.Event()  # the follower no longer takes from ``ready``
        pump = threading.Thread(
            target=self._pump, args=(subscription, ready, done), name="world-projection-pump"
        )
        try:
            with subscription:
                if self._stop.is_set():
                    return
                # The subscription's listener is registered only now, after its pull
                # thread made its first read (eventsourcing 9.5's POPOSubscription and
                # ListenNotifySubscription start the thread in the base constructor):
                # an event committed between that read and the registration woke
                # nobody and would wait for the next commit. One catch-up pass from
                # the view's position, made after the registration, applies it; the
                # subscription later re-delivers it and _apply_batch skips it.
                # In batches like the live path: after an outage this pass applies the
                # whole backlog, and one view transaction per event is one synced commit
                # per event on immudb (about 55 events/s against about 1,000 in batches
                # of 100: benchmarks/crash_recovery.py), minutes that stop() cannot cut.
                self.catch_up(batch_size=self.max_batch)
                pump.start()
                while not self._stop.is_set():
                    batch, ended = self._next_batch(ready)
                    if batch:
                        self._apply_batch(batch)
                    if ended:
                        break
        finally:
            done.set()
            if pump.is_alive():
                pump.join()

    def _pump(
        self,
        subscription: ApplicationSubscription[Any],
        ready: queue.Queue[object],
        done: threading.Event,
    ) -> None:
        """Move (event, tracking) pairs from the subscription to ``ready`` until it ends
        (the subscription is stopped when the follower leaves its ``with`` block)."""
        item: object = _END
        try:
            for pair in subscription:
                if not self._put(ready, pair, done):
                    return
        except BaseException as exc:  # the subscription failed: the follower re-raises it
            item = exc
        self._put(ready, item, done)

    def _put(self, ready: queue.Queue[object], item: object, done: threading.Event) -> bool:
        """Put ``item`` on ``ready``, waiting while it is full; ``False`` if the
        follower stopped taking from it meanwhile."""
        while not (done.is_set() or self._stop.is_set()):
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _next_batch(self, ready: queue.Queue[object]) -> tuple[list[Item], bool]:
        """Block for the next event, then take what is ready (up to ``max_batch``), and
        what arrives until ``batch_wait`` seconds after the last commit; ``True`` when
        the subscription ended."""
        batch: list[Item] = []
        # Set when the first event arrives: ``batch_wait`` after the last commit (the
        # events of that spell go into one batch), or at once after a quiet spell.
        deadline = 0.0
        while len(batch) < self.max_batch:
            try:
                if not batch:
                    item = ready.get(timeout=0.1)
                    deadline = self._committed + self.batch_wait
                elif (left := deadline - time.monotonic()) > 0:
                    item = ready.get(timeout=left)
                else:
                    item = ready.get_nowait()
            except queue.Empty:
                if batch or self._stop.is_set():
                    break
                continue
            if item is _END:
                return batch, True
            if isinstance(item, BaseException):
                raise item
            batch.append(item)  # type: ignore[arg-type]
        return batch, False

    def _apply_batch(self, batch: list[Item]) -> None:
        """Apply the events after the view's position in one view transaction that
        tracks the last one. If another process moved the position meanwhile (the
        tracking record refuses the batch, nothing is written), read it again."""
        with self._lock:
            refused_at: int | None = None
            while True:
                position = self._position
                if position is None:
                    position = self.view.max_tracking_id(self.app.name) or 0
                fresh = [(e, t) for e, t in batch if t.notification_id > position]
                if not fresh:
                    return
                try:
                    self._apply(fresh)
                except IntegrityError:
                    self._position = None  # read it again: another process moved it
                    if refused_at == position:
                        raise  # refused twice at the same position: not a race
                    refused_at = position
                    continue
                self._committed = time.monotonic()
                self._recovered()
                return

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                # what arrived since the last poll, in batches like the subscription path
                self.catch_up(batch_size=self.max_batch)
            except OperationalError:  # transient (e.g. a busy timeout): next poll
                continue

    def wait(self, notification_id: int | None, timeout: float = 5.0) -> None:
        """Block until the view has applied ``notification_id`` (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        while not self.view.has_tracking_id(self.app.name, notification_id):
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                msg = f"projection did not reach notification {notification_id} in {timeout}s"
                fault = self.fault
                if fault is not None:
                    msg += f" (stuck: {fault.line()})"
                raise TimeoutError(msg)
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop following; re-raise what stopped the thread if it was not an
        ``Exception`` (those are reported and retried, see :mod:`.faults`)."""
        self._stop.set()
        if self._subscription is not None:
            self._subscription.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def __enter__(self) -> ProjectionService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
