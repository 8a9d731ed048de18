"""With event_sourcing_enabled off, the game runs and no eventsourcing module is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_game_runs_without_importing_eventsourcing(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from aethyr_domain import Manager, ServerConfig
        from aethyr_domain.session import ScriptRunner, boot
        import io
        config = ServerConfig.load()
        assert not config.event_sourcing_enabled
        manager = boot(config)
        assert isinstance(manager, Manager) and manager.sink is None
        out = io.StringIO()
        ScriptRunner(manager, out).run([
            "@admin ann",
            "ann: acreate Sword",
            "ann: get sword",
            "ann: wield sword",
            "ann: acroom north Hall",
            "ann: north",
            "bo: look",
        ])
        assert "firmly in your right hand" in out.getvalue(), out.getvalue()
        assert "[Hall]" in out.getvalue()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "eventsourcing")
        print("LOADED", loaded)
        assert not loaded, loaded
        """
    )
    env = {"PATH": "/usr/bin:/bin", "AETHYR_OUTBOX_PATH": str(tmp_path / "o.sqlite")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "LOADED []" in result.stdout
    assert not (tmp_path / "o.sqlite").exists()  # no outbox either
