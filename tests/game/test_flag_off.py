"""With event_sourcing_enabled off, the game runs and opens no store; the only file it
writes is its own storage (``storage_path``), and none without one.

The game decides with the World's handlers on its in-memory aggregates in every mode,
so it imports the eventsourcing *domain* model (the rules are shared with the
aggregates); it must never import (let alone open) a store: no persistence module of
eventsourcing, no immudb recorder, no outbox, no event store, no projection. ``sqlite3``
is allowed only for the game's own storage, when one is configured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: Modules (and their submodules) the flag-off game must not import.
STORE_MODULES = (
    "eventsourcing.popo",
    "eventsourcing.sqlite",
    "eventsourcing.postgres",
    "aethyr_immudb_recorder",
    "aethyr_domain.outbox.queue",
    "aethyr_domain.outbox.event_store",
    "aethyr_domain.outbox.event_sink",
    "aethyr_domain.outbox.delivery",
    "aethyr_domain.application",
    "aethyr_domain.read.projections",
    "sqlite3",
)


def test_game_runs_without_any_store(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from aethyr_domain import Manager, ServerConfig
        from aethyr_domain.game.session import ScriptRunner, boot
        import io
        config = ServerConfig.load()
        assert not config.event_sourcing_enabled
        manager = boot(config)
        assert isinstance(manager, Manager) and manager.sink is None
        assert manager.decider.aggregates == {{}}
        out = io.StringIO()
        ScriptRunner(manager, out).run([
            "@admin ann",
            "ann: acreate Sword",
            "ann: get sword",
            "ann: wield sword",
            "ann: acreate Shirt a tunic",
            "ann: aset tunic @layer true",
            "ann: get tunic",
            "ann: wear tunic",
            "ann: acroom north Hall",
            "ann: north",
            "bo: look",
        ])
        text = out.getvalue()
        assert "firmly in your right hand" in text, text
        assert "has an invalid layer" in text, text  # the handlers' rule, flag off too
        assert "[Hall]" in text
        loaded = sorted(m for m in sys.modules if m.startswith({STORE_MODULES!r}))
        print("LOADED", loaded)
        assert not loaded, loaded
        assert "eventsourcing.domain" in sys.modules  # the rules live with the aggregates
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AETHYR_OUTBOX_PATH": str(tmp_path / "o.sqlite"),
        "AETHYR_STORAGE_PATH": "",  # no game storage either: the world in memory only
    }
    if os.environ.get("PYTHONPATH"):  # run the checkout under test, not an installed copy
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "LOADED []" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no outbox, no event store, no file at all


def test_game_storage_is_the_only_file_and_imports_no_store(tmp_path):
    """With the game's own storage (the default), the flag-off game writes exactly that
    SQLite file (``sqlite3`` is then allowed: it is the game's storage, not a store),
    still imports no event-store module, and a second boot finds the same world."""
    script = textwrap.dedent(
        f"""
        import sys, io
        from aethyr_domain import ServerConfig
        from aethyr_domain.game.session import ScriptRunner, boot
        from aethyr_domain.read.world_dump import dumps
        config = ServerConfig.load()
        manager = boot(config)
        ScriptRunner(manager, io.StringIO()).run(
            ["@admin ann", "ann: acreate Sword", "ann: get sword", "ann: acroom north Hall"]
        )
        before = dumps(manager.state)
        manager.close()
        again = boot(config)
        assert dumps(again.state) == before
        again.close()
        stores = tuple(m for m in {STORE_MODULES!r} if m != "sqlite3")
        loaded = sorted(m for m in sys.modules if m.startswith(stores))
        assert not loaded, loaded
        """
    )
    env = {"PATH": "/usr/bin:/bin", "AETHYR_OUTBOX_PATH": str(tmp_path / "o.sqlite")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr + result.stdout
    names = {p.name for p in tmp_path.iterdir()}
    assert names <= {"aethyr-world.sqlite", "aethyr-world.sqlite-wal", "aethyr-world.sqlite-shm"}
    assert "aethyr-world.sqlite" in names
