"""The DCB recorder on a real immudb: the library's suite, races, processes, the tag index.

Every test gets a new table (most in the module's one database), so positions start at 1.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any
from uuid import uuid4

import grpc
import pytest
from eventsourcing.dcb.api import DCBAppendCondition, DCBEvent, DCBQuery, DCBQueryItem
from eventsourcing.dcb.tests import DCBRecorderTestCase
from eventsourcing.persistence import DataError, IntegrityError, ProgrammingError
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.dcb import ImmudbDCBRecorder
from aethyr_immudb_recorder.errors import BatchTooLargeError
from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.settings import ImmudbSettings
from tests import immudb_harness
from tests.recorder.support import SharedDatastoreCase, env_for

pytestmark = [pytest.mark.immudb]


def _event(type_: str = "t", *tags: str, data: bytes = b"{}") -> DCBEvent:
    return DCBEvent(type=type_, data=data, tags=list(tags))


@pytest.fixture(scope="module")
def database() -> str:
    """One database for the module's pytest tests; each writes a table of its own
    (:func:`_table`). Each test's datastores then take over the sessions the previous
    test's left (a login costs immudb a bcrypt check, about 66 ms of its CPU)."""
    return immudb_harness.fresh_database("d")


def _table() -> str:
    """A new DCB table name: its positions start at 1."""
    return f"dcb_events_{uuid4().hex[:12]}"


def _settings(database: str, **extra: str) -> ImmudbSettings:
    return ImmudbSettings.from_env(Environment(env=env_for(database, **extra)))


class TestImmudbDCBRecorder(SharedDatastoreCase, DCBRecorderTestCase):
    """One datastore for the class, a table of its own for each test (positions from 1)."""

    def setUp(self) -> None:
        super().setUp()
        self.table = f"dcb_{self.events_table}"
        self.recorder = ImmudbDCBRecorder(datastore=self.datastore, events_table_name=self.table)
        self.recorder.create_table()

    def test_append_read(self) -> None:
        self._test_append_read(self.recorder)

    def test_append_subscribe(self) -> None:
        self._test_append_subscribe(self.recorder)

    def test_subscription_pages_and_query(self) -> None:
        start = self.recorder.append([_event("a", "x")])
        with self.recorder.subscribe(DCBQuery([DCBQueryItem(tags=["y"])]), after=start) as sub:
            sub.select_limit = 3
            for i in range(10):
                self.recorder.append([_event("a", "y" if i % 2 else "x")])
            positions = [next(sub).position for _ in range(5)]
        assert positions == [3, 5, 7, 9, 11]

    def test_subscription_sees_another_datastore(self) -> None:
        """Appends through another connection (as from another process) wake it by polling."""
        other = ImmudbDatastore(self.datastore.settings)
        writer = ImmudbDCBRecorder(datastore=other, events_table_name=self.table)
        try:
            with self.recorder.subscribe() as sub:
                writer.append([_event("a", "x")])
                assert next(sub).position == 1
        finally:
            other.close()

    def test_bad_input_is_refused_and_writes_nothing(self) -> None:
        with pytest.raises(ProgrammingError):
            self.recorder.append([])
        with pytest.raises(DataError, match=r"events\[0\].data"):
            self.recorder.append([DCBEvent(type="t", data="text", tags=[])])  # type: ignore[arg-type]
        with pytest.raises(DataError, match=r"events\[1\].tags\[0\]"):
            self.recorder.append([_event("t"), DCBEvent(type="t", data=b"", tags=[1])])  # type: ignore[list-item]
        with pytest.raises(DataError, match="longer than"):
            self.recorder.append([_event("t", "x" * 600)])
        with pytest.raises(DataError, match=r"condition\.after"):
            self.recorder.append([_event("t")], DCBAppendCondition(after=-1))
        with pytest.raises(DataError, match="query must be"):
            self.recorder.read("tag")  # type: ignore[arg-type]
        many = [_event(f"type{i}") for i in range(self.datastore.max_tx_entries)]
        with pytest.raises(BatchTooLargeError):
            self.recorder.append(many)
        assert list(self.recorder.read()) == []
        assert self.recorder.read().head is None

    def test_read_by_tag_scans_only_that_tag(self) -> None:
        for _ in range(200):
            self.recorder.append([_event("Moved", "player-1")])
        self.recorder.append([_event("Named", "player-2")])
        self.recorder.append([_event("Moved", "player-1", "player-2")])

        before = self.recorder.entries_scanned
        found = list(self.recorder.read(DCBQuery([DCBQueryItem(tags=["player-2"])])))
        assert [e.position for e in found] == [201, 202]
        assert self.recorder.entries_scanned - before == 2  # two blobs, not 202 events

        before = self.recorder.entries_scanned
        found = list(self.recorder.read(DCBQuery([DCBQueryItem(types=["Named"])])))
        assert [e.position for e in found] == [201]
        assert self.recorder.entries_scanned - before == 1

        before = self.recorder.entries_scanned
        assert len(list(self.recorder.read())) == 202
        assert self.recorder.entries_scanned - before == 202  # the log: one blob per append

    def test_condition_that_held_when_read_is_one_round_trip(self) -> None:
        head = self.recorder.append([_event("a", "x")])
        requests = self.recorder.requests
        self.recorder.append([_event("a", "x")], DCBAppendCondition(DCBQuery(), after=head))
        assert self.recorder.requests - requests == 1

    def test_stale_counter_is_retried_not_refused(self) -> None:
        """Another writer moved the counter: the append re-checks its condition and wins."""
        other = ImmudbDatastore(self.datastore.settings)
        try:
            other_recorder = ImmudbDCBRecorder(datastore=other, events_table_name=self.table)
            self.recorder.append([_event("a", "x")])  # caches the counter
            other_recorder.append([_event("a", "unrelated")])
            condition = DCBAppendCondition(DCBQuery([DCBQueryItem(tags=["x"])]), after=1)
            assert self.recorder.append([_event("a", "x")], condition) == 3
            with pytest.raises(IntegrityError):
                other_recorder.append([_event("a", "x")], condition)
        finally:
            other.close()

    def test_conditions_within_one_group(self) -> None:
        """Appends combined into one request are checked against each other."""
        barrier = threading.Barrier(8)
        results: list[int | BaseException] = []
        lock = threading.Lock()

        def append(i: int) -> None:
            barrier.wait()
            condition = DCBAppendCondition(DCBQuery([DCBQueryItem(tags=["seat"])]), after=0)
            try:
                result: int | BaseException = self.recorder.append(
                    [_event("Booked", "seat", f"guest-{i}")], condition
                )
            except IntegrityError as exc:
                result = exc
            with lock:
                results.append(result)

        threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins = [r for r in results if isinstance(r, int)]
        assert len(wins) == 1, results
        assert all(isinstance(r, IntegrityError) for r in results if not isinstance(r, int))
        assert [e.position for e in self.recorder.read()] == [1]


