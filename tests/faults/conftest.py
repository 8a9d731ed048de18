"""Fixtures of the fault tests: cheap password hashing and config files for the CLI."""

from __future__ import annotations

import pytest

# The random-sequence state machine's asserts, rewritten like a test module's (it is
# shared by two test modules: tests/faults/random_game.py).
pytest.register_assert_rewrite("tests.faults.random_game")


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch):
    monkeypatch.setenv("SCRYPT_N", "1024")
