"""Coverage in pytest-xdist's worker processes (``scripts/test`` runs the suite in two).

``scripts/test`` sets :data:`ENV` (``COVERAGE_PROCESS_START``) to the coverage config
(``setup.cfg``). coverage's start-up hook (the ``.pth`` file it installs) then measures
every Python process that starts with that variable set, from its first line: pytest's
main process and each xdist worker. Each writes its own data file (``parallel = True``)
and ``coverage combine`` joins them after the run, so the table and the 85% gate see
every worker's tests.

The processes the tests start themselves (a server, a crash child, a CLI run) were not
measured when the suite ran under ``coverage run`` in one process (it does not follow
``subprocess``), and they are not measured now: every pytest process that runs tests
removes the variable from its environment at configure time, before any test starts a
child. (``multiprocessing`` children are measured as before: ``concurrency`` in
``setup.cfg``; coverage passes them its config itself.) The main process of an xdist run
keeps the variable until its workers have started with it; it runs no tests.
"""

from __future__ import annotations

import os

import coverage
import pytest

#: The variable coverage's start-up hook reads (the path of the coverage config).
ENV = "COVERAGE_PROCESS_START"


def runs_tests(config: pytest.Config) -> bool:
    """Whether this pytest process runs the tests: an xdist worker, or a run without
    workers (``-n 0``, or xdist not loaded); not the main process of ``-n 2``."""
    if hasattr(config, "workerinput"):
        return True
    return not getattr(config.option, "numprocesses", None)


def keep_out_of_children(config: pytest.Config) -> None:
    """In a process that runs tests, drop :data:`ENV`, so the processes the tests start
    are not measured (nor slowed by the tracer, nor leave data files in their folders).

    Raises ``pytest.UsageError`` when :data:`ENV` is set but this process is not being
    measured (coverage older than 7.10 installs no start-up hook): the table would
    otherwise miss every test this process runs.
    """
    if not runs_tests(config) or ENV not in os.environ:
        return
    if coverage.Coverage.current() is None:
        raise pytest.UsageError(
            f"{ENV} is set but coverage is not measuring this process: "
            "coverage >= 7.10 installs the start-up hook (a .pth file) it needs"
        )
    os.environ.pop(ENV, None)
