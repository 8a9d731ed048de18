"""Projections: the world read model (materialised views) and what maintains it.

One concept per module:

* :mod:`.migrations` - the schema as ordered, versioned migrations;
* :mod:`.view` - the view interface (a tracking recorder writing rows and
  tracking atomically) and blue/green generations;
* :mod:`.memory_view`, :mod:`.sqlite_view`, :mod:`.immudb_view` - the backends;
* :mod:`.projection` - how each event changes the rows;
* :mod:`.queries` - questions asked of the read model, and the world dump;
* :mod:`.rebuild` - blue/green rebuild into fresh tables;
* :mod:`.runner` - the projection service, in process or for ``aethyr-es project``
  (the command itself is :mod:`aethyr_domain.cli.projections`);
* :mod:`.opening` - :func:`~.opening.open_view`, the view on the configured store;
* :mod:`.stored_faults` - the faults stored next to a read model, read without it;
* :mod:`.metrics` - Prometheus metrics.

It is part of :mod:`aethyr_domain.read` and imports only from ``read``, ``outbox``
and the model (and the recorder, for the immudb view). See ``docs/projections.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: importing this package must not load a store
    from aethyr_domain.read.projections.view import WorldView

_VIEWS: dict[str, str] = {
    "eventsourcing.popo": "aethyr_domain.read.projections.memory_view:MemoryWorldView",
    "eventsourcing.sqlite": "aethyr_domain.read.projections.sqlite_view:SQLiteWorldView",
    "aethyr_immudb_recorder": "aethyr_domain.read.projections.immudb_view:ImmudbWorldView",
}


class UnsupportedStoreError(ValueError):
    """No world view exists for the configured persistence module."""


def view_class_for(env: Mapping[str, str]) -> type[WorldView]:
    """The view class matching ``env``'s ``PERSISTENCE_MODULE`` (POPO by default)."""
    import importlib

    module = env.get("PERSISTENCE_MODULE") or "eventsourcing.popo"
    topic = _VIEWS.get(module)
    if topic is None:
        msg = (
            f"no world view for PERSISTENCE_MODULE={module!r}; "
            f"supported: {', '.join(sorted(_VIEWS))}"
        )
        raise UnsupportedStoreError(msg)
    module_name, class_name = topic.split(":")
    cls: type[WorldView] = getattr(importlib.import_module(module_name), class_name)
    return cls


__all__ = ["UnsupportedStoreError", "WorldView", "view_class_for"]
