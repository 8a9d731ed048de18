"""Benchmarks: the immudb recorder measured side by side with eventsourcing's own recorders.

Run ``python -m benchmarks [--quick] [--json OUT.json]``. The runner starts what it
needs (a throwaway immudb through :mod:`aethyr_immudb_recorder.launcher`, a
temporary PostgreSQL cluster from the Debian package), runs every scenario on
every backend, interleaved, for several rounds, and prints medians with their
min-max spread. Figures and how to read them: ``docs/performance.md``.

Modules: :mod:`benchmarks.machine` (machine and version facts),
:mod:`benchmarks.postgres` (the temporary PostgreSQL cluster),
:mod:`benchmarks.backends` (the persistence backends and their environments),
:mod:`benchmarks.scenarios` (what is measured on each backend),
:mod:`benchmarks.transcode` (the transcoder comparison on game events),
:mod:`benchmarks.stats` (medians, the table, the target ratios) and
:mod:`benchmarks.runner` (the command line).
"""
