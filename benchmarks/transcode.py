"""The transcoder comparison: orjson vs eventsourcing's JSONTranscoder on game events.

The event states are what eventsourcing's mapper hands the transcoder for the
Aethyr world's events: ``vars(event)`` without the originator id and version,
so a ``timestamp`` on every event, an ``originator_topic`` on creation events,
GOIDs as strings (the legacy id format), names, descriptions, attribute
values and nested attribute dicts (stats, equipment), and the odd UUID.
"""

from __future__ import annotations

import functools
import gc
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    UUIDAsHex,
)

from aethyr_immudb_recorder.fast_transcoder import FastOrjsonTranscoder
from aethyr_immudb_recorder.transcoder import OrjsonTranscoder
from benchmarks.game_log import game_log
from benchmarks.scenarios import Measure

_WORDS = [
    "rusty",
    "sword",
    "lantern",
    "oak",
    "door",
    "north",
    "tavern",
    "misty",
    "hall",
    "stone",
    "cold",
    "ancient",
    "torch",
    "goblin",
    "market",
    "silver",
    "key",
    "dusty",
    "shelf",
    "narrow",
    "stair",
    "river",
    "bridge",
]


def _goid(rng: random.Random) -> str:
    return str(UUID(int=rng.getrandbits(128)))


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def game_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` event states in a plausible mix for a running game."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rooms = [_goid(rng) for _ in range(50)]
    states: list[dict[str, Any]] = []
    for i in range(count):
        when = start + timedelta(seconds=i, microseconds=rng.randrange(1_000_000))
        kind = i % 10
        if kind == 0:
            states.append(
                {
                    "timestamp": when,
                    "originator_topic": "aethyr_domain.game_object:GameObject",
                    "name": _text(rng, 3),
                    "generic": rng.choice(_WORDS),
                    "container_id": rng.choice(rooms),
                }
            )
        elif kind == 1:
            states.append(
                {
                    "timestamp": when,
                    "originator_topic": "aethyr_domain.room:Room",
                    "name": _text(rng, 2),
                    "description": _text(rng, 40),
                    "exits": {d: rng.choice(rooms) for d in ("north", "south", "east", "west")},
                }
            )
        elif kind in (2, 3, 4, 5):
            states.append({"timestamp": when, "container_id": rng.choice(rooms)})
        elif kind in (6, 7):
            states.append(
                {
                    "timestamp": when,
                    "key": rng.choice(("short_desc", "long_desc", "alt_names")),
                    "value": _text(rng, 8),
                }
            )
        elif kind == 8:
            states.append({
                "timestamp": when,
                "key": "stats",
                "value": {
                    "health": rng.randrange(100), "max_health": 100, "satiety": 80,
                    "stamina": rng.randrange(50), "fortitude": 12,
                    "skills": {"swords": rng.randrange(10), "climbing": 3},
                    "equipment": {"head": [rng.choice(rooms)], "left_wield": []},
                },
            })  # fmt: skip
        else:
            states.append(
                {
                    "timestamp": when,
                    "originator_topic": "aethyr_domain.player:Player",
                    "name": _text(rng, 1),
                    "password_hash": "scrypt$16384$8$1$" + "ab" * 32,
                    "session_id": UUID(int=rng.getrandbits(128)),
                    "admin": False,
                }
            )
    return states


def _with_library_transcodings(transcoder: JSONTranscoder) -> JSONTranscoder:
    # What Application.register_transcodings registers.
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@functools.lru_cache(maxsize=2)  # played once per run, not once per round
def played_game_states(count: int) -> list[dict[str, Any]]:
    """The states of the first ``count`` events of the seeded played game (``game_log``).

    What the World really writes: mostly flat events (a timestamp, the actor,
    ids as strings, a slot or a position), some with an attributes dict.
    """
    reader = _with_library_transcodings(JSONTranscoder())
    return [reader.decode(stored.state) for stored in game_log(count)[:count]]


def transcode(count: int) -> dict[str, list[Measure]]:
    """Encode then decode ``count`` events with each transcoder (events/s each way).

    Two sets of events: ``transcode`` is the mix of :func:`game_events` (heavier
    than the game: a nested stats dict in one event of ten, a UUID in another);
    ``transcode played`` is the seeded played game of :func:`played_game_states`.
    """
    results: dict[str, list[Measure]] = {}
    for scenario, states in (
        ("transcode", game_events(count)),
        ("transcode played", played_game_states(count)),
    ):
        transcoders = [
            _with_library_transcodings(JSONTranscoder()),
            _with_library_transcodings(OrjsonTranscoder()),
            _with_library_transcodings(FastOrjsonTranscoder()),
        ]
        # Interleaved in chunks, so that whatever else the machine does (a
        # server's background work, another process) falls on all of them alike.
        spent = {id(t): [0.0, 0.0] for t in transcoders}
        for start in range(0, len(states), _CHUNK):
            chunk = states[start : start + _CHUNK]
            for transcoder in transcoders:
                encode_time, decode_time = _time(transcoder, chunk)
                spent[id(transcoder)][0] += encode_time
                spent[id(transcoder)][1] += decode_time
        for transcoder in transcoders:
            encode_time, decode_time = spent[id(transcoder)]
            results.setdefault(type(transcoder).__name__, []).extend(
                [
                    Measure(scenario, len(states) / (encode_time + decode_time), "events/s"),
                    Measure(f"{scenario} encode", len(states) / encode_time, "events/s"),
                    Measure(f"{scenario} decode", len(states) / decode_time, "events/s"),
                ]
            )
    return results


_CHUNK = 500


def _time(transcoder: JSONTranscoder, states: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds to encode ``states``, then to decode what that wrote (checked)."""
    encode, decode = transcoder.encode, transcoder.decode
    gc.collect()
    gc.disable()  # as timeit does: measure the code, not when the collector runs
    try:
        started = time.perf_counter()
        encoded = [encode(state) for state in states]
        middle = time.perf_counter()
        decoded = [decode(data) for data in encoded]
        ended = time.perf_counter()
    finally:
        gc.enable()
    assert decoded == states
    return middle - started, ended - middle
