"""Hypothesis profiles: the full example counts, or a shorter run for the fast loop.

Two profiles, chosen by the environment variable :data:`PROFILE_ENV`:

* ``full`` (the default: plain ``scripts/test`` and CI) runs every property test with
  the number of examples its author wrote (hypothesis' own default, 100, where none is
  written);
* ``fast`` (``scripts/test --fast`` sets it) runs the same properties with a tenth of
  those examples, never fewer than :data:`FAST_MINIMUM`.

A test that writes its own count does so through :func:`examples`, because an explicit
``@settings(max_examples=...)`` overrides whatever profile is loaded::

    @settings(max_examples=examples(300), deadline=None)

``tests/conftest.py`` calls :func:`load` before any test module is imported.
"""

from __future__ import annotations

import os

from hypothesis import settings

#: The environment variable naming the profile (``full`` or ``fast``).
PROFILE_ENV = "AETHYR_HYPOTHESIS_PROFILE"
FULL = "full"
FAST = "fast"
#: The fast profile runs ``1 / FAST_SHARE`` of each test's examples ...
FAST_SHARE = 10
#: ... but at least this many.
FAST_MINIMUM = 10
#: hypothesis' default ``max_examples``, for tests that do not write one.
DEFAULT_EXAMPLES = 100


def profile() -> str:
    """The profile named by :data:`PROFILE_ENV` (``full`` when unset or empty)."""
    name = os.environ.get(PROFILE_ENV, "").strip() or FULL
    if name not in (FULL, FAST):
        raise ValueError(f"{PROFILE_ENV} must be {FULL!r} or {FAST!r}, not {name!r}")
    return name


def examples(full: int) -> int:
    """``max_examples`` for a test whose full run has ``full`` examples."""
    if profile() == FAST:
        return max(FAST_MINIMUM, full // FAST_SHARE)
    return full


def load() -> None:
    """Register both profiles and load the one :data:`PROFILE_ENV` names."""
    settings.register_profile(FULL, max_examples=DEFAULT_EXAMPLES)
    settings.register_profile(FAST, max_examples=max(FAST_MINIMUM, DEFAULT_EXAMPLES // FAST_SHARE))
    settings.load_profile(profile())
