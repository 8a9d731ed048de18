"""Random game action sequences, shard 1 of 2: invariants and live == replay == projection.

The state machine, the opening and the sharding are in :mod:`tests.faults.random_game`;
shard 2 is ``test_shard2_random_sequences.py`` (its own module, so that with
pytest-xdist's ``--dist loadfile`` it can run on the other worker). Both shards together play the
10,000 sequences (``AETHYR_RANDOM_SEQUENCES``).
"""

from __future__ import annotations

import pytest

from tests.faults import random_game


@pytest.mark.timeout(1500)  # about 2 min under coverage on a quiet 2-core machine
def test_random_action_sequences():
    random_game.play_shard(0)
