"""A commit from another process right after a subscription's first read is delivered.

The subscription learns of other processes' commits only by polling immudb's
latest transaction id. If the poll's baseline were taken after the pull
thread's first read of the log, a commit made in between would *be* the
baseline: nothing would ever look changed, and the event would wait for the
next commit. The test makes that commit deterministically, from inside the
first read (after it), with a writer that - like a recorder in another process -
never reaches this process's local wake-up bus; and makes no other commit.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from eventsourcing.persistence import Notification, StoredEvent

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder
from aethyr_immudb_recorder.subscription import ImmudbSubscription
from tests import immudb_harness
from tests.recorder.support import settings_for

pytestmark = pytest.mark.immudb

POLL_INTERVAL = "0.3"  # the first poll comes well after the first read has returned


class OtherProcessWriter(ImmudbApplicationRecorder):
    """Writes like a recorder in another process: this process's bus never hears of it."""

    def _after_insert(self) -> None:
        """No local wake-up (another process has no way to call ours)."""


class CommitAfterFirstRead(ImmudbSubscription):
    """A subscription whose first read of the log is followed by a foreign commit."""

    writer: OtherProcessWriter
    committed: threading.Event

    def __init__(self, recorder: ImmudbApplicationRecorder, writer: OtherProcessWriter) -> None:
        # Set before the base constructor: it starts the pull thread.
        self.writer = writer
        self.committed = threading.Event()
        super().__init__(recorder)

    def _pull(self) -> None:
        first = not self.committed.is_set()
        super()._pull()
        if first:
            event = StoredEvent(
                originator_id=uuid.uuid4(), originator_version=1, topic="remote", state=b"{}"
            )
            self.writer.insert_events([event])
            self.committed.set()


def test_commit_between_first_read_and_first_poll_is_delivered() -> None:
    database = immudb_harness.fresh_database("g")
    datastore = ImmudbDatastore(settings_for(database, IMMUDB_POLL_INTERVAL=POLL_INTERVAL))
    other = ImmudbDatastore(settings_for(database))
    try:
        recorder = ImmudbApplicationRecorder(datastore=datastore)
        recorder.create_table()
        writer = OtherProcessWriter(datastore=other)
        delivered: list[Notification] = []
        subscription = CommitAfterFirstRead(recorder, writer)
        with subscription:

            def consume() -> None:
                for notification in subscription:
                    delivered.append(notification)
                    return

            consumer = threading.Thread(target=consume, daemon=True)
            consumer.start()
            assert subscription.committed.wait(10)
            consumer.join(timeout=5)  # more than ten poll intervals
            subscription.stop()
        consumer.join(timeout=5)
        assert [n.topic for n in delivered] == ["remote"]
        assert delivered[0].id == 1
    finally:
        datastore.close()
        other.close()
