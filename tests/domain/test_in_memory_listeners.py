"""The World's in-memory recorder lets subscribers join and leave during an insert."""

from __future__ import annotations

import threading

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from aethyr_domain.application import World
from aethyr_domain.in_memory_listeners import SnapshotSet, guard_listeners


class JoinsWhenWoken(threading.Event):
    """A listener that, when an insert wakes it, makes another subscriber join: what a
    subscription starting on another thread does at the wrong moment, made certain."""

    def __init__(self, recorder: POPOApplicationRecorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.joined: list[threading.Event] = []

    def set(self) -> None:
        super().set()
        newcomer = threading.Event()
        self.joined.append(newcomer)
        self.recorder.listen(newcomer)


def event(version: int) -> StoredEvent:
    return StoredEvent("object-1", version, "tests:Happened", b"{}")


def test_the_library_recorder_alone_breaks_the_insert() -> None:
    """The fault being guarded against (eventsourcing 9.5's popo.py): the events are
    stored, yet the insert raises."""
    recorder = POPOApplicationRecorder()
    recorder.listen(JoinsWhenWoken(recorder))
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        recorder.insert_events([event(1)])
    assert recorder.max_notification_id() == 1


def test_the_world_recorder_inserts_and_wakes_every_listener() -> None:
    world = World()
    recorder = world.recorder
    assert isinstance(recorder, POPOApplicationRecorder)
    joiner = JoinsWhenWoken(recorder)
    recorder.listen(joiner)
    assert recorder.insert_events([event(1)]) == [1]
    assert joiner.is_set() and len(joiner.joined) == 1
    recorder.insert_events([event(2)])
    assert all(e.is_set() for e in joiner.joined[:1])  # the newcomer is woken next time
    recorder.unlisten(joiner)
    recorder.insert_events([event(3)])
    assert len(joiner.joined) == 2  # left: no longer woken


def test_guarding_is_idempotent_and_keeps_existing_listeners() -> None:
    recorder = POPOApplicationRecorder()
    first = threading.Event()
    recorder.listen(first)
    guard_listeners(recorder)
    listeners = recorder._listeners
    assert isinstance(listeners, SnapshotSet) and first in listeners
    guard_listeners(recorder)
    assert recorder._listeners is listeners
