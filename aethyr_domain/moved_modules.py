"""Old module paths of ``aethyr_domain`` that still import, after issue 17's moves.

Until issue 17 every module sat flat in ``aethyr_domain``. The modules with I/O moved
into the subpackages ``game``, ``outbox``, ``read`` and ``cli`` (see
``docs/index.md``), and ``live_world`` became ``game_state``. Code outside this
repository may still say ``import aethyr_domain.manager`` or ``from
aethyr_domain.projections.view import WorldView``; :class:`MovedModuleFinder` keeps
those working.

It is a :data:`sys.meta_path` finder that knows only the old names in
:data:`MOVED`. When (and only when) someone imports an old name, it imports the
new module and registers that same module object under the old name too, so
``aethyr_domain.manager.Manager is aethyr_domain.game.manager.Manager`` and
monkeypatching either name patches both. Nothing is imported ahead of time:
importing :mod:`aethyr_domain` still loads no I/O module, and a model module never
imports an old name (the import-linter contracts check our own code uses the new
paths).

``aethyr_domain.outbox`` and ``aethyr_domain.cli`` were modules and are now
packages; their old names are forwarded by the packages' own ``__getattr__``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: old dotted name -> new dotted name (a prefix entry also maps its submodules).
MOVED: dict[str, str] = {
    "aethyr_domain.live_world": "aethyr_domain.game_state",
    "aethyr_domain.event_sink": "aethyr_domain.outbox.event_sink",
    "aethyr_domain.delivery": "aethyr_domain.outbox.delivery",
    "aethyr_domain.writer_lease": "aethyr_domain.outbox.writer_lease",
    "aethyr_domain.event_store": "aethyr_domain.outbox.event_store",
    "aethyr_domain.replay": "aethyr_domain.read.replay",
    "aethyr_domain.history": "aethyr_domain.read.history",
    "aethyr_domain.log_positions": "aethyr_domain.read.log_positions",
    "aethyr_domain.world_dump": "aethyr_domain.read.world_dump",
    "aethyr_domain.projections.cli_commands": "aethyr_domain.cli.projections",
    "aethyr_domain.projections": "aethyr_domain.read.projections",
    "aethyr_domain.manager": "aethyr_domain.game.manager",
    "aethyr_domain.actions": "aethyr_domain.game.actions",
    "aethyr_domain.player_verbs": "aethyr_domain.game.player_verbs",
    "aethyr_domain.talk_verbs": "aethyr_domain.game.talk_verbs",
    "aethyr_domain.admin_verbs": "aethyr_domain.game.building_verbs",
    "aethyr_domain.session": "aethyr_domain.game.session",
    "aethyr_domain.server": "aethyr_domain.game.server",
    "aethyr_domain.telnet": "aethyr_domain.game.telnet",
    "aethyr_domain.storage": "aethyr_domain.game.storage",
    "aethyr_domain.checkpoint": "aethyr_domain.game.checkpoint",
    "aethyr_domain.migrate": "aethyr_domain.game.migrate",
    "aethyr_domain.replication_commands": "aethyr_domain.cli.replication",
    "aethyr_domain.metrics_endpoint": "aethyr_domain.cli.metrics_endpoint",
}


def new_name(old: str) -> str | None:
    """The module ``old`` now lives in, or ``None`` if ``old`` did not move.

    An exact entry wins; otherwise the longest moved package that ``old`` lies in
    (``aethyr_domain.projections.view`` -> ``aethyr_domain.read.projections.view``).
    """
    if old in MOVED:
        return MOVED[old]
    parts = old.split(".")
    for cut in range(len(parts) - 1, 1, -1):
        prefix = ".".join(parts[:cut])
        if prefix in MOVED:
            return ".".join([MOVED[prefix], *parts[cut:]])
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name by importing the new module and registering it as the old.

    The import system re-reads ``sys.modules[old]`` after :meth:`exec_module`, so
    the importer gets the new module object itself, not a copy.
    """

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # a placeholder; exec_module swaps in the real module

    def exec_module(self, module: ModuleType) -> None:
        sys.modules[module.__name__] = importlib.import_module(self.target)


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of moved modules (see the module docstring)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("aethyr_domain."):
            return None
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Register the finder once (importing :mod:`aethyr_domain` calls this)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        # first: the path finder would otherwise load ``aethyr_domain.projections.view``
        # a second time from the moved package's folder, as a different module
        sys.meta_path.insert(0, MovedModuleFinder())
