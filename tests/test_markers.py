"""The ``slow`` and ``faults`` markers come from a test's path (tests/conftest.py),
never from the test itself, so ``scripts/test --fast`` leaves out exactly the fault
tests and the modules named in ``SLOW_MODULES``."""

from __future__ import annotations

import re

from tests.conftest import DIRECTORY_MARKERS, SLOW_MODULES, TESTS, markers_for


def test_every_test_under_faults_is_a_slow_fault_test():
    modules = sorted((TESTS / "faults").glob("test_*.py"))
    assert len(modules) >= 10
    for module in modules:
        assert {"faults", "slow"} <= markers_for(module), module


def test_named_modules_are_slow_and_others_are_not():
    for name in SLOW_MODULES:
        assert (TESTS / name).is_file(), f"SLOW_MODULES names a missing module: {name}"
        assert "slow" in markers_for(TESTS / name)
    assert markers_for(TESTS / "recorder" / "test_settings.py") == set()
    assert markers_for(TESTS / "test_launcher.py") == set()
    assert markers_for(TESTS / "test_benchmarks.py") == set()  # the runs are test_benchmark_runs
    assert markers_for(TESTS.parent / "benchmarks" / "stats.py") == set()  # outside tests/


def test_no_test_sets_slow_or_faults_by_hand():
    marked = re.compile(r"mark\.(slow|faults)\b")
    by_hand = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("*.py")
        if path.name != "conftest.py" and path != TESTS / "test_markers.py"
        if marked.search(path.read_text())
    ]
    assert by_hand == []
    assert set(DIRECTORY_MARKERS["faults"]) == {"faults", "slow"}


def test_the_markers_are_applied_to_collected_items(request):
    """This module is not slow: the hook gave it no marker."""
    assert request.node.get_closest_marker("slow") is None
    assert request.node.get_closest_marker("faults") is None
