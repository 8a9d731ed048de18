"""The projection faults stored in an event store, read without opening a read model.

``aethyr-es stats`` shows them. Each store's view module knows how to read its own
fault rows; they are imported only for the store at hand (no store module is loaded
by importing this one). This lives apart from :mod:`.faults` because the views
import :mod:`.faults`; reading their rows from there would be an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aethyr_domain.read.projections.faults import ProjectionFault

if TYPE_CHECKING:
    from aethyr_domain.application import World


def stored_faults(app: World) -> list[ProjectionFault]:
    """The faults stored in ``app``'s event store, read through its own connection
    without opening (or creating) a read model: what ``aethyr-es stats`` shows.

    Nothing for the in-memory store (its read model lives in the game's process).
    """
    from eventsourcing.sqlite import SQLiteDatastore

    from aethyr_immudb_recorder.datastore import ImmudbDatastore

    datastore = getattr(app.recorder, "datastore", None)
    rows: list[dict[str, Any]]
    if isinstance(datastore, SQLiteDatastore):
        from aethyr_domain.read.projections.sqlite_view import read_faults

        rows = read_faults(datastore)
    elif isinstance(datastore, ImmudbDatastore):
        from aethyr_domain.read.projections.immudb_view import read_faults as read_immudb

        rows = read_immudb(datastore)
    else:
        rows = []
    return [ProjectionFault.from_row(row) for row in rows]
