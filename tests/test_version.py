"""The version is written once (aethyr_immudb_recorder/_version.py), and the recorder
imports nothing from aethyr_domain."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import aethyr_domain
import aethyr_immudb_recorder
from aethyr_immudb_recorder import _version

ROOT = Path(__file__).resolve().parents[1]
RECORDER = ROOT / "aethyr_immudb_recorder"


def test_both_packages_report_the_one_version():
    assert _version.__version__.count(".") == 2
    assert aethyr_immudb_recorder.__version__ == _version.__version__
    assert aethyr_domain.__version__ == _version.__version__


def test_pyproject_reads_the_version_from_the_same_constant():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "aethyr_immudb_recorder._version.__version__"


def test_the_version_is_written_in_one_file_only():
    """No other module of either package assigns ``__version__`` a literal."""
    writers = []
    for path in sorted([*RECORDER.rglob("*.py"), *(ROOT / "aethyr_domain").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                writers.append(path.relative_to(ROOT).as_posix())
    assert writers == ["aethyr_immudb_recorder/_version.py"]


def _run(code: str, *flags: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )


def test_aethyr_domain_version_needs_no_installed_distribution(tmp_path):
    """``-S`` (no site-packages: nothing installed is visible, not even the recorder's
    dependencies): ``aethyr_domain.__version__`` still works from the source tree, and
    importing it imports nothing of the recorder."""
    code = (
        "import sys, aethyr_domain; print(aethyr_domain.__version__); "
        "print(sorted(m for m in sys.modules if m.startswith(('aethyr_immudb', 'grpc'))))"
    )
    out = _run(code, "-S", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [_version.__version__, "[]"]


def test_both_versions_from_a_source_tree_on_pythonpath(tmp_path):
    code = (
        "import aethyr_domain, aethyr_immudb_recorder as r; "
        "print(aethyr_domain.__version__, r.__version__); print(r.__file__)"
    )
    out = _run(code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    versions, where = out.stdout.splitlines()
    assert versions == f"{_version.__version__} {_version.__version__}"
    assert Path(where).resolve().is_relative_to(ROOT)  # the source tree, not an install


def test_the_recorder_imports_nothing_from_aethyr_domain():
    """Not even inside a function: the recorder is a library of its own."""
    offenders = []
    for path in sorted(RECORDER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name == "aethyr_domain" or name.startswith("aethyr_domain."):
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
