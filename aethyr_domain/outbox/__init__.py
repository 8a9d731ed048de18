"""outbox: the path of decided events to the store.

What lives here: the durable queue of decided events on disk (``queue``, the
:class:`~aethyr_domain.outbox.queue.Outbox`), the Manager's sink that fills it
(``event_sink``), delivery with group commits and exactly-once recovery
(``delivery``), ``serve``'s delivery child (``delivery_process``; it reports its
delivered marks and the game deletes the rows: ``delivered_marks``), the children's
CPU priority (``process_priority``), one writer per store (``writer_lease``) and
opening the configured store (``event_store``).

What it may import: the model (the top-level modules of ``aethyr_domain``) and
eventsourcing; never ``aethyr_domain.read``, ``aethyr_domain.game`` or
``aethyr_domain.cli``.

This package was the module ``aethyr_domain.outbox`` before it became a folder; the
names that module defined are still reachable here (``from aethyr_domain.outbox import
Outbox``), loaded from :mod:`aethyr_domain.outbox.queue` on first use, so importing a
sibling such as ``aethyr_domain.outbox.event_store`` does not load the queue.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset({"delivery", "event_sink", "event_store", "queue", "writer_lease"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.queue"), name)
