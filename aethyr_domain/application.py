"""``World``: the Aethyr world as an event-sourced application.

``World`` is an ``eventsourcing`` :class:`~eventsourcing.application.Application`
with string ids. It works with any persistence module (the in-memory POPO one
by default; ``PERSISTENCE_MODULE=eventsourcing.sqlite`` with
``ORIGINATOR_ID_TYPE=text``; ``aethyr_immudb_recorder``)::

    world = World()
    world.handle(CreateRoom("start-room", "The Square", "A quiet square."))
    world.handle(CreatePlayer("p-1", "Bob", "correct horse", actor="system"))
    world.handle(UpdateGameObjectContainer("p-1", "start-room", actor="p-1"))
    world.get("p-1").container_id   # -> "start-room"

:meth:`World.handle` runs a command's handler (:mod:`aethyr_domain.handlers`)
and saves every aggregate it touched in ONE ``save()``, so a multi-aggregate
change is atomic. If another writer changed one of those aggregates in the
meantime (the recorder raises ``IntegrityError``), the handler is run again
from fresh copies, up to :attr:`World.MAX_ATTEMPTS` times, and then
:class:`~aethyr_domain.errors.ConcurrencyConflictError` is raised.

Configuration (constructor ``env`` or environment; ``WORLD_`` prefixed keys win):

* ``SNAPSHOT_THRESHOLD`` (default 100, the original's ``snapshot_threshold``):
  take a snapshot of an aggregate every N events; ``0`` disables snapshots.
  The constructor argument ``snapshot_threshold`` overrides it.
* ``SCRYPT_N`` (default 16384): scrypt cost for new password hashes. Lower it
  only in tests (minimum 1024); stored hashes carry their own parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper, Recording
from eventsourcing.utils import EnvType

from aethyr_domain import passwords
from aethyr_domain.commands import Command, CreatePlayer, UpdatePlayerPassword
from aethyr_domain.errors import (
    ConcurrencyConflictError,
    InvalidCommandError,
    NotFoundError,
    ObjectDeletedError,
)
from aethyr_domain.event_mapper import CheckedMapper
from aethyr_domain.game_object import GameObject
from aethyr_domain.handlers import HANDLERS
from aethyr_domain.in_memory_listeners import guard_listeners
from aethyr_domain.player import Player
from aethyr_domain.player_name_index import PlayerNameIndex, name_index_id
from aethyr_domain.room import Room
from aethyr_domain.unit_of_work import UnitOfWork
from aethyr_domain.validation import SYSTEM_ACTOR

#: Aggregate classes of the world (all are snapshotted at the same interval).
AGGREGATE_TYPES: tuple[type[BaseAggregate[str]], ...] = (
    GameObject,
    Player,
    Room,
    PlayerNameIndex,
)

DEFAULT_SNAPSHOT_THRESHOLD = 100


class World(Application[str]):
    """The Aethyr world: handles commands, stores events, answers lookups."""

    name = "World"
    SNAPSHOT_THRESHOLD = "SNAPSHOT_THRESHOLD"
    SCRYPT_N = "SCRYPT_N"
    MAX_ATTEMPTS = 3
    # Enables the snapshot store; the real interval is set per instance below.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = dict.fromkeys(
        AGGREGATE_TYPES, DEFAULT_SNAPSHOT_THRESHOLD
    )

    def __init__(self, env: EnvType | None = None, *, snapshot_threshold: int | None = None):
        super().__init__(env)
        if snapshot_threshold is None:
            snapshot_threshold = self._int_setting(
                self.SNAPSHOT_THRESHOLD, DEFAULT_SNAPSHOT_THRESHOLD, minimum=0
            )
        elif isinstance(snapshot_threshold, bool) or snapshot_threshold < 0:
            raise InvalidCommandError("snapshot_threshold", "must be an integer >= 0")
        self.snapshot_threshold = snapshot_threshold
        intervals = dict.fromkeys(AGGREGATE_TYPES, snapshot_threshold) if snapshot_threshold else {}
        # Instance attribute shadows the class default used by _take_snapshots().
        self.__dict__["snapshotting_intervals"] = intervals
        self.scrypt_n = self._int_setting(self.SCRYPT_N, passwords.SCRYPT_N, minimum=1024)
        if self.scrypt_n & (self.scrypt_n - 1):
            raise InvalidCommandError(self.SCRYPT_N, "must be a power of two")

    def _int_setting(self, key: str, default: int, *, minimum: int) -> int:
        raw = self.env.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidCommandError(key, "must be an integer") from None
        if value < minimum:
            raise InvalidCommandError(key, f"must be at least {minimum}")
        return value

    def construct_recorder(self) -> ApplicationRecorder:
        """The factory's *process* recorder: an application recorder that also keeps
        tracking records, so the game's delivery appends a batch of events and the
        writer lease's tracking record together (:mod:`aethyr_domain.outbox.writer_lease`).
        The in-memory one gets a listener set that subscribers may join and leave during
        an insert (:mod:`aethyr_domain.in_memory_listeners`)."""
        return guard_listeners(self.factory.process_recorder())

    def construct_mapper(self) -> Mapper[str]:
        """The mapper whose decoding failures name the aggregate id and version."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=CheckedMapper
        )

    # ---------------------------------------------------------------- commands

    def handle(self, command: Command) -> list[Recording[str]]:
        """Execute ``command`` atomically and return the recordings it produced.

        Each :class:`~eventsourcing.persistence.Recording` pairs a domain event
        with its stored notification (``recording.notification.id`` is the
        position in the application's log). A command that changes nothing
        (e.g. moving an object to where it already is) returns ``[]``.

        Raises a subclass of :class:`~aethyr_domain.errors.DomainError` if the
        command is refused; nothing is written in that case.
        """
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise InvalidCommandError("command", f"unknown command type {type(command).__name__}")
        prepared = self._prepare(command)
        for _attempt in range(self.MAX_ATTEMPTS):
            uow = UnitOfWork(self)
            handler(uow, command, prepared)
            try:
                return self.save(*uow.changed())
            except IntegrityError:
                continue  # someone else wrote first: reload and decide again
        raise ConcurrencyConflictError(
            f"{type(command).__name__} gave up after {self.MAX_ATTEMPTS} attempts: "
            "the objects kept changing. Please try again."
        )

    def _prepare(self, command: Command) -> str | None:
        """Work done once per command, outside the retry loop (password hashing)."""
        if isinstance(command, (CreatePlayer, UpdatePlayerPassword)):
            if command.password_hash is not None:
                return command.password_hash  # hashed by the caller (the game's outbox path)
            return passwords.hash_password(command.password, n=self.scrypt_n)
        return None

    # ---------------------------------------------------------------- queries

    def get(self, object_id: str) -> GameObject:
        """The object (GameObject, Player or Room) with this id, even if deleted.

        Raises :class:`~aethyr_domain.errors.NotFoundError` if there is none.
        """
        try:
            aggregate: BaseAggregate[str] = self.repository.get(object_id)
        except AggregateNotFoundError:
            raise NotFoundError(object_id) from None
        if not isinstance(aggregate, GameObject):
            raise NotFoundError(object_id)
        return aggregate

    def find_player_id(self, name: str) -> str | None:
        """The id of the (non-deleted) player called ``name`` (any case), if any."""
        try:
            index: BaseAggregate[str] = self.repository.get(name_index_id(name))
        except AggregateNotFoundError:
            return None
        assert isinstance(index, PlayerNameIndex)
        return index.player_id

    def check_password(self, player_id: str, password: str) -> bool:
        """True if ``password`` is the player's password.

        On success, a legacy MD5 hash (or a scrypt hash weaker than the current
        policy) is replaced by a fresh salted scrypt hash, recorded as a
        ``PlayerPasswordUpdated`` event with actor ``"system"``. A deleted
        player never matches.
        """
        player = self.get(player_id)
        if not isinstance(player, Player):
            raise NotFoundError(player_id, "player")
        if player.deleted:
            raise ObjectDeletedError(player_id)
        if not isinstance(password, str) or not passwords.verify_password(
            password, player.password_hash
        ):
            return False
        if passwords.needs_upgrade(player.password_hash, n=self.scrypt_n):
            upgrade = UpdatePlayerPassword(player_id, password, actor=SYSTEM_ACTOR)
            self.handle(upgrade)
        return True
