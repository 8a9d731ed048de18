"""Build and run a throwaway immudb server: for tests, benchmarks and manual work.

What lives here:

* :mod:`.server`: the build (the binary cache, ``IMMUDB_BIN``), :class:`ImmudbServer`
  (start, health check, kill, restart, replicas, TLS) and the command line;
* ``immudb_server/``: the Go wrapper module the server binary is built from
  (``go.mod``, ``go.sum``, ``main.go``; shipped as package data);
* ``__main__``: ``python -m aethyr_immudb_recorder.launcher build|path|start``.

It may import the standard library, :mod:`aethyr_immudb_recorder.settings` (the
names of the keys in :meth:`ImmudbServer.client_env`), :mod:`aethyr_immudb_recorder.tls`
(for ``--tls-dir``) and :mod:`aethyr_immudb_recorder.replicas` (for ``--replica-of``);
the recorder itself never imports the launcher, and nothing here imports
``aethyr_domain``.
"""

from __future__ import annotations

from aethyr_immudb_recorder.launcher.server import (
    MIN_GO,
    PINNED_VERSION,
    ImmudbBuildError,
    ImmudbServer,
    ImmudbStartError,
    build_immudb,
    cache_root,
    cached_binary_path,
    free_port,
    main,
    requested_version,
    running_server,
    serve,
)

__all__ = [
    "MIN_GO",
    "PINNED_VERSION",
    "ImmudbBuildError",
    "ImmudbServer",
    "ImmudbStartError",
    "build_immudb",
    "cache_root",
    "cached_binary_path",
    "free_port",
    "main",
    "requested_version",
    "running_server",
    "serve",
]
