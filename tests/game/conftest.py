from __future__ import annotations

from typing import Any

import pytest

from aethyr_domain.actions import Actions
from aethyr_domain.manager import Manager


class RecordingSink:
    """A CommandSink that keeps what it is given (name, fields, actor)."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], str]] = []
        self.closed = False

    def emit(self, command: str, fields: Any, actor: str) -> None:
        self.emitted.append((command, dict(fields), actor))

    def close(self) -> None:
        self.closed = True

    def names(self) -> list[str]:
        return [name for name, _fields, _actor in self.emitted]


class Game:
    """A Manager with a recording sink, an Actions layer and two players."""

    def __init__(self) -> None:
        self.sink = RecordingSink()
        self.manager = Manager(sink=self.sink)
        self.actions = Actions(self.manager)
        self.admin = self.manager.add_player("Alice", "secret-1").id
        self.manager.set_admin(self.admin, True)
        self.player = self.manager.add_player("Bob", "secret-2").id
        self.world = self.manager.world

    def do(self, who: str, text: str) -> str:
        """What ``who`` sees after ``text`` (messages for others are dropped)."""
        return "\n".join(msg for rid, msg in self.actions.perform(who, text) if rid == who)

    def since(self, mark: int) -> list[str]:
        return self.sink.names()[mark:]


@pytest.fixture
def game() -> Game:
    return Game()


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch):
    monkeypatch.setenv("SCRYPT_N", "1024")
