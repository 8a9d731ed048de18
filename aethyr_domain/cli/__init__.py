"""cli: the ``aethyr-es`` command line, one module per command group.

What lives here: the parser and ``main`` (``entry``), and the command groups
(``projections``: project, rebuild, schema, history, world sources; ``replication``:
replicas and promote; ``metrics_endpoint``: the ``/metrics`` endpoint of the
long-running commands).

What it may import: everything below it - ``aethyr_domain.game``,
``aethyr_domain.read``, ``aethyr_domain.outbox``, the model - and the recorder
(``aethyr_immudb_recorder``). Nothing imports the CLI.

``aethyr_domain.cli`` was one module before it became a folder; its names (``main``,
``CliError``, ...) are still reachable here, loaded from :mod:`aethyr_domain.cli.entry`
on first use. The ``aethyr-es`` entry point is ``aethyr_domain.cli:main``.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset({"entry", "metrics_endpoint", "projections", "replication"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.entry"), name)
