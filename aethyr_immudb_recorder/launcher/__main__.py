"""``python -m aethyr_immudb_recorder.launcher build|path|start`` (see :func:`.server.main`)."""

from aethyr_immudb_recorder.launcher.server import main

if __name__ == "__main__":  # pragma: no cover (run as a process by the tests)
    raise SystemExit(main())
