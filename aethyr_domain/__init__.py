"""aethyr_domain: the world of the Aethyr MUD as event-sourced aggregates.

The public names are loaded lazily (PEP 562), so ``import aethyr_domain`` imports
nothing else (but the small finder of :mod:`aethyr_domain.moved_modules`), and using
:class:`ServerConfig` or :class:`Manager` with event sourcing off imports the
``eventsourcing`` domain model only (the rules live with the aggregates), never a store.

The top-level modules are the model (events, aggregates, commands, handlers, the
``World`` application, the game state); they import eventsourcing and nothing with
I/O. The subpackages are the layers above it: ``outbox`` (decided events on their way
to the store), ``read`` (replay, history, projections), ``game`` (the Manager, the
verbs, boot, the server) and ``cli`` (``aethyr-es``). Imports flow one way,
``cli -> game -> read -> outbox -> model``; ``.importlinter`` holds the contracts.
See ``docs/index.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from aethyr_domain._version import __version__ as __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "World": "aethyr_domain.application",
    "ServerConfig": "aethyr_domain.config",
    "Manager": "aethyr_domain.game.manager",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aethyr_domain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


# Old module paths (before the subpackages) keep importing; see moved_modules.py.
from aethyr_domain import moved_modules as _moved_modules  # noqa: E402

_moved_modules.install()
