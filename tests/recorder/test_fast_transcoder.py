"""The typed-header orjson transcoder: library suite, same values as JSONTranscoder, its format."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import TestCase
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from eventsourcing.tests.persistence import TranscoderTestCase
from hypothesis import given, settings
from hypothesis import strategies as st

from aethyr_immudb_recorder.fast_transcoder import MARKER, FastOrjsonTranscoder
from aethyr_immudb_recorder.transcoder import OrjsonTranscoder
from tests import immudb_harness
from tests.hypothesis_profiles import examples
from tests.recorder.support import env_for
from tests.recorder.test_transcoder import Character, Colour, ColourAsName, full_transcoder

TOPIC = "aethyr_immudb_recorder.fast_transcoder:FastOrjsonTranscoder"

_LIBRARY_TRANSCODINGS = (UUIDAsHex, DecimalAsStr, DatetimeAsISO)


def _registered(transcoder: JSONTranscoder, *extra: Transcoding) -> JSONTranscoder:
    for transcoding in (*(t() for t in _LIBRARY_TRANSCODINGS), *extra):
        transcoder.register(transcoding)
    return transcoder


class TestFastOrjsonTranscoder(TranscoderTestCase):
    """All tests of the library's transcoder suite."""

    def construct_transcoder(self) -> Transcoder:
        return full_transcoder(FastOrjsonTranscoder)


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.uuids()
    | st.datetimes(
        timezones=st.sampled_from(
            [None, UTC, timezone(timedelta(hours=-3)), timezone(timedelta(seconds=7))]
        )
    )
    | st.decimals(allow_nan=False, allow_infinity=False)
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children) | st.tuples(children, children) | st.dictionaries(st.text(), children)
    ),
    max_leaves=20,
)


