"""cli: the ``aethyr-es`` command line, one module per command group.

What lives here: the parser and ``main`` (``entry``), what the groups share
(``common``: ``CliError``, exit codes, the writer lease of a command), and one module
per command group: ``play`` (demo, play, serve), ``world`` (world --json and its
sources), ``status`` (stats, outbox), ``store`` (migrate, verify, store upgrade),
``users``, ``projections`` (project, rebuild, schema, history), ``replication``
(promote); and ``metrics_endpoint`` (the ``/metrics`` endpoint of the long-running
commands).

What it may import: everything below it - ``aethyr_domain.game``,
``aethyr_domain.read``, ``aethyr_domain.outbox``, the model - and the recorder
(``aethyr_immudb_recorder``). Nothing imports the CLI.

``aethyr_domain.cli`` was one module before it became a folder; its public names
(``main``, ``CliError``, ``DEMO_SCRIPT``, ``load_world`` - now ``load_game_state``, the
old name kept as an alias -, ...) are still reachable here, loaded from the module that
now holds them on first use. The ``aethyr-es`` entry point is ``aethyr_domain.cli:main``.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset(
    {
        "common",
        "entry",
        "metrics_endpoint",
        "play",
        "projections",
        "replication",
        "status",
        "store",
        "users",
        "world",
    }
)

#: Where the public names of the old ``aethyr_domain.cli`` module went, searched in order.
_OLD_NAMES_IN = ("entry", "common", "play", "world", "status", "store", "users")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if not name.startswith("_"):
        for module in _OLD_NAMES_IN:
            found = getattr(importlib.import_module(f"{__name__}.{module}"), name, _MISSING)
            if found is not _MISSING:
                return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MISSING = object()
