"""The hypothesis profiles: the full counts by default, a tenth (at least 10) when fast."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.hypothesis_profiles import FAST_MINIMUM, PROFILE_ENV, examples, load, profile


def test_full_is_the_default_and_keeps_every_count(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile() == "full"
    assert [examples(n) for n in (60, 100, 300)] == [60, 100, 300]


def test_fast_runs_a_tenth_of_the_examples_but_never_fewer_than_the_minimum(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "fast")
    assert profile() == "fast"
    assert [examples(n) for n in (60, 200, 300)] == [FAST_MINIMUM, 20, 30]


def test_load_selects_the_profile_for_tests_without_their_own_count(monkeypatch):
    before = settings.get_current_profile_name()
    try:
        monkeypatch.setenv(PROFILE_ENV, "fast")
        load()
        assert settings().max_examples == FAST_MINIMUM
        monkeypatch.setenv(PROFILE_ENV, "full")
        load()
        assert settings().max_examples == 100
    finally:
        settings.load_profile(before)


def test_an_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    with pytest.raises(ValueError, match=r"AETHYR_HYPOTHESIS_PROFILE must be 'full' or 'fast'"):
        profile()
