"""eventsourcing's DCB application API (``DCBApplication``, enduring objects, the
repository) with ``PERSISTENCE_MODULE=aethyr_immudb_recorder`` on a real immudb.

The same application code runs on the library's in-memory module; only the
environment selects immudb.
"""

from __future__ import annotations

import pytest
from eventsourcing.dcb.application import DCBApplication
from eventsourcing.dcb.domain import EnduringObject, Selector
from eventsourcing.dcb.msgpack import Decision, InitialDecision, MessagePackMapper
from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from aethyr_immudb_recorder.dcb import ImmudbDCBRecorder
from tests.recorder.support import env_for

pytestmark = [pytest.mark.immudb]


class Room(EnduringObject[Decision]):
    """A room as an enduring object: its events are tagged with its id."""

    class Dug(InitialDecision):
        room_id: str
        title: str

    class Renamed(Decision):
        title: str

    @event(Dug)
    def __init__(self, title: str) -> None:
        self.title = title

    @event(Renamed)
    def rename(self, title: str) -> None:
        self.title = title


class Builders(DCBApplication):
    """A DCB application named like any other; its events go to ``builders_dcb_events``."""


def _app(database: str) -> Builders:
    return Builders(env=env_for(database, MAPPER_TOPIC=get_topic(MessagePackMapper)))


def test_application_saves_and_gets_on_immudb(immudb_database: str) -> None:
    with _app(immudb_database) as app:
        assert isinstance(app.recorder, ImmudbDCBRecorder)
        assert app.recorder.events_table_name == "builders_dcb_events"
        room = Room(title="Hall")
        other = Room(title="Cellar")
        app.repository.save(room)
        app.repository.save(other)
        copy = app.repository.get(room.id)
        assert isinstance(copy, Room)
        assert copy.title == "Hall"
        assert copy.last_known_position == 2
        copy.rename(title="Great hall")
        app.repository.save(copy)
        again = app.repository.get(room.id)
        assert isinstance(again, Room)
        assert again.title == "Great hall"
        tagged = list(app.events.read(Selector(tags=[room.id])))
        assert [type(t.decision) for t in tagged] == [Room.Dug, Room.Renamed]


def test_stale_object_is_refused_and_another_objects_change_is_not(immudb_database: str) -> None:
    with _app(immudb_database) as app, _app(immudb_database) as other_app:
        room = Room(title="Hall")
        cellar = Room(title="Cellar")
        app.repository.save(room)
        app.repository.save(cellar)
        mine = app.repository.get(room.id)
        theirs = other_app.repository.get(room.id)
        assert isinstance(mine, Room)
        assert isinstance(theirs, Room)
        mine.rename(title="A")
        app.repository.save(mine)
        # A change to another room after `theirs` was read does not refuse it ...
        cellar_copy = other_app.repository.get(cellar.id)
        assert isinstance(cellar_copy, Room)
        cellar_copy.rename(title="Wine cellar")
        other_app.repository.save(cellar_copy)
        # ... but the change to the same room does.
        theirs.rename(title="B")
        with pytest.raises(IntegrityError):
            other_app.repository.save(theirs)
        final = app.repository.get(room.id)
        assert isinstance(final, Room)
        assert final.title == "A"
