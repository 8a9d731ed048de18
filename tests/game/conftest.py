from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aethyr_domain.decision import Decision
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.manager import Manager


class RecordingSink:
    """A CommandSink that keeps the decisions it is given, and each one's command as
    (name, fields, actor)."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.emitted: list[tuple[str, dict[str, Any], str]] = []
        self.closed = False

    def record(self, decision: Decision) -> None:
        assert decision.events, "a decision without events must not be recorded"
        self.decisions.append(decision)
        command = decision.command
        fields = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}
        actor = fields.pop("actor")
        self.emitted.append((type(command).__name__, fields, actor))

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
        self.state = self.manager.state

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
