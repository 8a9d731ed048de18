"""Random game action sequences, shard 2 of 2 (shard 1 and the docs:
``test_random_sequences.py`` and :mod:`tests.faults.random_game`)."""

from __future__ import annotations

import pytest

from tests.faults import random_game


@pytest.mark.timeout(1500)  # about 2 min under coverage on a quiet 2-core machine
def test_random_action_sequences_shard2():
    random_game.play_shard(1)
