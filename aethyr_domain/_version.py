"""``aethyr_domain.__version__``, read from the one place the version is written.

The version lives in ``aethyr_immudb_recorder/_version.py`` (the recorder may not
import ``aethyr_domain``, so the constant sits on its side; ``pyproject.toml`` reads
the same file). Importing ``aethyr_immudb_recorder._version`` would first run the
recorder package's ``__init__`` (grpc, immudb-py), so this module finds the
package without importing it and runs just that one file, which imports nothing.
It works the same from an installed wheel, an editable install or a source tree on
``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_RECORDER = "aethyr_immudb_recorder"


def read_version() -> str:
    """The ``__version__`` constant of ``aethyr_immudb_recorder/_version.py``."""
    package = importlib.util.find_spec(_RECORDER)  # a top-level name: finds, does not import
    if package is None or not package.submodule_search_locations:
        raise ImportError(f"cannot find the {_RECORDER} package (it holds the version)")
    path = Path(next(iter(package.submodule_search_locations))) / "_version.py"
    spec = importlib.util.spec_from_file_location(f"{_RECORDER}._version", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    version = module.__version__
    assert isinstance(version, str)
    return version


__version__ = read_version()
