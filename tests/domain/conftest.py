"""Fixtures for the domain tests: a fresh POPO world with cheap password hashing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aethyr_domain.application import World
from aethyr_domain.commands import Command
from aethyr_domain.errors import DomainError

#: Cheap scrypt cost so the tests stay fast (production default is 16384).
TEST_ENV = {"SCRYPT_N": "1024", "PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def world() -> Iterator[World]:
    app = World(env=TEST_ENV)
    yield app
    app.close()


def refuse(world: World, command: Command, error: type[DomainError]) -> DomainError:
    """Assert ``command`` raises ``error`` and that nothing was recorded."""
    before = world.recorder.max_notification_id()
    with pytest.raises(error) as info:
        world.handle(command)
    assert world.recorder.max_notification_id() == before
    assert info.value.message
    return info.value
