"""Test helpers: a game server in a background thread and a plain socket client."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.manager import Manager
from aethyr_domain.game.server import GameServer


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (of every one of its threads), from /proc."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def command(pid: int) -> list[str]:
    """The argv of process ``pid``."""
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, dead and not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


class RunningServer:
    """A :class:`GameServer` on its own event loop in a thread (port chosen freely)."""

    def __init__(self, manager: Manager, config: ServerConfig) -> None:
        self.manager = manager
        self.server = GameServer(manager, config)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self.port = await self.server.start("127.0.0.1", 0)
            self._ready.set()
            await self.server.wait_closed()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by stop()
            self._error = exc
            self._ready.set()

    def __enter__(self) -> RunningServer:
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Shut down as SIGTERM does (the Manager stays open: the caller closes it)."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the server did not stop"
        if self._error is not None:
            raise self._error

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def client(self) -> Client:
        return Client(self.port)


class Client:
    """A line-oriented socket client: send lines, wait for text."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.received = b""
        self.seen = 0  # how much of ``received`` expect() has consumed

    @property
    def text(self) -> str:
        """Everything received, as text (telnet commands show as U+FFFD)."""
        return self.received.decode("utf-8", errors="replace")

    def send(self, line: str | bytes, end: bytes = b"\r\n") -> None:
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.sock.sendall(data + end)

    def _fill(self, deadline: float) -> bool:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        if not data:
            return False
        self.received += data
        return True

    def expect(self, text: str | bytes, timeout: float = 10.0) -> bytes:
        """Wait until ``text`` arrives after what earlier calls consumed; returns what
        came up to and including it."""
        wanted = text.encode("utf-8") if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while True:
            index = self.received.find(wanted, self.seen)
            if index >= 0:
                chunk = self.received[self.seen : index + len(wanted)]
                self.seen = index + len(wanted)
                return chunk
            if time.monotonic() > deadline or not self._fill(deadline):
                raise AssertionError(f"{wanted!r} not received; got {self.received[self.seen :]!r}")

    def closed_by_server(self, timeout: float = 10.0) -> bool:
        """True once the server closed the connection (everything sent is kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                return True
        return False

    def login_new(self, name: str, password: str = "secret-pw") -> None:
        self.expect("By what name are you known? ")
        self.send(name)
        self.expect("Choose a password: ")
        self.send(password)
        self.expect("Type it again: ")
        self.send(password)
        self.expect("> ")

    def login(self, name: str, password: str = "secret-pw") -> None:
        self.expect("By what name are you known? ")
        self.send(name)
        self.expect("Password: ")
        self.send(password)
        self.expect("> ")

    def do(self, line: str) -> str:
        """Send one command; the text up to the next prompt."""
        self.send(line)
        return self.expect("> ").decode("utf-8", errors="replace")

    def close(self) -> None:
        self.sock.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
