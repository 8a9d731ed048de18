"""Session-wide test set-up: markers by path; at the end, stop the shared immudb server
and kill any other immudb server a test left running.

Markers are set here by where a test lives, never by hand per test:

* everything under ``tests/faults/`` is ``faults`` and ``slow`` (servers and processes
  are killed, restarted and starved there, on purpose);
* the modules in :data:`SLOW_MODULES` (long property-based runs, the benchmark
  scenarios run end to end) are ``slow``.

``scripts/test --fast`` runs ``-m "not slow"``; plain ``scripts/test`` (and CI) runs
everything. The hypothesis profile (``tests/hypothesis_profiles.py``) is loaded here too:
``full`` unless ``AETHYR_HYPOTHESIS_PROFILE=fast`` (which ``scripts/test --fast`` sets)
asks for shorter property runs. The live game's password hashes are made, and checked,
once per password and test process (``tests/password_hashes.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from aethyr_immudb_recorder.launcher import ImmudbServer
from tests import hypothesis_profiles, immudb_harness, password_hashes

TESTS = Path(__file__).resolve().parent

hypothesis_profiles.load()  # before the test modules (and their @settings) are imported

#: Folders (relative to ``tests/``) whose every test gets these markers.
DIRECTORY_MARKERS: dict[str, tuple[str, ...]] = {"faults": ("faults", "slow")}

#: Modules (relative to ``tests/``) marked ``slow``: long property-based runs
#: (hypothesis plays random command sequences, random play or random values), the
#: recorder's restart and multi-process modules (a server restart; processes
#: racing), which their authors had marked slow as a whole, and the benchmark
#: scenarios run end to end (they measure: timing loops, process pools, replicas).
SLOW_MODULES = frozenset(
    {
        "domain/test_invariants_stateful.py",
        "faults/test_random_sequences.py",
        "game/test_one_truth.py",
        "projections/test_value_roundtrip.py",
        "recorder/test_multiprocess.py",
        "recorder/test_restart.py",
        "test_benchmark_runs.py",
    }
)


def markers_for(path: Path) -> set[str]:
    """The markers of every test in the file at ``path`` (by its place under tests/)."""
    try:
        relative = path.resolve().relative_to(TESTS)
    except ValueError:
        return set()
    names = {name for part in relative.parts[:-1] for name in DIRECTORY_MARKERS.get(part, ())}
    if relative.as_posix() in SLOW_MODULES:
        names.add("slow")
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(markers_for(item.path)):
            item.add_marker(name)


@pytest.fixture(scope="session", autouse=True)
def _stop_immudb_at_exit() -> Iterator[None]:
    yield
    immudb_harness.stop()
    reaped = immudb_harness.reap_leftover_servers()
    if reaped:
        warnings.warn(
            f"killed {len(reaped)} immudb server(s) a test left running (pids {reaped})",
            stacklevel=1,
        )


@pytest.fixture(autouse=True)
def _remembered_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The game hashes each password, and checks each hash, once per test process
    (``tests/password_hashes.py``)."""
    monkeypatch.setattr("aethyr_domain.passwords.hash_password", password_hashes.remembered_hash)
    monkeypatch.setattr("aethyr_domain.passwords.verify_password", password_hashes.remembered_check)


@pytest.fixture
def immudb_server() -> ImmudbServer:
    """The session's running immudb server (fails in CI if it cannot start)."""
    return immudb_harness.server()


@pytest.fixture
def immudb_database() -> str:
    """A new, empty immudb database on the session's server."""
    return immudb_harness.fresh_database()
