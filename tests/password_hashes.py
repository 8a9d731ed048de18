"""Password hashes for the tests: each password hashed, and each hash checked, once per
test process.

The live game hashes a new player's password with the production scrypt cost
(:data:`aethyr_domain.passwords.SCRYPT_N`, about 50 ms of CPU per hash), and most game
tests add the same few players ("Alice" with ``secret-1``, ...): a fast run spent about
14 CPU-seconds on some 280 such hashes, and as much again checking them at logins.
``tests/conftest.py`` therefore swaps :func:`aethyr_domain.passwords.hash_password` for
:func:`remembered_hash`, which hashes each password once per cost with the real function
- a genuine salted hash at the cost asked for, so checking it, and the upgrade rules,
behave exactly as with a fresh one - and hands the same hash out again. Only the salt is
shared between hashes of one password; a test that needs two different hashes of one
password calls the real function, imported by name before the swap
(``tests/domain/test_persistence.py`` does).

Checking a password against a hash is a pure function of the two, and costs as much as
hashing: :func:`remembered_check` stands in for :func:`aethyr_domain.passwords.verify_password`
(which the game's logins and the World call) and remembers each answer of the real function.

A test that patches the game's ``hash_password`` itself (``tests/game/test_one_truth.py``,
the fault tests) still does: its hashes come from here, at the cost it asks for.
"""

from __future__ import annotations

import threading

from aethyr_domain import passwords

_real_hash_password = passwords.hash_password
_real_verify_password = passwords.verify_password
_hashes: dict[tuple[str, int, int, int], str] = {}
_checks: dict[tuple[str, str], bool] = {}
_lock = threading.Lock()


def remembered_hash(
    password: str,
    *,
    n: int = passwords.SCRYPT_N,
    r: int = passwords.SCRYPT_R,
    p: int = passwords.SCRYPT_P,
) -> str:
    """:func:`aethyr_domain.passwords.hash_password`, made once per password and cost."""
    key = (password, n, r, p)
    with _lock:
        hashed = _hashes.get(key)
    if hashed is None:
        hashed = _real_hash_password(password, n=n, r=r, p=p)
        with _lock:
            hashed = _hashes.setdefault(key, hashed)
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
