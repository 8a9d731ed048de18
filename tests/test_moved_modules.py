"""Old module paths of aethyr_domain still import, lazily, as the same modules.

Issue 17 moved the modules with I/O into ``game/``, ``outbox/``, ``read/`` and
``cli/``; :mod:`aethyr_domain.moved_modules` maps the old dotted names to the new
ones when (and only when) someone imports an old name.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aethyr_domain.moved_modules import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_new_module(old: str) -> None:
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__name__ == MOVED[old]  # the real module, not a copy
    assert sys.modules[old] is module


def _attr(dotted: str) -> object:
    """``pkg.module:name`` resolved through the import system (old or new path)."""
    return pkgutil.resolve_name(dotted)


def test_a_submodule_of_a_moved_package_is_the_same_module() -> None:
    assert _attr("aethyr_domain.projections.view:WorldView") is _attr(
        "aethyr_domain.read.projections.view:WorldView"
    )
    assert new_name("aethyr_domain.projections.sqlite_view") == (
        "aethyr_domain.read.projections.sqlite_view"
    )
    assert new_name("aethyr_domain.projections.cli_commands") == "aethyr_domain.cli.projections"
    assert new_name("aethyr_domain.events") is None  # did not move
    assert new_name("aethyr_domain.game.manager") is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("aethyr_domain.cli:main", "aethyr_domain.cli.entry:main"),  # the aethyr-es entry point
        ("aethyr_domain.cli:CliError", "aethyr_domain.cli.common:CliError"),
        ("aethyr_domain.cli:read_script", "aethyr_domain.cli.common:read_script"),
        ("aethyr_domain.cli:DEMO_SCRIPT", "aethyr_domain.cli.play:DEMO_SCRIPT"),
        ("aethyr_domain.cli:load_world", "aethyr_domain.cli.world:load_game_state"),
        ("aethyr_domain.replay:load_world", "aethyr_domain.read.replay:aggregates_and_game_state"),
        (
            "aethyr_domain.projections.cli_commands:load_world",
            "aethyr_domain.cli.projections:game_state_from_projection",
        ),
        ("aethyr_domain.outbox:Outbox", "aethyr_domain.outbox.queue:Outbox"),
        ("aethyr_domain.outbox:OutboxError", "aethyr_domain.outbox.queue:OutboxError"),
        ("aethyr_domain.live_world:LiveWorld", "aethyr_domain.game_state:GameState"),
        ("aethyr_domain.manager:hash_password", "aethyr_domain.game.accounts:hash_password"),
        ("aethyr_domain:Manager", "aethyr_domain.game.manager:Manager"),
        ("aethyr_domain:World", "aethyr_domain.application:World"),
        ("aethyr_domain:ServerConfig", "aethyr_domain.config:ServerConfig"),
    ],
)
def test_old_names_are_the_new_objects(old: str, new: str) -> None:
    assert _attr(old) is _attr(new)


def test_an_unknown_name_of_a_package_that_was_a_module_is_an_error() -> None:
    import aethyr_domain.cli
    import aethyr_domain.outbox

    with pytest.raises(AttributeError):
        _ = aethyr_domain.cli.no_such_name
    with pytest.raises(AttributeError):
        _ = aethyr_domain.outbox.no_such_name


def test_importing_the_package_or_an_old_name_loads_nothing_ahead() -> None:
    """``import aethyr_domain`` loads no subpackage and no I/O module; an old name
    loads only its own new module's imports (``aethyr_domain.live_world``: the model)."""
    code = (
        "import sys\n"
        "import aethyr_domain\n"
        "before = set(sys.modules)\n"
        "import aethyr_domain.live_world\n"
        "after = set(sys.modules)\n"
        "heavy = {'sqlite3', 'socket', 'argparse', 'prometheus_client', 'threading'}\n"
        "subpackages = {'aethyr_domain.' + p for p in ('game', 'outbox', 'read', 'cli')}\n"
        "print(sorted((before | after) & (heavy | subpackages)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = result.stdout.strip()
    assert "aethyr_domain." not in loaded and "sqlite3" not in loaded, loaded
    assert "argparse" not in loaded and "prometheus_client" not in loaded, loaded


def _rewrite_script() -> ModuleType:
    """``scripts/rewrite-moved-imports`` (a file without ``.py``) loaded as a module."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "rewrite-moved-imports"
    loader = importlib.machinery.SourceFileLoader("rewrite_moved_imports", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_rewrite_script_imports_renamed_functions_under_their_new_names() -> None:
    """Old paths become new ones, and a function renamed by issue 17 is imported by its
    new name, aliased to the name the code uses; a second run changes nothing."""
    rewrite = _rewrite_script().rewrite
    old = (
        "from aethyr_domain.replay import load_world\n"
        "from aethyr_domain.cli import load_world as world_from, main\n"
        "from aethyr_domain.projections.cli_commands import load_world, world_at\n"
        "from aethyr_domain.live_world import LiveWorld\n"
    )
    new = rewrite(old)
    assert new == (
        "from aethyr_domain.read.replay import aggregates_and_game_state as load_world\n"
        "from aethyr_domain.cli.world import load_game_state as world_from\n"
        "from aethyr_domain.cli.entry import main\n"
        "from aethyr_domain.cli.projections import game_state_from_projection as load_world, "
        "world_at\n"
        "from aethyr_domain.game_state import GameState\n"
    )
    assert rewrite(new) == new
    namespace: dict[str, object] = {}
    exec(new, namespace)  # the rewritten imports resolve
    assert namespace["world_from"] is _attr("aethyr_domain.cli.world:load_game_state")
