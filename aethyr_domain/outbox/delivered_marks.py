"""Delivered marks go from the delivery child to the game: one writer of the outbox file.

The outbox is an SQLite file, and SQLite lets one connection write at a time. With
delivery in a child process (:mod:`aethyr_domain.outbox.delivery_process`) two
processes used to write it: the game appending each group of decisions, and the
child marking each delivered batch (deleting its rows). When the game's commit found
the child's mark transaction holding the write lock, SQLite's busy handler put the
game's thread to sleep - 1 ms, then 2, then 5 more - however short the mark was, and
longer still when the child (at a lower CPU priority) was descheduled while holding
the lock. Under 200 players about one group commit in fifty waited more than a
millisecond that way, a few in a thousand more than three: the players' slowest
answers (``docs/performance.md``, run 21).

So the child does not write its marks. :class:`ReportingOutbox` is the child's
outbox: its :meth:`~ReportingOutbox.mark_batch_delivered` prints one line,
``delivered: <seq>,<seq>,...`` (:data:`DELIVERED`), on the child's standard output,
which the game reads anyway (:class:`~aethyr_domain.outbox.delivery_process.DeliveryProcess`);
the game's reader thread deletes those rows with its own connection
(:meth:`Outbox.mark_batch_delivered <aethyr_domain.outbox.queue.Outbox.mark_batch_delivered>`),
serialised with the game's appends by the outbox's thread lock, which hands over at
once instead of sleeping. Until the game has deleted them, the child skips the rows
it reported when it reads the pending ones.

Exactly once holds as before. A mark the game never applied (it crashed, or the
child died before its line was read) is a lost mark, the case the outbox was built
for: the entries stay pending, and the next delivery's recovery finds them in the
store and marks them (:func:`aethyr_domain.outbox.delivery.recover_delivered`); an
entry delivered twice is refused by the store as a version clash and then found
stored. The child still writes the rare things itself: dead letters, and the
clean-up of an earlier version's markers.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TextIO

from aethyr_domain.outbox.queue import Outbox, PendingRead

#: The prefix of the child's line that reports delivered entries (sequence numbers,
#: comma-separated).
DELIVERED = "delivered: "


def delivered_line(seqs: Iterable[int]) -> str:
    """The line that reports ``seqs`` as delivered."""
    return DELIVERED + ",".join(str(int(seq)) for seq in seqs)


def parse_delivered(line: str) -> list[int] | None:
    """The sequence numbers a :data:`DELIVERED` line reports; ``None`` for any other
    line (or a malformed one: a mark that is not applied is only a lost mark)."""
    if not line.startswith(DELIVERED):
        return None
    try:
        return [int(part) for part in line.removeprefix(DELIVERED).split(",") if part]
    except ValueError:
        return None


class ReportingOutbox(Outbox):
    """The delivery child's outbox: it reports delivered entries instead of deleting them.

    ``report`` receives each :func:`delivered_line` (by default it is printed on
    standard output and flushed). Pending reads leave out the entries reported and not
    yet deleted by the game.
    """

    def __init__(
        self, path: str | os.PathLike[str], report: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(path)
        self._report = report or line_writer(sys.stdout)
        self._reported: set[int] = set()
        self._reported_lock = threading.Lock()

    def mark_batch_delivered(self, seqs: Iterable[int]) -> None:
        seqs = list(seqs)
        if not seqs:
            return
        with self._reported_lock:
            self._reported.update(seqs)
        self._report(delivered_line(seqs))

    def read_pending(self, limit: int) -> PendingRead:
        """The oldest ``limit`` pending entries that were not reported delivered.

        The reported ones are still in the file until the game deletes them: they are
        read too (they are the oldest rows) and left out. A reported entry no longer
        in the file has been deleted, and is forgotten.
        """
        with self._reported_lock:
            reported = set(self._reported)
        wanted = limit + len(reported)
        read = super().read_pending(wanted)
        seen = {entry.seq for entry in read.entries}
        complete = len(read.entries) + read.quarantined < wanted
        highest = max(seen, default=0)
        with self._reported_lock:
            self._reported = {
                seq
                for seq in self._reported
                if seq in seen or seq not in reported or (not complete and seq > highest)
            }
        fresh = [entry for entry in read.entries if entry.seq not in reported]
        return PendingRead(fresh[:limit], read.quarantined)

    def backlog(self) -> int:
        """Entries waiting for delivery (those reported delivered are not waiting)."""
        with self._reported_lock:
            reported = len(self._reported)
        return max(0, super().backlog() - reported)

    @property
    def reported(self) -> frozenset[int]:
        """The entries reported delivered that the game has not deleted yet (as far as
        the last pending read saw)."""
        with self._reported_lock:
            return frozenset(self._reported)


def line_writer(stream: TextIO) -> Callable[[str], None]:
    """A function that writes one line to ``stream`` and flushes it, whole: lines
    from several threads (the child's delivery thread and its main thread) do not
    interleave."""
    lock = threading.Lock()

    def report(line: str) -> None:
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return report


def apply_marks(outbox: Outbox, line: str) -> int:
    """Apply a :data:`DELIVERED` line to ``outbox`` (the game's); how many entries it
    named (0 for any other line). An outbox that is closed, or a write that fails, is
    logged by the caller and leaves a lost mark (see the module docstring)."""
    seqs = parse_delivered(line)
    if not seqs:
        return 0
    outbox.mark_batch_delivered(seqs)
    return len(seqs)


__all__ = [
    "DELIVERED",
    "ReportingOutbox",
    "apply_marks",
    "delivered_line",
    "line_writer",
    "parse_delivered",
]