class TestRaces:
    """Many writers, each with its own connection (as separate processes have)."""

    WRITERS = 6

    def _recorders(self, database: str) -> list[ImmudbDCBRecorder]:
        settings, table = _settings(database), _table()
        return [
            ImmudbDCBRecorder(datastore=ImmudbDatastore(settings), events_table_name=table)
            for _ in range(self.WRITERS)
        ]

    def test_exactly_one_of_n_racing_writers_wins(self, database: str) -> None:
        recorders = self._recorders(database)
        try:
            recorders[0].append([_event("Opened", "room-1")])
            for round_ in range(5):
                head = recorders[0].read().head
                outcomes = _race(
                    recorders,
                    lambda r, i, head=head, round_=round_: r.append(
                        [_event("Claimed", "room-1", f"writer-{i}-{round_}")],
                        DCBAppendCondition(DCBQuery([DCBQueryItem(tags=["room-1"])]), after=head),
                    ),
                )
                wins = [o for o in outcomes if isinstance(o, int)]
                assert len(wins) == 1, outcomes
                assert all(isinstance(o, IntegrityError) for o in outcomes if o not in wins)
            positions = [e.position for e in recorders[0].read()]
            assert positions == list(range(1, 7))
        finally:
            for r in recorders:
                r.datastore.close()

    def test_conditions_that_match_nothing_all_succeed(self, database: str) -> None:
        recorders = self._recorders(database)
        try:
            for round_ in range(5):
                outcomes = _race(
                    recorders,
                    lambda r, i, round_=round_: r.append(
                        [_event("Claimed", f"room-{i}-{round_}")],
                        DCBAppendCondition(
                            DCBQuery([DCBQueryItem(tags=[f"room-{i}-{round_}"])]), after=0
                        ),
                    ),
                )
                assert all(isinstance(o, int) for o in outcomes), outcomes
            positions = [e.position for e in recorders[0].read()]
            assert positions == list(range(1, 5 * self.WRITERS + 1))
        finally:
            for r in recorders:
                r.datastore.close()

    def test_appends_are_contiguous(self, database: str) -> None:
        """Each append's events get consecutive positions (commit order = insert order)."""
        recorders = self._recorders(database)
        try:
            _race(recorders, lambda r, i: r.append([_event("e", f"w{i}")] * 50))
            events = list(recorders[0].read())
            assert [e.position for e in events] == list(range(1, 50 * self.WRITERS + 1))
            for start in range(0, len(events), 50):
                assert len({tuple(e.event.tags) for e in events[start : start + 50]}) == 1
        finally:
            for r in recorders:
                r.datastore.close()


