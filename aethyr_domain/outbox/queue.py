"""The durable outbox: decided changes bound for the event store, kept on local disk.

The game decides every command in process (:class:`~aethyr_domain.decision.Decider`)
and appends the resulting events here as ONE entry per command (a local sqlite file,
committed with ``synchronous=FULL``, so an entry survives a crash of the game process
once :meth:`Outbox.append_events` returns). The delivery thread
(:mod:`aethyr_domain.outbox.delivery`) records the entries' events in the store as they are:
nothing is decided again on the way.

An entry holds: its sequence number (order), a unique ``entry_id``, the command's
class name and actor (for people reading dead letters), and the stored events
(``originator_id``, ``originator_version``, ``topic`` and the ``state`` bytes the
World's mapper made - the exact bytes that go into the store). A command that changed
nothing has no entry.

Exactly once. Delivery appends the oldest pending entries to the store, then marks
them delivered; the marks are committed without a flush of their own (the game's next
flushed commit carries them). After a crash, a power cut or a timeout, the store
decides: from the oldest pending entry on, an entry whose first event is stored with
the same topic and state bytes took effect and is marked delivered; the first one that
is not stored, and every later one, is delivered (again). See
:mod:`aethyr_domain.outbox.delivery`. (Earlier versions wrote an *in-flight marker*
before each append, a flushed commit per round; a marker such a version left is
cleared, the check above covers its batch.)

Dead letters. An entry the store refuses, a command row an earlier version wrote that
the World refuses, and a row that cannot even be decoded (its raw text is kept) move
to ``dead_letters`` with the error. ``aethyr-es outbox`` lists them; ``retry`` puts
one back in line (same sequence number, same events), ``discard`` deletes it.

Older files. Earlier versions stored *commands* (class name + JSON fields, decided at
delivery). Such rows are still read: :class:`Entry` has ``fields`` and no ``events``
for them, and delivery decides them once against the store before recording them
(:func:`aethyr_domain.outbox.delivery.deliver_pending`). :meth:`Outbox.append` still writes
that format (tests of the upgrade path use it); the game writes events.

Passwords: events carry salted scrypt hashes only, so no plaintext password is ever
written to this file. Delivered rows are deleted with ``PRAGMA secure_delete=ON`` (the
bytes are overwritten), and the file is created readable by the game's user only
(mode 0600).

The file's WAL is copied back into it by a background thread, never inside the
game's commits, whose players wait (:mod:`aethyr_domain.outbox.wal_checkpoints`).

A file at ``path`` that is not an outbox (not sqlite, or a sqlite database with other
tables) raises :class:`NotAnOutboxError` and is left untouched.

Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aethyr_domain.outbox.wal_checkpoints import WalCheckpointer

#: The tables of every outbox file (earlier versions created them too: the newer
#: columns are added by :func:`_upgrade`).
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
CREATE TABLE IF NOT EXISTS in_flight_batch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    position INTEGER NOT NULL
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

#: Columns added to the tables of earlier versions: (table, column, declaration).
_ADDED_COLUMNS = (
    ("entries", "events", "TEXT"),
    ("dead_letters", "fields", "TEXT"),
    ("dead_letters", "events", "TEXT"),
    ("dead_letters", "raw", "TEXT"),
)

#: ``PRAGMA user_version`` of the current layout (earlier files have 0).
FORMAT_VERSION = 2


class OutboxError(Exception):
    """The outbox file cannot be used; ``str(error)`` is one line for the operator."""


class NotAnOutboxError(OutboxError):
    """The file at the outbox path is not an outbox (nothing was changed in it)."""


class UndecodableEntryError(ValueError):
    """An outbox row whose content cannot be decoded (it becomes a dead letter)."""


@dataclass(frozen=True)
class OutboxEvent:
    """One stored event as the World's mapper made it (the store's own fields)."""

    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "originator_id": self.originator_id,
            "originator_version": self.originator_version,
            "topic": self.topic,
            "state": base64.b64encode(self.state).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Any) -> OutboxEvent:
        if not isinstance(data, dict):
            raise UndecodableEntryError(f"an event must be an object, got {type(data).__name__}")
        try:
            originator_id = data["originator_id"]
            version = data["originator_version"]
            topic = data["topic"]
            state = base64.b64decode(data["state"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise UndecodableEntryError(f"malformed event: {type(exc).__name__}: {exc}") from None
        if not (isinstance(originator_id, str) and isinstance(topic, str)):
            raise UndecodableEntryError("malformed event: originator_id and topic must be text")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise UndecodableEntryError("malformed event: originator_version must be >= 1")
        return cls(originator_id, version, topic, state)


@dataclass(frozen=True)
class Entry:
    """One pending outbox entry.

    ``events`` are the decided events (the current format). ``fields`` is set instead
    for a command row written by an earlier version (decided at delivery).
    """

    seq: int
    command_id: str
    command: str
    actor: str
    events: tuple[OutboxEvent, ...] | None = None
    fields: dict[str, Any] | None = None

    @property
    def entry_id(self) -> str:
        """The entry's unique id (the column keeps its earlier name, ``command_id``)."""
        return self.command_id

    @property
    def is_command(self) -> bool:
        """True for a command row of an earlier version (no events yet)."""
        return self.events is None

    @property
    def aggregate_id(self) -> str:
        """The aggregate the entry is addressed to (the first event's, or the command's
        ``id`` field)."""
        if self.events:
            return self.events[0].originator_id
        return str((self.fields or {}).get("id", ""))


