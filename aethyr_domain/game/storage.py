"""The game's own storage with event sourcing off: a SQLite file of aggregate states.

The original kept its world in GDBM files, written as objects changed. With
``event_sourcing_enabled`` off this module plays that part: :class:`WorldStorage`
holds the state of every aggregate the :class:`~aethyr_domain.decision.Decider`
keeps (game objects, players, rooms, the player-name index), one row per aggregate,
and the Manager saves the aggregates a decision changed in **one transaction per
decision** (:meth:`WorldStorage.save`). At boot :func:`load_aggregates` reads them
back, so the Decider and the live world start where the last run stopped.

Durable per action, like the outbox with the flag on: every commit is flushed to disk
(``synchronous=FULL``) before it returns, so a change a player was told about
survives a crash of the game. The server groups the actions that arrive while one
flush is in progress (:mod:`aethyr_domain.game.group_commit`): between
:meth:`WorldStorage.begin_batch` and :meth:`WorldStorage.commit_batch`, ``save``
only collects, and the batch is written in one transaction (one flush);
:meth:`WorldStorage.abort_batch` drops it.

A row is the aggregate's attributes as JSON (its class as a topic, the two
timestamps as ISO text); password hashes are kept as they are (salted scrypt, or a
legacy ``md5$`` digest until its owner logs in). The file is the game's own, never an
event store: this module imports ``sqlite3``, the standard library and the background
WAL checkpoints it shares with the outbox (:mod:`aethyr_domain.outbox.wal_checkpoints`)
only, and ``aethyr-es migrate --from-storage FILE`` imports it into the event store
(:func:`aethyr_domain.game.migrate.migrate_from_storage`). Its WAL is copied back into
the file by a background thread, never inside a commit (see that module).

Not thread-safe: the game thread that decides also saves.
"""

from __future__ import annotations

import datetime
import importlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aethyr_domain.outbox.wal_checkpoints import WalCheckpointer

#: The ``format`` row of the ``meta`` table (a file of another format is refused).
FORMAT = "aethyr-storage/1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aggregates (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    state TEXT NOT NULL
);
"""

_TIMES = ("_created_on", "_modified_on")


class StorageError(RuntimeError):
    """The storage file cannot be opened, read or written; the message says which file."""


def _topic(aggregate: Any) -> str:
    cls = type(aggregate)
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(topic: str) -> type[Any]:
    module, _, name = topic.partition(":")
    if not module.startswith("aethyr_domain."):
        raise StorageError(f"unknown aggregate class {topic!r} in the storage")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def aggregate_state(aggregate: Any) -> str:
    """The JSON text of one aggregate's state (no pending events)."""
    state = {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
    for key in _TIMES:
        if isinstance(state.get(key), datetime.datetime):
            state[key] = state[key].isoformat()
    # key order kept: an inventory dict is in arrival order
    return json.dumps(state, ensure_ascii=False, allow_nan=False)


def aggregate_from_state(topic: str, text: str) -> Any:
    """Rebuild an aggregate saved by :func:`aggregate_state`."""
    cls = _resolve(topic)
    state = json.loads(text)
    for key in _TIMES:
        if isinstance(state.get(key), str):
            state[key] = datetime.datetime.fromisoformat(state[key])
    aggregate = object.__new__(cls)
    aggregate.__dict__.update(state)
    aggregate.__dict__["_pending_events"] = []
    return aggregate


class WorldStorage:
    """One SQLite file holding every aggregate's latest state."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = str(path)
        if not create and not Path(self.path).exists():
            raise StorageError(f"no storage file {self.path!r}")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            WalCheckpointer.attach(self._db)
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            elif row[0] != FORMAT:
                raise StorageError(f"{self.path!r} is not a {FORMAT} file (format {row[0]!r})")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the storage {self.path!r}: {exc}") from None
        #: Copies the log back into the file in the background (never in a commit).
        self.wal_checkpointer = WalCheckpointer(self.path)
        #: The open batch: aggregate id -> row (the latest state wins), or ``None``.
        self._batch: dict[str, tuple[str, str, str]] | None = None

    def save(self, aggregates: Iterable[Any]) -> None:
        """Write these aggregates' states in one transaction (all or none); inside a
        batch, keep them for :meth:`commit_batch`."""
        rows = [(a.id, _topic(a), aggregate_state(a)) for a in aggregates]
        if self._batch is not None:
            for row in rows:
                self._batch[row[0]] = row
            return
        self._write(rows)

    def begin_batch(self) -> None:
        """From now on :meth:`save` collects until :meth:`commit_batch` or
        :meth:`abort_batch`."""
        self._batch = {}

    def commit_batch(self) -> None:
        """Write what the batch collected in one transaction (all or none); the batch
        ends either way (:class:`StorageError` if the write failed)."""
        batch, self._batch = self._batch, None
        if batch:
            self._write(list(batch.values()))

    def abort_batch(self) -> None:
        """Forget what the batch collected (nothing of it was written)."""
        self._batch = None

    def _write(self, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO aggregates (id, topic, state) VALUES (?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT (I/O error) leaves it open
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the storage {self.path!r}: {exc}") from None
        self.wal_checkpointer.committed()

    def load(self) -> dict[str, Any]:
        """Every stored aggregate, by id."""
        try:
            rows = self._db.execute("SELECT topic, state FROM aggregates ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the storage {self.path!r}: {exc}") from None
        out: dict[str, Any] = {}
        for topic, state in rows:
            aggregate = aggregate_from_state(topic, state)
            out[aggregate.id] = aggregate
        return out

    def count(self) -> int:
        """How many aggregates the file holds."""
        return int(self._db.execute("SELECT COUNT(*) FROM aggregates").fetchone()[0])

    def close(self) -> None:
        self.wal_checkpointer.close()  # first: the writer's connection closes last (see its module)
        self._db.close()


def load_aggregates(path: str | Path) -> dict[str, Any]:
    """Read a storage file (which must exist) and close it."""
    storage = WorldStorage(path, create=False)
    try:
        return storage.load()
    finally:
        storage.close()