def _race(recorders: list[ImmudbDCBRecorder], append: Any) -> list[int | BaseException]:
    barrier = threading.Barrier(len(recorders))
    outcomes: list[int | BaseException] = [0] * len(recorders)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = append(recorders[i], i)
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(recorders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _claimer(env: dict[str, str], barrier: Any, results: Any, name: str, rounds: int) -> None:
    """Child process: each round, claim the round's seat if nobody has (one append)."""
    factory = ImmudbFactory(env)
    recorder = factory.dcb_recorder()
    won = []
    barrier.wait()
    for round_ in range(rounds):
        seat = f"seat-{round_}"
        query = DCBQuery([DCBQueryItem(types=["SeatClaimed"], tags=[seat])])
        read = recorder.read(query)
        if list(read):
            continue
        try:
            recorder.append(
                [_event("SeatClaimed", seat, name)], DCBAppendCondition(query, after=read.head)
            )
        except IntegrityError:
            continue
        won.append(seat)
    factory.close()
    results.put((name, won))


def test_processes_racing_on_a_condition_exactly_one_wins() -> None:
    processes, rounds = 4, 15
    env = env_for(immudb_harness.fresh_database("dp"))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_claimer, args=(env, barrier, results, f"p{i}", rounds))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    outcomes = dict(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    won = sorted(seat for seats in outcomes.values() for seat in seats)
    assert won == sorted(f"seat-{r}" for r in range(rounds))  # each seat exactly once
    factory = ImmudbFactory(env)
    try:
        events = list(factory.dcb_recorder().read())
        assert [e.position for e in events] == list(range(1, rounds + 1))
        assert sorted(e.event.tags[0] for e in events) == won
    finally:
        factory.close()


def test_factory_gives_the_dcb_recorder(immudb_database: str) -> None:
    factory = ImmudbFactory(Environment("Game", env_for(immudb_database)))
    try:
        recorder = factory.dcb_recorder()
        assert isinstance(recorder, ImmudbDCBRecorder)
        assert recorder.events_table_name == "game_dcb_events"
        recorder.append([_event("t", str(uuid4()))])
        assert recorder.read().head == 1
        # Beside the aggregate tables of an application with the same name.
        assert factory.application_recorder().max_notification_id() is None
    finally:
        factory.close()


class TestTagGuards:
    """Conditions checked by immudb inside the write (``{t}:l <tag>`` preconditions)."""

    def test_guarded_conditions_are_one_request(self, database: str) -> None:
        datastore = ImmudbDatastore(_settings(database))
        recorder = ImmudbDCBRecorder(datastore=datastore, events_table_name=_table())
        try:
            recorder.append([_event("a", "x")])
            head = recorder.read().head  # remembers the head's transaction
            recorder.append([_event("a", "unrelated")])
            scanned, requests = recorder.entries_scanned, recorder.requests
            x = DCBQuery([DCBQueryItem(tags=["x"])])
            fresh = DCBQuery([DCBQueryItem(tags=["fresh"])])
            # After 0 on a tag nobody used (KeyMustNotExist) and after the read's
            # head on a tag only used before it (KeyNotModifiedAfterTX): no reads.
            assert recorder.append([_event("a", "fresh")], DCBAppendCondition(fresh, after=0)) == 3
            assert recorder.append([_event("a", "x")], DCBAppendCondition(x, after=head)) == 4
            # After the head on a tag never used (an absent key is not modified).
            new = DCBQuery([DCBQueryItem(tags=["new"])])
            assert recorder.append([_event("a", "new")], DCBAppendCondition(new, after=head)) == 5
            assert recorder.requests - requests == 3
            assert recorder.entries_scanned == scanned
        finally:
            datastore.close()

    def test_a_failed_guard_reads_and_decides_exactly(self, database: str) -> None:
        datastore = ImmudbDatastore(_settings(database))
        recorder = ImmudbDCBRecorder(datastore=datastore, events_table_name=_table())
        try:
            recorder.append([_event("Opened", "door")])
            recorder.append([_event("Other", "x")])
            # The guard on "door" fails (tag used after 0); the read finds the event.
            door = DCBQuery([DCBQueryItem(tags=["door"])])
            with pytest.raises(IntegrityError):
                recorder.append([_event("a", "door")], DCBAppendCondition(door, after=0))
            # Guarded conservatively (first tag "door"), but the read finds no
            # event of type "Closed": the append succeeds.
            closed = DCBQuery([DCBQueryItem(types=["Closed"], tags=["door"])])
            position = recorder.append([_event("Closed", "door")], DCBAppendCondition(closed, 0))
            assert position == 3
            with pytest.raises(IntegrityError):
                recorder.append([_event("Closed", "door")], DCBAppendCondition(closed, 0))
            assert [e.position for e in recorder.read()] == [1, 2, 3]
        finally:
            datastore.close()


class _LostReply(grpc.RpcError):
    """What a dropped connection looks like to the client after the server committed."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection reset (the reply was lost)"


class _LosesFirstReply(ImmudbDatastore):
    """A real datastore whose first ``Set`` commits on the server but whose reply is lost."""

    lost = False

    def kv_set(self, session: Any, request: Any) -> int:
        tx = super().kv_set(session, request)
        if not self.lost:
            self.lost = True
            raise _LostReply
        return tx


def test_an_append_whose_reply_was_lost_is_reported_once(database: str) -> None:
    datastore = _LosesFirstReply(_settings(database, IMMUDB_RETRY_DELAY="0"))
    try:
        recorder = ImmudbDCBRecorder(datastore=datastore, events_table_name=_table())
        position = recorder.append([_event("Claimed", "seat-1")])
        assert datastore.lost
        assert position == 1
        assert [e.position for e in recorder.read()] == [1]  # written once, not twice
        assert recorder.append([_event("Claimed", "seat-2")]) == 2
    finally:
        datastore.close()


def test_read_then_append_after_its_head_is_one_request(database: str) -> None:
    """A read refreshes the cached counter, even after another writer appended."""
    datastore = ImmudbDatastore(_settings(database))
    other = ImmudbDatastore(datastore.settings)
    table = _table()
    try:
        recorder = ImmudbDCBRecorder(datastore=datastore, events_table_name=table)
        recorder.append([_event("a", "x")])
        ImmudbDCBRecorder(datastore=other, events_table_name=table).append([_event("a", "y")])
        query = DCBQuery([DCBQueryItem(tags=["x"])])
        read = recorder.read(query)
        requests = recorder.requests
        assert recorder.append([_event("a", "x")], DCBAppendCondition(query, read.head)) == 3
        assert recorder.requests - requests == 1
    finally:
        other.close()
        datastore.close()


def test_subscription_merging_two_indexes_misses_nothing_under_concurrent_writers(
    database: str,
) -> None:
    """Reads that merge indexes are capped at the head, so concurrent commits are not skipped."""
    settings, table = _settings(database), _table()
    reader = ImmudbDCBRecorder(datastore=ImmudbDatastore(settings), events_table_name=table)
    writers = [
        ImmudbDCBRecorder(datastore=ImmudbDatastore(settings), events_table_name=table)
        for _ in range(3)
    ]
    query = DCBQuery([DCBQueryItem(tags=["a"]), DCBQueryItem(tags=["b"])])
    per_writer = 30
    try:
        with reader.subscribe(query) as subscription:
            subscription.select_limit = 7

            def write(recorder: ImmudbDCBRecorder, i: int) -> int:
                for n in range(per_writer):
                    recorder.append([_event("e", "a" if (n + i) % 2 else "b", f"w{i}")])
                return 0

            _race(writers, write)
            received = [next(subscription).position for _ in range(per_writer * len(writers))]
        assert received == list(range(1, per_writer * len(writers) + 1))
    finally:
        for r in [reader, *writers]:
            r.datastore.close()