@dataclass(frozen=True)
class InFlight:
    """The marker an earlier version wrote before handing one command to the World."""

    seq: int
    aggregate_id: str
    version_before: int


@dataclass(frozen=True)
class InFlightBatch:
    """The marker written just before a batch is appended to the store."""

    first_seq: int
    last_seq: int
    position: int


@dataclass(frozen=True)
class PendingRead:
    """What :meth:`Outbox.read_pending` returned: the entries, and how many rows it
    could not decode (now dead letters)."""

    entries: list[Entry]
    quarantined: int


class Outbox:
    """A sqlite-backed, crash-safe FIFO of decided changes (safe to share between threads).

    Raises :class:`NotAnOutboxError` when ``path`` holds something else, and
    :class:`OutboxError` when it cannot be opened at all.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        #: True while pending entries may already be in the store (a crash, a power
        #: cut that lost delivered marks, an append whose outcome is unknown): the
        #: next delivery round checks the oldest ones against the store first
        #: (:func:`aethyr_domain.outbox.delivery.recover_delivered`). Every newly
        #: opened outbox starts unsettled.
        self.needs_recovery = True
        #: Copies the log back into the file in the background (never in a commit).
        self.wal_checkpointer = WalCheckpointer(self.path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
        try:
            self._check_is_outbox()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            WalCheckpointer.attach(self._db)
            self._db.executescript(_SCHEMA)
            self._upgrade()
        except OutboxError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise NotAnOutboxError(
                f"{self.path} is not an outbox ({type(exc).__name__}: {exc}); "
                "point outbox_path at an outbox file or at a path that does not exist yet"
            ) from None

    def _check_is_outbox(self) -> None:
        """Refuse a sqlite database that holds tables but no outbox ``entries`` table."""
        names = {
            row[0]
            for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        }
        names.discard("sqlite_sequence")
        if names and "entries" not in names:
            shown = ", ".join(sorted(names)[:5])
            raise NotAnOutboxError(
                f"{self.path} is not an outbox (a sqlite database with other tables: {shown}); "
                "point outbox_path at an outbox file or at a path that does not exist yet"
            )

    def _upgrade(self) -> None:
        """Add the columns of the current format to a file of an earlier version."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version >= FORMAT_VERSION:
            return
        for table, column, declaration in _ADDED_COLUMNS:
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        self._db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    def close(self) -> None:
        self.wal_checkpointer.close()  # first: the writer's connection closes last (see its module)
        with self._lock:
            self._db.close()

    # --------------------------------------------------------------- writing
    def append_events(self, command: str, actor: str, events: Sequence[OutboxEvent]) -> str:
        """Store one decided command's events durably as one entry; its unique id.

        ``events`` must not be empty (a command that changed nothing has no entry).
        """
        if not events:
            raise ValueError("an outbox entry needs at least one event")
        entry_id = str(uuid.uuid4())
        payload = json.dumps([e.as_json() for e in events], separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO entries (command_id, command, fields, actor, created_at, events)"
                " VALUES (?, ?, '{}', ?, ?, ?)",
                (entry_id, command, actor, time.time(), payload),
            )
        self.wal_checkpointer.committed()
        return entry_id

    def append_events_many(
        self, entries: Sequence[tuple[str, str, Sequence[OutboxEvent]]]
    ) -> list[str]:
        """Store several decided commands, in order, as one entry each, in ONE
        transaction (one fsync): all of them, or none if it fails. Their ids.

        ``entries`` are ``(command, actor, events)``, each with at least one event:
        the server's group commit (:mod:`aethyr_domain.game.group_commit`) writes the
        decisions of the actions that arrived during the previous fsync this way.
        """
        rows = []
        for command, actor, events in entries:
            if not events:
                raise ValueError("an outbox entry needs at least one event")
            payload = json.dumps([e.as_json() for e in events], separators=(",", ":"))
            rows.append((str(uuid.uuid4()), command, actor, time.time(), payload))
        if not rows:
            return []
        with self._lock:
            self._transaction(
                *(
                    (
                        "INSERT INTO entries (command_id, command, fields, actor, created_at,"
                        " events) VALUES (?, ?, '{}', ?, ?, ?)",
                        row,
                    )
                    for row in rows
                )
            )
        return [row[0] for row in rows]

    def append(self, command: str, fields: Mapping[str, Any], actor: str) -> str:
        """Store one *command* (the format of earlier versions, decided at delivery).

        The game does not use this any more (it appends decided events with
        :meth:`append_events`); it stays for the upgrade path and its tests.
        """
        command_id = str(uuid.uuid4())
        payload = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO entries (command_id, command, fields, actor, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (command_id, command, payload, actor, time.time()),
            )
        self.wal_checkpointer.committed()
        return command_id

    def replace_with_events(self, seq: int, events: Sequence[OutboxEvent]) -> None:
        """Turn a command row (earlier format) into a decided entry, durably."""
        payload = json.dumps([e.as_json() for e in events], separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "UPDATE entries SET events = ?, fields = '{}' WHERE seq = ?", (payload, seq)
            )
        self.wal_checkpointer.committed()

    def mark_batch_in_flight(self, first_seq: int, last_seq: int, position: int) -> None:
        """Record that entries ``first_seq..last_seq`` are being appended at ``position``."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO in_flight_batch (id, first_seq, last_seq, position)"
                " VALUES (1, ?, ?, ?)",
                (first_seq, last_seq, position),
            )
        self.wal_checkpointer.committed()

    def mark_in_flight(self, entry: Entry, version_before: int) -> None:
        """The marker of the earlier format (one command row handed to the World)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO in_flight (seq, aggregate_id, version_before)"
                " VALUES (?, ?, ?)",
                (entry.seq, entry.aggregate_id, version_before),
            )
        self.wal_checkpointer.committed()

    def clear_in_flight(self) -> None:
        """Forget both kinds of in-flight marker."""
        with self._lock:
            self._transaction(("DELETE FROM in_flight", ()), ("DELETE FROM in_flight_batch", ()))

    def mark_delivered(self, seq: int) -> None:
        """Remove one delivered entry and its marker, and count it, in one transaction."""
        self.mark_batch_delivered([seq])

    def mark_batch_delivered(self, seqs: Iterable[int]) -> None:
        """Remove delivered entries, the in-flight markers, and count them, atomically.

        Committed WITHOUT a flush (``synchronous=NORMAL`` for this one transaction;
        in WAL mode SQLite still keeps the file consistent): the game's next
        ``synchronous=FULL`` commit flushes the log with this transaction in it. A
        mark that a power cut loses leaves entries the store already holds in line;
        delivery's recovery finds them in the store and marks them again
        (:func:`aethyr_domain.outbox.delivery.recover_delivered`), so nothing is
        recorded twice and the game's appends never wait behind a flush of delivery's
        bookkeeping.
        """
        seqs = list(seqs)
        if not seqs:
            return
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("DELETE FROM entries WHERE seq = ?", (seq,)) for seq in seqs
        ]
        statements += [
            ("DELETE FROM in_flight", ()),
            ("DELETE FROM in_flight_batch", ()),
            (
                "INSERT INTO counters (name, value) VALUES ('delivered', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (len(seqs),),
            ),
        ]
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._transaction(*statements)
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def mark_dead(self, entry: Entry, error: str) -> None:
        """Move a refused entry to ``dead_letters``, keeping what ``retry`` needs."""
        events = (
            None
            if entry.events is None
            else json.dumps([e.as_json() for e in entry.events], separators=(",", ":"))
        )
        fields = None if entry.fields is None else json.dumps(entry.fields, sort_keys=True)
        self._bury(entry.seq, entry.command_id, entry.command, entry.actor, error, fields, events)

    def _bury(
        self,
        seq: int,
        command_id: str,
        command: str,
        actor: str,
        error: str,
        fields: str | None,
        events: str | None,
        raw: str | None = None,
    ) -> None:
        with self._lock:
            self._transaction(
                (
                    "INSERT OR REPLACE INTO dead_letters (seq, command_id, command, actor,"
                    " error, failed_at, fields, events, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, command_id, command, actor, error, time.time(), fields, events, raw),
                ),
                ("DELETE FROM entries WHERE seq = ?", (seq,)),
                ("DELETE FROM in_flight WHERE seq = ?", (seq,)),
            )

    def bury_refused(self, command: str, actor: str, error: str) -> int:
        """Record a command the game's rules refused when it was decided (so nothing
        reached the store) as a dead letter; its sequence number."""
        command_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO entries (command_id, command, fields, actor, created_at)"
                    " VALUES (?, ?, '{}', ?, ?)",
                    (command_id, command, actor, time.time()),
                )
                seq = int(cursor.lastrowid or 0)
                self._db.execute("DELETE FROM entries WHERE seq = ?", (seq,))
                self._db.execute(
                    "INSERT INTO dead_letters (seq, command_id, command, actor, error,"
                    " failed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, command_id, command, actor, error, time.time()),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self.wal_checkpointer.committed()
        return seq

    def retry(self, seq: int) -> bool:
        """Put dead letter ``seq`` back in line (same sequence number and content).

        False if there is no such dead letter. A row that could not be decoded goes
        back with its raw text (and is set aside again unless it was repaired).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT command_id, command, actor, fields, events, raw FROM dead_letters"
                " WHERE seq = ?",
                (seq,),
            ).fetchone()
            if row is None:
                return False
            command_id, command, actor, fields, events, raw = row
            if raw is not None:
                fields, events = raw, None
            self._transaction(
                (
                    "INSERT INTO entries (seq, command_id, command, fields, actor, created_at,"
                    " events) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (seq, command_id, command, fields or "{}", actor, time.time(), events),
                ),
                ("DELETE FROM dead_letters WHERE seq = ?", (seq,)),
            )
        return True

    def discard(self, seq: int) -> bool:
        """Delete dead letter ``seq`` for good; False if there is none."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM dead_letters WHERE seq = ?", (seq,))
        self.wal_checkpointer.committed()
        return cursor.rowcount > 0

    def _transaction(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._db.execute(sql, params)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # a failed COMMIT (I/O error) leaves it open
                self._db.execute("ROLLBACK")
            raise
        self.wal_checkpointer.committed()

    # --------------------------------------------------------------- reading
    def read_pending(self, limit: int) -> PendingRead:
        """The oldest ``limit`` undelivered entries, in order.

        A row that cannot be decoded moves to the dead letters with its raw text
        (it would block every later entry otherwise) and is not returned.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, command_id, command, fields, actor, events FROM entries"
                " ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        entries: list[Entry] = []
        quarantined = 0
        for row in rows:
            try:
                entries.append(_decode(row))
            except UndecodableEntryError as exc:
                seq, command_id, command, fields, actor, events = row
                raw = events if events is not None else fields
                self._bury(
                    seq,
                    str(command_id),
                    str(command),
                    str(actor),
                    f"UndecodableEntryError: {exc}",
                    None,
                    None,
                    raw=str(raw),
                )
                quarantined += 1
        return PendingRead(entries, quarantined)

    def pending(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` decodable undelivered entries (see :meth:`read_pending`)."""
        return self.read_pending(limit).entries

    def entries_between(self, first_seq: int, last_seq: int) -> list[Entry]:
        """The still pending, decodable entries with ``first_seq <= seq <= last_seq``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, command_id, command, fields, actor, events FROM entries"
                " WHERE seq BETWEEN ? AND ? ORDER BY seq",
                (first_seq, last_seq),
            ).fetchall()
        out = []
        for row in rows:
            try:
                out.append(_decode(row))
            except UndecodableEntryError:
                continue  # read_pending sets it aside
        return out

    def in_flight(self) -> InFlight | None:
        """The marker an interrupted delivery of the earlier format left, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, aggregate_id, version_before FROM in_flight ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else InFlight(row[0], row[1], row[2])

    def in_flight_batch(self) -> InFlightBatch | None:
        """The marker an interrupted batch left, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT first_seq, last_seq, position FROM in_flight_batch"
            ).fetchone()
        return None if row is None else InFlightBatch(row[0], row[1], row[2])

    def backlog(self) -> int:
        """How many entries wait for delivery."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()
        return int(count)

    def delivered_count(self) -> int:
        """How many entries this outbox has delivered over its lifetime."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'delivered'").fetchone()
        return 0 if row is None else int(row[0])

    def dead_letter_count(self) -> int:
        """How many dead letters the outbox holds."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(count)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Refused entries: seq, command_id, command, actor, error, failed_at."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, command_id, command, actor, error, failed_at"
                " FROM dead_letters ORDER BY seq"
            ).fetchall()
        keys = ("seq", "command_id", "command", "actor", "error", "failed_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def listing(self) -> dict[str, list[dict[str, Any]]]:
        """Pending and dead entries for ``aethyr-es outbox`` (no event payloads).

        Each row: ``seq``, ``entry_id``, ``command``, ``actor``, ``events`` (how many;
        ``null`` for a command row of the earlier format), and for dead letters
        ``error``, ``failed_at`` and ``raw`` (the text of a row that could not be
        decoded, else ``null``).
        """
        with self._lock:
            pending = self._db.execute(
                "SELECT seq, command_id, command, actor, events, created_at FROM entries"
                " ORDER BY seq"
            ).fetchall()
            dead = self._db.execute(
                "SELECT seq, command_id, command, actor, events, error, failed_at, raw"
                " FROM dead_letters ORDER BY seq"
            ).fetchall()
        return {
            "pending": [
                {
                    "seq": r[0],
                    "entry_id": r[1],
                    "command": r[2],
                    "actor": r[3],
                    "events": _count_events(r[4]),
                    "created_at": r[5],
                }
                for r in pending
            ],
            "dead": [
                {
                    "seq": r[0],
                    "entry_id": r[1],
                    "command": r[2],
                    "actor": r[3],
                    "events": _count_events(r[4]),
                    "error": r[5],
                    "failed_at": r[6],
                    "raw": r[7],
                }
                for r in dead
            ],
        }


def _count_events(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return len(data) if isinstance(data, list) else None


def _decode(row: tuple[Any, ...]) -> Entry:
    """An :class:`Entry` from a row; :class:`UndecodableEntryError` if it is malformed."""
    seq, command_id, command, fields, actor, events = row
    if not all(isinstance(v, str) for v in (command_id, command, actor)):
        raise UndecodableEntryError("entry id, command and actor must be text")
    if events is not None:
        try:
            data = json.loads(events)
        except (TypeError, ValueError) as exc:
            raise UndecodableEntryError(f"events are not JSON: {exc}") from None
        if not isinstance(data, list) or not data:
            raise UndecodableEntryError("events must be a non-empty list")
        return Entry(
            seq, command_id, command, actor, events=tuple(map(OutboxEvent.from_json, data))
        )
    try:
        decoded = json.loads(fields)
    except (TypeError, ValueError) as exc:
        raise UndecodableEntryError(f"fields are not JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise UndecodableEntryError("fields must be a JSON object")
    return Entry(seq, command_id, command, actor, fields=decoded)
