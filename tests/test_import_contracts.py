"""The import rule of ``docs/index.md`` holds, and the contracts would catch a breach.

``cli -> game -> read -> outbox -> model -> eventsourcing``; the model imports nothing
with I/O; the recorder imports nothing from ``aethyr_domain``; no module cycles. The
contracts live in ``.importlinter`` and are checked by ``lint-imports``
(import-linter), run here as a subprocess so a new cycle or layer breach fails the
suite, not only ``scripts/test``.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), "lint-imports is missing: install the dev extra (import-linter)"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser


def _model_modules() -> set[str]:
    """Every top-level module of aethyr_domain (the model), from the file tree."""
    return {path.stem for path in (ROOT / "aethyr_domain").glob("*.py") if path.stem != "__init__"}


def test_the_contracts_are_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert result.stdout.count(" KEPT") == len(
        [s for s in _contracts().sections() if s.startswith("importlinter:contract:")]
    )


def test_every_model_module_is_in_the_bottom_layer_and_in_the_no_io_contract() -> None:
    contracts = _contracts()
    layers = contracts["importlinter:contract:layers"]["layers"].split()
    bottom = {name for name in layers[layers.index("outbox") + 1 :] if name != ":"}
    sources = contracts["importlinter:contract:model-no-io"]["source_modules"].split()
    assert bottom == _model_modules()
    assert {name.removeprefix("aethyr_domain.") for name in sources} == _model_modules()
    subpackages = {path.parent.name for path in (ROOT / "aethyr_domain").glob("*/__init__.py")}
    assert set(layers[: layers.index("outbox") + 1]) == subpackages


def _copy_packages(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for package in ("aethyr_domain", "aethyr_immudb_recorder"):
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("aethyr_domain/events.py", "import threading", "imports nothing with I/O"),
        ("aethyr_domain/commands.py", "import aethyr_domain.outbox.queue", "layers"),
        ("aethyr_domain/read/replay.py", "import aethyr_domain.game.session", "layers"),
        ("aethyr_domain/outbox/delivery.py", "import aethyr_domain.read.history", "layers"),
        ("aethyr_domain/game/manager.py", "import aethyr_domain.cli.entry", "layers"),
        ("aethyr_immudb_recorder/errors.py", "import aethyr_domain.errors", "recorder"),
        ("aethyr_domain/game/verb_context.py", "import aethyr_domain.game.actions", "cycles"),
    ],
)
def test_a_breach_fails_the_contracts(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """The contracts are not vacuous: one added import in a copy of the tree breaks
    ``contract`` (an upward import also closes a cycle, which breaks no-cycles too)."""
    root = _copy_packages(tmp_path)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = _lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 broken" not in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
