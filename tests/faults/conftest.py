"""Fixtures of the fault tests: cheap password hashing and config files for the CLI."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch):
    monkeypatch.setenv("SCRYPT_N", "1024")
