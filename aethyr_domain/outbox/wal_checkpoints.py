"""WAL checkpoints in the background, so that no player's action pays for one.

The outbox (:mod:`aethyr_domain.outbox.queue`) and, with event sourcing off, the
game's own storage (:mod:`aethyr_domain.game.storage`) are SQLite files in WAL mode:
a commit appends its pages to ``<file>-wal`` and flushes that log
(``synchronous=FULL``). The log must be copied back into the database file now and
then - a *checkpoint* - and by default SQLite does it inside the commit that takes
the log past 1,000 pages (about 4 MB): that commit copies the logged pages and
flushes the database file before it returns. For the game that commit is a group of
actions whose players wait for their answers. Moved out of the commits, the 99th
percentile of ``server-load`` fell by 0.2-0.4 ms with event sourcing on and off
(docs/performance.md, run 22).

:class:`WalCheckpointer` moves that work to a thread of its own, with its own
connection:

- the writer's connection checkpoints by itself only past
  :data:`SAFETY_NET_PAGES` (about 40 MB of log), which happens only if the thread
  cannot keep up (:meth:`WalCheckpointer.attach`);
- the writer tells it about each commit (:meth:`WalCheckpointer.committed`: sets an
  event, nothing else); at most every ``interval`` seconds after a commit the thread
  runs ``PRAGMA wal_checkpoint(PASSIVE)``. A passive checkpoint takes no lock a
  writer needs and waits for nobody: commits go on appending to the log while it
  copies, and it copies what no reader still needs. Once the whole log has been
  copied, the next commit starts the log again from its beginning, so the log file
  keeps its size, and the writer's flushes write no file-system metadata for a
  growing file.

Durability does not change: a commit is durable once its log is flushed; a checkpoint
only copies pages that already are, and flushes the database file before the log is
reused (SQLite's own rule, whichever connection checkpoints). A failed checkpoint is
logged and tried again after the next commit; nothing is lost, the log only grows
until one succeeds (or the safety net checkpoints in a commit, as SQLite does by
default).

The thread starts with the first commit (a file only read never starts one) and
:meth:`WalCheckpointer.close` stops it; close it before the writer's connection, so
that the last connection to close is the writer's, which checkpoints what is left
and removes the log, as SQLite does at every close.

Standard library only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

#: Seconds between a commit and the checkpoint after it (at most one per interval).
INTERVAL = 1.0

#: The writer's own automatic checkpoint threshold, in pages (SQLite's default is
#: 1,000): reached only if the background thread falls far behind.
SAFETY_NET_PAGES = 10_000


class WalCheckpointer:
    """Checkpoint the WAL of the SQLite file at ``path`` from a background thread.

    ``attach`` the writer's connection once, call :meth:`committed` after its
    commits, :meth:`close` before closing it. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], *, interval: float = INTERVAL) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.path = os.fspath(path)
        self.interval = interval
        #: Checkpoints run so far, and the last error (``None`` after a success).
        self.checkpoints = 0
        self.last_error: sqlite3.Error | None = None
        self._commit = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @staticmethod
    def attach(db: sqlite3.Connection) -> None:
        """Make the writer's connection ``db`` leave checkpoints to the thread
        (up to :data:`SAFETY_NET_PAGES` of log)."""
        db.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")

    def committed(self) -> None:
        """The writer committed: checkpoint within ``interval`` (starts the thread
        on the first call; does nothing once closed)."""
        self._commit.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(
                        target=self._run, name="wal-checkpoint", daemon=True
                    )
                    self._thread.start()

    def checkpoint(self) -> bool:
        """Run one passive checkpoint now, on a connection of its own; whether it
        ran (a failure is logged and kept in :attr:`last_error`, never raised)."""
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            self._failed(exc)
            return False
        try:
            return self._checkpoint(db)
        finally:
            db.close()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._stop.set()
        self._commit.set()
        if thread is not None:
            thread.join(timeout)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _run(self) -> None:
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            self._failed(exc)
            return
        try:
            while not self._stop.is_set():
                self._commit.wait()
                if self._stop.wait(self.interval):
                    break
                self._commit.clear()
                self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> bool:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            self._failed(exc)
            return False
        self.checkpoints += 1
        self.last_error = None
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        if self.last_error is None:  # once per run of failures, not once per commit
            log.warning(
                "cannot checkpoint the WAL of %s (tried again after the next commit): %s",
                self.path,
                exc,
            )
        self.last_error = exc


__all__ = ["INTERVAL", "SAFETY_NET_PAGES", "WalCheckpointer"]
