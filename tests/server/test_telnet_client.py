"""A real telnet client (Debian's ``telnet``, in a ``tmux`` pane) plays the game.

``scripts/test-tools`` installs both; where they are missing the test skips, except
in CI (``CI`` or ``AETHYR_REQUIRE_IMMUDB`` set), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.server.test_serve_cli import start_serve, stop


def _tools() -> tuple[str, str]:
    telnet, tmux = shutil.which("telnet"), shutil.which("tmux")
    if telnet is None or tmux is None:
        message = "telnet and tmux are needed (scripts/test-tools installs them as root)"
        if os.environ.get("CI") or os.environ.get("AETHYR_REQUIRE_IMMUDB"):
            pytest.fail(message)
        pytest.skip(message)
    return telnet, tmux


class Pane:
    """A detached tmux session on a private socket, running one command."""

    def __init__(self, tmux: str, socket: Path, command: list[str]) -> None:
        self.base = [tmux, "-S", str(socket)]
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", "t", "-x", "160", "-y", "50", *command],
            check=True,
        )

    def keys(self, text: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "t", "-l", text], check=True)
        subprocess.run([*self.base, "send-keys", "-t", "t", "Enter"], check=True)

    def screen(self) -> str:
        result = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "t", "-S", "-200"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], check=False, capture_output=True)


def test_a_telnet_client_plays_the_game(tmp_path):
    telnet, tmux = _tools()
    process, port = start_serve(tmp_path)
    # the pane stays after telnet exits, so its last words can be read
    command = f"{telnet} 127.0.0.1 {port}; echo TELNET-EXITED; sleep 60"
    pane = Pane(tmux, tmp_path / "tmux.sock", ["sh", "-c", command])
    try:
        pane.wait_for("By what name are you known?")
        pane.keys("Tess")
        pane.wait_for("Choose a password:")
        pane.keys("tess-secret")
        pane.wait_for("Type it again:")
        pane.keys("tess-secret")
        pane.wait_for("Exits: none.")
        pane.keys("inventory")
        pane.wait_for("You are holding nothing.")
        pane.keys("smile ☺")
        screen = pane.wait_for("Unknown command: smile")
        assert "tess-secret" not in screen  # the password was not echoed
        pane.keys("quit")
        pane.wait_for("Goodbye!")
        pane.wait_for("TELNET-EXITED")  # the server closed the connection
    finally:
        pane.close()
        code, err = stop(process)
    assert code == 0, err
