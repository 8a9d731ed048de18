"""Password hashes for the tests: each password hashed, and each hash checked, once per
test process.

The live game hashes a new player's password with the production scrypt cost
(:data:`aethyr_domain.passwords.SCRYPT_N`, about 50 ms of CPU per hash), and most game
tests add the same few players ("Alice" with ``secret-1``, ...): a fast run spent about
14 CPU-seconds on some 280 such hashes. ``tests/conftest.py`` therefore swaps the game's
:func:`aethyr_domain.game.accounts.hash_password` for :func:`remembered_hash`, which
hashes each password once with the real function - a genuine salted hash at the
production cost, so checking it, and the upgrade rules, behave exactly as with a fresh
one - and hands the same hash out again. Only the salt is shared between players who
share a password; a test that needs two different hashes of one password calls
:func:`aethyr_domain.passwords.hash_password` itself (``tests/domain/test_persistence.py``).

Checking a password against a hash is a pure function of the two, and costs as much as
hashing: :func:`remembered_check` stands in for :func:`aethyr_domain.passwords.verify_password`
(which the game's logins call) and remembers each answer of the real function.

A test that patches ``hash_password`` itself (``tests/game/test_one_truth.py``, the
fault tests) overrides this, since its fixture runs later.
"""

from __future__ import annotations

import threading

from aethyr_domain import passwords
from aethyr_domain.game import accounts

_real_hash_password = accounts.hash_password
_real_verify_password = passwords.verify_password
_hashes: dict[str, str] = {}
_checks: dict[tuple[str, str], bool] = {}
_lock = threading.Lock()


def remembered_hash(password: str) -> str:
    """The game's hash of ``password``, made once per test process (see the module)."""
    with _lock:
        hashed = _hashes.get(password)
    if hashed is None:
        hashed = _real_hash_password(password)
        with _lock:
            hashed = _hashes.setdefault(password, hashed)
    return hashed


def remembered_check(password: str, encoded: str) -> bool:
    """:func:`aethyr_domain.passwords.verify_password`, each answer computed once."""
    key = (password, encoded)
    with _lock:
        known = _checks.get(key)
    if known is None:
        known = _real_verify_password(password, encoded)
        with _lock:
            _checks[key] = known
    return known
