"""The orjson transcoder: the library's TranscoderTestCase, parity with JSONTranscoder, apps."""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import TestCase
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from eventsourcing.tests.persistence import (
    CustomType1AsDict,
    CustomType2AsDict,
    Mydict,
    MyInt,
    MyList,
    MyStr,
    TranscoderTestCase,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from aethyr_immudb_recorder.transcoder import OrjsonTranscoder
from tests.hypothesis_profiles import examples

TOPIC = "aethyr_immudb_recorder.transcoder:OrjsonTranscoder"


class TupleAsList(Transcoding):
    type = tuple
    name = "tuple_as_list"

    def encode(self, obj: tuple[Any, ...]) -> list[Any]:
        return list(obj)

    def decode(self, data: list[Any]) -> tuple[Any, ...]:
        return tuple(data)


class MydictAsDict(Transcoding):
    type = Mydict
    name = "mydict"

    def encode(self, obj: Mydict[Any, Any]) -> dict[Any, Any]:
        return dict(obj)

    def decode(self, data: dict[Any, Any]) -> Mydict[Any, Any]:
        return Mydict(data)


class MyListAsList(Transcoding):
    type = MyList
    name = "mylist"

    def encode(self, obj: MyList[Any]) -> list[Any]:
        return list(obj)

    def decode(self, data: list[Any]) -> MyList[Any]:
        return MyList(data)


class MyStrAsStr(Transcoding):
    type = MyStr
    name = "mystr"

    def encode(self, obj: MyStr) -> str:
        return str(obj)

    def decode(self, data: str) -> MyStr:
        return MyStr(data)


class MyIntAsInt(Transcoding):
    type = MyInt
    name = "myint"

    def encode(self, obj: MyInt) -> int:
        return int(obj)

    def decode(self, data: int) -> MyInt:
        return MyInt(data)


def full_transcoder(cls: type[JSONTranscoder] = OrjsonTranscoder) -> JSONTranscoder:
    """A transcoder with the transcodings the library suite expects registered."""
    transcoder = cls()
    for transcoding in (
        UUIDAsHex(),
        DecimalAsStr(),
        DatetimeAsISO(),
        TupleAsList(),
        MydictAsDict(),
        MyListAsList(),
        MyStrAsStr(),
        MyIntAsInt(),
        CustomType1AsDict(),
        CustomType2AsDict(),
    ):
        transcoder.register(transcoding)
    return transcoder


class TestOrjsonTranscoder(TranscoderTestCase):
    """All 14 tests of the library's suite (JSONTranscoder itself fails 6 of them)."""

    def construct_transcoder(self) -> Transcoder:
        return full_transcoder()


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


class Shade(enum.StrEnum):
    DARK = "dark"


class ColourAsName(Transcoding):
    type = Colour
    name = "colour"

    def encode(self, obj: Colour) -> str:
        return obj.name

    def decode(self, data: str) -> Colour:
        return Colour[data]


@dataclass
class Point:
    x: int


class TestParityWithJSONTranscoder(TestCase):
    """Every value reads back exactly as JSONTranscoder reads it, and the bytes interoperate."""

    def setUp(self) -> None:
        self.fast = OrjsonTranscoder()
        self.slow = JSONTranscoder()
        for t in (self.fast, self.slow):
            for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), ColourAsName()):
                t.register(transcoding)

    def assert_same(self, obj: Any) -> Any:
        fast_bytes = self.fast.encode(obj)
        slow_bytes = self.slow.encode(obj)
        expected = self.slow.decode(slow_bytes)
        for decoded in (
            self.fast.decode(fast_bytes),
            self.fast.decode(slow_bytes),
            self.slow.decode(fast_bytes),
        ):
            self.assertEqual(repr(decoded), repr(expected))
        return expected

    def test_game_event_state(self) -> None:
        state = {
            "timestamp": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "originator_topic": "aethyr_domain.room:Room",
            "name": "The Great Hall ✨",
            "description": "A vaulted hall; torches flicker.\n",
            "area_id": uuid4(),
            "exits": {"north": uuid4(), "south": None},
            "attributes": {"light": 3, "weight": Decimal("12.50"), "tags": ["indoor", "lit"]},
            "position": (1, 2, 3),
            "inventory": [uuid4(), uuid4()],
            "ratio": 0.25,
        }
        decoded = self.assert_same(state)
        self.assertIsInstance(decoded["area_id"], UUID)
        self.assertIsInstance(decoded["timestamp"], datetime)
        self.assertEqual(decoded["position"], [1, 2, 3])  # tuples as lists, as json does

    def test_bytes_equal_to_json_transcoder_without_floats(self) -> None:
        obj = {"a": [uuid4(), {"d": datetime(2020, 1, 1)}], "é": Decimal("1.1"), "t": (1,)}
        self.assertEqual(self.fast.encode(obj), self.slow.encode(obj))

    @settings(max_examples=examples(300), deadline=None)
    @given(
        st.datetimes(
            timezones=st.sampled_from(
                [
                    None,
                    UTC,
                    timezone(timedelta(hours=5, minutes=30)),
                    timezone(-timedelta(seconds=7)),
                ]
            )
        )
    )
    def test_datetimes_are_written_byte_for_byte_as_json_transcoder_writes_them(
        self, when: datetime
    ) -> None:
        self.assertEqual(self.fast.encode({"at": when}), self.slow.encode({"at": when}))
        self.assertEqual(self.fast.decode(self.fast.encode([when]))[0], when)

    def test_subclasses_without_transcoding_become_their_base_values(self) -> None:
        obj = [MyStr("s"), MyInt(2), Mydict({"k": uuid4()}), MyList([1]), Level.LOW, Shade.DARK]
        self.assertEqual(self.assert_same(obj)[0], "s")
        self.assertEqual(self.fast.encode(3.5), self.slow.encode(3.5))

        class MyFloat(float):
            pass

        self.assert_same([MyFloat(1.5)])

    def test_registered_enum_uses_its_transcoding(self) -> None:
        self.assertIs(self.assert_same({"c": Colour.RED})["c"], Colour.RED)

    def test_values_orjson_cannot_write_exactly_fall_back(self) -> None:
        self.assert_same({"big": 2**70, "neg": -(2**70)})
        self.assert_same({1: "int key", None: "none key"})
        nan = self.fast.decode(self.fast.encode({"x": float("nan"), "y": [float("inf")]}))
        self.assertTrue(math.isnan(nan["x"]))
        self.assertEqual(nan["y"], [math.inf])

    def test_stored_values_orjson_cannot_read_exactly_fall_back(self) -> None:
        self.assertEqual(
            self.fast.decode(b"123456789012345678901234567890"), 123456789012345678901234567890
        )
        self.assertEqual(
            self.fast.decode(b'{"d":{"_type_":"decimal_str","_data_":"1"},"n":[1e400]}')["n"],
            [math.inf],
        )
        self.assertEqual(
            self.fast.decode(
                b'[{"_type_":"decimal_str","_data_":"1"},123456789012345678901234567890]'
            )[1],
            123456789012345678901234567890,
        )
        self.assertEqual(self.fast.decode(b"NaN") != self.fast.decode(b"NaN"), True)

    def test_unregistered_types_raise_the_same_error(self) -> None:
        for obj in (Point(1), {"d": date(2020, 1, 1)}, [object()]):
            with self.assertRaises(TranscodingNotRegisteredError) as fast_error:
                self.fast.encode(obj)
            with self.assertRaises(TranscodingNotRegisteredError) as slow_error:
                self.slow.encode(obj)
            self.assertEqual(str(fast_error.exception), str(slow_error.exception))
        with self.assertRaises(TranscodingNotRegisteredError):
            self.fast.decode(b'{"a":[{"_type_":"nope","_data_":1}]}')

    def test_errors_in_a_transcoding_propagate(self) -> None:
        class Broken(Transcoding):
            type = Point
            name = "point"

            def encode(self, obj: Point) -> Any:
                raise ValueError("broken transcoding")

            def decode(self, data: Any) -> Point:
                raise AssertionError

        self.fast.register(Broken())
        with self.assertRaisesRegex(ValueError, "broken transcoding"):
            self.fast.encode({"p": Point(1)})

    def test_invalid_input_raises_like_json_transcoder(self) -> None:
        with self.assertRaises(ValueError):
            self.fast.decode(b"{not json")
        with self.assertRaises(UnicodeEncodeError):
            self.fast.encode("\ud800")
        circular: list[Any] = []
        circular.append(circular)
        with self.assertRaises(ValueError):
            self.fast.encode(circular)

    @settings(max_examples=examples(200), deadline=None)
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text()
            | st.uuids()
            | st.datetimes()
            | st.decimals(allow_nan=False, allow_infinity=False),
            lambda children: (
                st.lists(children)
                | st.tuples(children, children)
                | st.dictionaries(st.text(), children)
            ),
            max_leaves=20,
        )
    )
    def test_any_value_reads_back_as_json_transcoder_reads_it(self, obj: Any) -> None:
        self.assert_same(obj)