class TestSameValuesAsJSONTranscoder(TestCase):
    """Whatever goes in comes back as JSONTranscoder would give it back; all formats read."""

    def setUp(self) -> None:
        self.fast = _registered(FastOrjsonTranscoder(), ColourAsName())
        self.compatible = _registered(OrjsonTranscoder(), ColourAsName())
        self.slow = _registered(JSONTranscoder(), ColourAsName())

    def assert_same(self, obj: Any) -> bytes:
        expected = repr(self.slow.decode(self.slow.encode(obj)))
        data = self.fast.encode(obj)
        self.assertEqual(repr(self.fast.decode(data)), expected)
        # It reads the JSON-compatible formats too, so a store can switch to it.
        self.assertEqual(repr(self.fast.decode(self.slow.encode(obj))), expected)
        self.assertEqual(repr(self.fast.decode(self.compatible.encode(obj))), expected)
        return data

    @settings(max_examples=examples(300), deadline=None)
    @given(st.dictionaries(st.text(), _VALUES, max_size=8))
    def test_any_event_state(self, state: dict[str, Any]) -> None:
        self.assert_same(state)

    @settings(max_examples=examples(100), deadline=None)
    @given(_VALUES)
    def test_any_value(self, obj: Any) -> None:
        self.assert_same(obj)

    def test_game_event_state_uses_the_header(self) -> None:
        room, when = uuid4(), datetime(2024, 5, 1, 12, 30, 0, 5, tzinfo=UTC)
        state = {
            "timestamp": when,
            "name": "The Great Hall ✨",
            "room_id": room,
            "exits": {"north": str(uuid4()), "south": None},
            "stats": {"light": 3, "tags": ["indoor", "lit"], "ratio": 0.25},
            "gold": Decimal("12.50"),
            "colour": Colour.RED,
            "position": (1, 2),
        }
        data = self.assert_same(state)
        header, body = data.split(b"{", 1)
        self.assertEqual(header, MARKER + b"d0,u2,w5,w6,w7")
        as_json = json.loads(b"{" + body)
        self.assertEqual(as_json["timestamp"], when.isoformat())
        self.assertEqual(as_json["room_id"], str(room))
        self.assertEqual(as_json["stats"], state["stats"])  # plain containers stay plain
        decoded = self.fast.decode(data)
        self.assertEqual(decoded["room_id"], room)
        self.assertIsInstance(decoded["room_id"], UUID)
        self.assertEqual(decoded["timestamp"], when)
        self.assertIs(decoded["colour"], Colour.RED)
        self.assertEqual(decoded["position"], [1, 2])  # tuples as lists, as json does

    def test_only_the_listed_positions_are_converted(self) -> None:
        # JSONTranscoder would turn this user dict into a UUID; here it stays what it was.
        lookalike = {"_type_": "uuid_hex", "_data_": uuid4().hex}
        state = {"timestamp": datetime(2020, 1, 1), "note": lookalike, "text": str(uuid4())}
        self.assertEqual(self.fast.decode(self.fast.encode(state)), state)

    def test_json_transcoder_refuses_these_bytes_loudly(self) -> None:
        data = self.fast.encode({"timestamp": datetime(2020, 1, 1, tzinfo=UTC), "id": uuid4()})
        self.assertTrue(data.startswith(MARKER))
        with self.assertRaises(ValueError):
            self.slow.decode(data)

    def test_offsets_with_seconds_are_tagged_not_rounded(self) -> None:
        odd = datetime(1900, 1, 1, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
        data = self.fast.encode({"at": odd, "other": datetime(2020, 1, 1, tzinfo=UTC)})
        self.assertTrue(data.startswith(MARKER + b"w0,d1{"))
        self.assertEqual(self.fast.decode(data)["at"].utcoffset(), odd.utcoffset())

    def test_values_orjson_cannot_write_use_the_json_format(self) -> None:
        for state in (
            {"big": 2**70, "at": datetime(2020, 1, 1)},
            {"x": float("nan"), "y": [float("inf")]},
            {1: "int key"},
        ):
            data = self.fast.encode(state)
            self.assertFalse(data.startswith(MARKER))
            decoded = self.fast.decode(data)
            self.assertEqual(repr(decoded), repr(self.slow.decode(self.slow.encode(state))))
        self.assertTrue(math.isnan(self.fast.decode(self.fast.encode({"x": math.nan}))["x"]))

    def test_large_floats_in_tagged_values_read_back(self) -> None:
        state = {"v": [Decimal("1"), 1e300, -(2.0**70)]}
        self.assertEqual(self.fast.decode(self.fast.encode(state)), state)

    def test_unregistered_types_raise_the_same_error(self) -> None:
        plain = FastOrjsonTranscoder()  # nothing registered: not even datetime
        for obj in ({"d": date(2020, 1, 1)}, {"t": datetime(2020, 1, 1)}, {"u": uuid4()}):
            with self.assertRaises(TranscodingNotRegisteredError) as fast_error:
                plain.encode(obj)
            with self.assertRaises(TranscodingNotRegisteredError) as slow_error:
                JSONTranscoder().encode(obj)
            self.assertEqual(str(fast_error.exception), str(slow_error.exception))

    def test_own_uuid_transcoding_is_honoured(self) -> None:
        class UUIDAsInt(Transcoding):
            type = UUID
            name = "uuid_int"

            def encode(self, obj: UUID) -> str:
                return str(obj.int)

            def decode(self, data: str) -> UUID:
                return UUID(int=int(data))

        transcoder = FastOrjsonTranscoder()
        transcoder.register(UUIDAsHex())
        uuid = uuid4()
        self.assertIn(b"u0", transcoder.encode({"id": uuid}))
        transcoder.register(UUIDAsInt())  # replaces the library's: its plans are dropped
        data = transcoder.encode({"id": uuid})
        self.assertIn(b"w0", data)
        self.assertIn(str(uuid.int).encode(), data)
        self.assertEqual(transcoder.decode(data), {"id": uuid})

    def test_a_transcoding_for_dict_itself_sends_payloads_to_the_json_format(self) -> None:
        class DictAsPairs(Transcoding):
            type = dict
            name = "pairs"

            def encode(self, obj: dict[str, Any]) -> list[list[Any]]:
                return [list(item) for item in obj.items()]

            def decode(self, data: list[list[Any]]) -> dict[str, Any]:
                return dict(data)

        transcoder = _registered(FastOrjsonTranscoder(), DictAsPairs())
        data = transcoder.encode({"a": 1})
        self.assertFalse(data.startswith(MARKER))
        self.assertEqual(transcoder.decode(data), {"a": 1})

    def test_caches_stay_bounded_for_dicts_of_many_shapes(self) -> None:
        kinds = [1, "s", uuid4(), datetime(2020, 1, 1, tzinfo=UTC)]
        for n in range(5000):
            state = {str(i): kinds[(n >> (2 * i)) % 4] for i in range(7)}
            self.assertEqual(self.fast.decode(self.fast.encode(state)), state)
        assert isinstance(self.fast, FastOrjsonTranscoder)
        self.assertLessEqual(len(self.fast._plans), 4096)
        self.assertLessEqual(len(self.fast._fixers), 4096)

    def test_corrupt_payloads_raise_value_errors(self) -> None:
        for data, message in (
            (MARKER + b"d0", "no JSON object"),
            (MARKER + b"x0{}", "bad header"),
            (MARKER + b"d{}", "bad header"),
            (MARKER + b"\xff{}", "bad header"),
            (MARKER + b"d0{}", "missing value"),
            (MARKER + b"d0,u5{}", "missing value"),
            (MARKER + b'u1{"a":1}', "missing value"),
            (MARKER + b"{[1]", ""),
        ):
            with self.subTest(data=data), self.assertRaisesRegex(ValueError, message):
                self.fast.decode(data)
        with self.assertRaisesRegex(ValueError, "no JSON object"):
            self.fast.decode(MARKER + b"d0[1]")
        for bad_uuid in ("f" * 36, "f" * 35, "g" * 8 + str(uuid4())[8:]):
            with self.subTest(uuid=bad_uuid), self.assertRaises(ValueError):
                self.fast.decode(MARKER + b'u0{"id":"' + bad_uuid.encode() + b'"}')


class TestApplications(TestCase):
    """Applications select it by topic; aggregates round-trip on POPO and on immudb."""

    def round_trip(self, env: dict[str, str]) -> None:
        with Application[UUID](env={**env, "TRANSCODER_TOPIC": TOPIC}) as app:
            self.assertIsInstance(app.mapper.transcoder, FastOrjsonTranscoder)
            hall, tower = uuid4(), uuid4()
            when = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
            hero = Character("Aria", hall, Decimal("10.05"))
            hero.move(tower, when, [hall, tower])
            hero.set_attributes({"stats": {"str": 12, "ids": [hall]}, "born": when})
            app.save(hero)
            copy: Character = app.repository.get(hero.id)
            self.assertEqual(copy.room_id, tower)
            self.assertIsInstance(copy.room_id, UUID)
            self.assertEqual(copy.gold, Decimal("10.05"))
            self.assertEqual(copy.seen, [when])
            self.assertEqual(copy.attributes, {"stats": {"str": 12, "ids": [hall]}, "born": when})
            self.assertEqual(copy.modified_on, hero.modified_on)
            stored = app.recorder.select_events(hero.id)
            self.assertEqual(len(stored), 3)
            self.assertTrue(all(s.state.startswith(MARKER) for s in stored))

    def test_on_popo(self) -> None:
        self.round_trip({"PERSISTENCE_MODULE": "eventsourcing.popo"})

    def test_on_immudb(self) -> None:
        self.round_trip(env_for(immudb_harness.fresh_database("ft")))


del TranscoderTestCase  # the base suite itself is not a test
