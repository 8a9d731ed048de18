"""aethyr_domain: the world of the Aethyr MUD as event-sourced aggregates.

The public names are loaded lazily (PEP 562), so ``import aethyr_domain`` imports
nothing else, and using :class:`ServerConfig` or :class:`Manager` with event sourcing
off imports the ``eventsourcing`` domain model only (the rules live with the
aggregates), never a store. See ``docs/index.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from aethyr_domain._version import __version__ as __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "World": "aethyr_domain.application",
    "ServerConfig": "aethyr_domain.config",
    "Manager": "aethyr_domain.manager",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aethyr_domain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