class Character(Aggregate):
    """A small aggregate whose events carry UUID, datetime, Decimal and nested fields."""

    @event("Created")
    def __init__(self, name: str, room_id: UUID, gold: Decimal) -> None:
        self.name = name
        self.room_id = room_id
        self.gold = gold
        self.attributes: dict[str, Any] = {}
        self.seen: list[datetime] = []

    @event("Moved")
    def move(self, room_id: UUID, at: datetime, path: list[UUID]) -> None:
        self.room_id = room_id
        self.seen.append(at)

    @event("AttributesSet")
    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)


class TestApplicationRoundTrip(TestCase):
    """An Application on POPO selects the transcoder by topic; aggregates come back intact."""

    def test_aggregates_round_trip_through_an_application(self) -> None:
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo", "TRANSCODER_TOPIC": TOPIC}
        with Application[UUID](env=env) as app:
            self.assertIsInstance(app.factory.transcoder(), OrjsonTranscoder)
            self.assertIsInstance(app.mapper.transcoder, OrjsonTranscoder)
            hall, tower = uuid4(), uuid4()
            when = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
            hero = Character("Aria", hall, Decimal("10.05"))
            hero.move(tower, when, [hall, tower])
            hero.set_attributes(
                {"stats": {"str": 12, "ids": [hall]}, "born": when, "purse": Decimal("1")}
            )
            app.save(hero)

            copy: Character = app.repository.get(hero.id)
            self.assertEqual(copy.name, "Aria")
            self.assertEqual(copy.room_id, tower)
            self.assertIsInstance(copy.room_id, UUID)
            self.assertEqual(copy.gold, Decimal("10.05"))
            self.assertEqual(copy.seen, [when])
            self.assertEqual(copy.attributes["stats"]["ids"], [hall])
            self.assertEqual(copy.attributes["born"], when)
            self.assertEqual(copy.created_on, hero.created_on)
            self.assertEqual(copy.modified_on, hero.modified_on)
            self.assertIsInstance(copy.modified_on, datetime)
            self.assertEqual(copy.version, 3)

            # The stored bytes are what JSONTranscoder would read too.
            slow = JSONTranscoder()
            for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
                slow.register(transcoding)
            for stored in app.recorder.select_events(hero.id):
                fast_state = app.mapper.transcoder.decode(stored.state)
                self.assertEqual(slow.decode(stored.state), fast_state)

    def test_selected_from_the_process_environment(self) -> None:
        saved = os.environ.get("TRANSCODER_TOPIC")
        os.environ["TRANSCODER_TOPIC"] = TOPIC
        try:
            with Application[UUID]() as app:
                self.assertIsInstance(app.mapper.transcoder, OrjsonTranscoder)
        finally:
            if saved is None:
                del os.environ["TRANSCODER_TOPIC"]
            else:
                os.environ["TRANSCODER_TOPIC"] = saved


del TranscoderTestCase
