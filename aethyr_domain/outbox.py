"""The durable outbox: commands bound for the event store, kept on local disk.

The game never waits for the event store. The Manager appends each command here (a
local sqlite file, committed with ``synchronous=FULL``, so an entry survives a
crash of the game process once :meth:`Outbox.append` returns), and a background
thread (:mod:`aethyr_domain.delivery`) hands the entries to the ``World`` in order.

Exactly once in effect. Every entry has a unique ``command_id`` and a sequence
number. Before the delivery thread runs an entry it writes an *in-flight marker*:
the entry's sequence number, the id of the aggregate the command targets and that
aggregate's version at that moment. After a crash, the marker tells whether the
command took effect: the aggregate's version has moved past the recorded one only
if the command's (atomic) save happened, so the entry is then marked delivered
instead of being handed over a second time. This relies on the game being the only
writer of its aggregates, which is how the game is deployed.

Commands the world refuses (a domain rule, bad data) are not retried: they move to
the ``dead_letters`` table with the refusal message, and delivery continues.

Passwords: the Manager hashes a password (salted scrypt) *before* it appends
``CreatePlayer``/``UpdatePlayerPassword``, which then carry only ``password_hash``, so
no plaintext password is ever written to this file. Delivered rows are deleted with
``PRAGMA secure_delete=ON`` (the bytes are overwritten), and the file is created
readable by the game's user only (mode 0600).

Standard library only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id TEXT NOT NULL UNIQUE,
    command TEXT NOT NULL,
    fields TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS in_flight (
    seq INTEGER PRIMARY KEY,
    aggregate_id TEXT NOT NULL,
    version_before INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    command_id TEXT NOT NULL,
    command TEXT NOT NULL,
    actor TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    """One pending command: its order, unique id, class name, fields and actor."""

    seq: int
    command_id: str
    command: str
    fields: dict[str, Any]
    actor: str

    @property
    def aggregate_id(self) -> str:
        """The id of the aggregate the command is addressed to (its ``id`` field)."""
        return str(self.fields["id"])


@dataclass(frozen=True)
class InFlight:
    """The marker written just before an entry is handed to the World."""

    seq: int
    aggregate_id: str
    version_before: int


class Outbox:
    """A sqlite-backed, crash-safe FIFO of commands (safe to share between threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --------------------------------------------------------------- writing
    def append(self, command: str, fields: Mapping[str, Any], actor: str) -> str:
        """Store one command durably; returns its unique ``command_id``."""
        command_id = str(uuid.uuid4())
        payload = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO entries (command_id, command, fields, actor, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (command_id, command, payload, actor, time.time()),
            )
        return command_id

    def mark_in_flight(self, entry: Entry, version_before: int) -> None:
        """Record that ``entry`` is about to be handed over (see the module docstring)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO in_flight (seq, aggregate_id, version_before)"
                " VALUES (?, ?, ?)",
                (entry.seq, entry.aggregate_id, version_before),
            )

    def clear_in_flight(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM in_flight")

    def mark_delivered(self, seq: int) -> None:
        """Remove a delivered entry and its marker, and count it, in one transaction."""
        with self._lock:
            self._transaction(
                ("DELETE FROM entries WHERE seq = ?", (seq,)),
                ("DELETE FROM in_flight WHERE seq = ?", (seq,)),
                (
                    "INSERT INTO counters (name, value) VALUES ('delivered', 1)"
                    " ON CONFLICT(name) DO UPDATE SET value = value + 1",
                    (),
                ),
            )

    def mark_dead(self, entry: Entry, error: str) -> None:
        """Move a refused entry to ``dead_letters`` (its fields are not kept)."""
        with self._lock:
            self._transaction(
                (
                    "INSERT OR REPLACE INTO dead_letters"
                    " (seq, command_id, command, actor, error, failed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (entry.seq, entry.command_id, entry.command, entry.actor, error, time.time()),
                ),
                ("DELETE FROM entries WHERE seq = ?", (entry.seq,)),
                ("DELETE FROM in_flight WHERE seq = ?", (entry.seq,)),
            )

    def _transaction(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._db.execute(sql, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --------------------------------------------------------------- reading
    def pending(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` undelivered entries, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, command_id, command, fields, actor FROM entries ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [Entry(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def in_flight(self) -> InFlight | None:
        """The marker left by an interrupted delivery, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, aggregate_id, version_before FROM in_flight ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else InFlight(row[0], row[1], row[2])

    def backlog(self) -> int:
        """How many commands wait for delivery."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()
        return int(count)

    def delivered_count(self) -> int:
        """How many commands this outbox has delivered over its lifetime."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'delivered'").fetchone()
        return 0 if row is None else int(row[0])

    def dead_letters(self) -> list[dict[str, Any]]:
        """Refused commands: seq, command_id, command, actor, error, failed_at."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, command_id, command, actor, error, failed_at"
                " FROM dead_letters ORDER BY seq"
            ).fetchall()
        keys = ("seq", "command_id", "command", "actor", "error", "failed_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
