"""Password hashing: salted scrypt, and the legacy MD5 digests of the original.

Only :mod:`aethyr_domain.commands` ever hold a plaintext password. The
handlers turn it into an *encoded hash* before building any event::

    scrypt$n=16384,r=8,p=1$<salt, base64>$<key, base64>

The salt is 16 random bytes per hash, the key 32 bytes (``hashlib.scrypt``).
The parameters are stored with the hash, so they can be raised later without
breaking old hashes: :func:`needs_upgrade` says when a stored hash is weaker
than the current policy, and the world re-hashes it at the next successful
password check.

The original Aethyr stored an unsalted MD5 hex digest. Imported players keep it
as ``md5$<hex>`` until they next log in successfully; then it is replaced by a
scrypt hash (``World.check_password`` does that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_PREFIX = "scrypt"
MD5_PREFIX = "md5"

#: Current policy (OWASP's minimum for scrypt: N=2**14... r=8, p=1 is the
#: interactive-login setting of the scrypt paper; ~16 MiB and tens of ms).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,
        dklen=KEY_BYTES,
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Return the encoded salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n, r, p)
    return f"{SCRYPT_PREFIX}$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def legacy_md5_hash(md5_hex: str) -> str:
    """Encode an original Aethyr MD5 hex digest as a stored hash."""
    return f"{MD5_PREFIX}${md5_hex.lower()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches the encoded hash (scrypt or legacy md5).

    Comparisons are constant-time. A malformed stored hash never matches.
    """
    scheme, _, rest = encoded.partition("$")
    if scheme == MD5_PREFIX:
        digest = hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()
        return hmac.compare_digest(digest, rest)
    parsed = _parse_scrypt(encoded)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)


def is_scrypt_hash(encoded: str) -> bool:
    """True if ``encoded`` is a well-formed salted scrypt hash made by :func:`hash_password`."""
    parsed = _parse_scrypt(encoded)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    return n >= 2 and n & (n - 1) == 0 and r >= 1 and p >= 1 and len(salt) >= 8 and len(key) >= 16


def _parse_scrypt(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    """``(n, r, p, salt, key)`` of a ``scrypt$n=..,r=..,p=..$salt$key`` hash; ``None`` if
    ``encoded`` is not one or is malformed."""
    scheme, _, rest = encoded.partition("$")
    if scheme != SCRYPT_PREFIX:
        return None
    try:
        params, salt_b64, key_b64 = rest.split("$")
        settings = dict(item.split("=") for item in params.split(","))
        n, r, p = int(settings["n"]), int(settings["r"]), int(settings["p"])
        salt = base64.b64decode(salt_b64, validate=True)
        key = base64.b64decode(key_b64, validate=True)
    except (ValueError, KeyError):
        return None
    return n, r, p, salt, key


def needs_upgrade(encoded: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bool:
    """True if the stored hash is legacy MD5 or weaker than the given policy."""
    scheme, _, rest = encoded.partition("$")
    if scheme != SCRYPT_PREFIX:
        return True
    params = rest.split("$", 1)[0]
    try:
        settings = dict(item.split("=") for item in params.split(","))
        return int(settings["n"]) < n or int(settings["r"]) < r or int(settings["p"]) < p
    except (ValueError, KeyError):
        return True
