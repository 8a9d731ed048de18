"""Live subscriptions to an immudb application recorder.

:class:`ImmudbSubscription` is a :class:`~eventsourcing.persistence.ListenNotifySubscription`:
the base class runs the pull thread (catch up, then pull pages of new
notifications whenever its ``_has_been_notified`` event is set). This class
only decides *when* to wake it:

* **local inserts** - every application recorder in this process that commits
  events into the same immudb table calls :meth:`LocalBus.notify`, which wakes
  every subscription of that table at once;
* **other processes** - a poll thread asks immudb for the database's current
  state every ``IMMUDB_POLL_INTERVAL`` seconds (one small ``CurrentState`` RPC
  returning the latest transaction id) and wakes the subscription when it changed.
  The first transaction id is read in the constructor, *before* the pull thread
  first reads the log: a commit from another process after that read (and before
  the poll thread's first poll) then changes the id and wakes the subscription,
  instead of becoming the poll's baseline and waiting for the next commit.

``stop()`` ends both threads promptly; leaving the ``with`` block joins them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import ListenNotifySubscription, PersistenceError

if TYPE_CHECKING:
    from aethyr_immudb_recorder.datastore import ImmudbDatastore
    from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder

logger = logging.getLogger(__name__)

BusKey = tuple[str, ...]


class LocalBus:
    """In-process wake-ups: callbacks registered per (address, database, table)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[BusKey, set[Callable[[], None]]] = {}

    def listen(self, key: BusKey, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.setdefault(key, set()).add(callback)

    def unlisten(self, key: BusKey, callback: Callable[[], None]) -> None:
        with self._lock:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(callback)
                if not listeners:
                    del self._listeners[key]

    def notify(self, key: BusKey) -> None:
        with self._lock:
            callbacks = list(self._listeners.get(key, ()))
        for callback in callbacks:
            callback()


local_bus = LocalBus()
"""The process's bus; application recorders notify it after each commit."""


class TxPoller:
    """Wakes a subscription when immudb's latest transaction id moves (other processes).

    The baseline id is read in the constructor: create the poller *before* the
    subscription's pull thread first reads the log, and :meth:`start` it after. Used by
    :class:`ImmudbSubscription` and the DCB subscription alike.
    """

    def __init__(self, datastore: ImmudbDatastore, wake: Callable[[], None], name: str) -> None:
        self._datastore = datastore
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=name, daemon=True)
        self._baseline = self.current_tx_id()

    def current_tx_id(self) -> int | None:
        """The database's latest transaction id, or ``None`` if immudb did not answer."""
        try:
            return self._datastore.current_tx_id()
        except PersistenceError as exc:
            logger.debug("subscription poll failed: %s", exc)
            return None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        """Wait for the poll thread (not from itself; a poller never started is done)."""
        thread = self._thread
        if thread.ident is not None and thread is not threading.current_thread():
            thread.join()

    def _poll(self) -> None:
        interval = self._datastore.settings.poll_interval
        last = self._baseline
        while not self._stop.wait(interval):
            current = self.current_tx_id()
            if current is None:
                continue
            # Without a baseline (immudb did not answer before the first read) a
            # commit may have been missed: one spurious pull is the safe choice.
            if current != last:
                self._wake()
            last = current


class ImmudbSubscription(ListenNotifySubscription["ImmudbApplicationRecorder"]):
    """Iterates notifications after ``gt``, then blocks for new ones until stopped."""

    def __init__(
        self,
        recorder: ImmudbApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        self._woken_at: float | None = None
        self._bus_key = recorder.bus_key
        self._metrics = recorder.datastore.metrics
        # Before the base constructor starts the pull thread (its first read of the log).
        self._poller = TxPoller(recorder.datastore, self._wake, "immudb-subscription-poll")
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        local_bus.listen(self._bus_key, self._wake)
        if not self._has_been_stopped:
            self._poller.start()

    def _wake(self) -> None:
        if self._woken_at is None:
            self._woken_at = time.monotonic()
        self._has_been_notified.set()

    def _pull(self) -> None:
        woken, self._woken_at = self._woken_at, None
        before = self._last_notification_id
        super()._pull()
        if woken is not None and self._last_notification_id != before:
            self._metrics.subscription_lag.observe(time.monotonic() - woken)

    def stop(self) -> None:
        super().stop()
        self._poller.stop()
        local_bus.unlisten(self._bus_key, self._wake)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poller.join()
