"""One attempt at executing a command: load, decide, collect, save once.

A :class:`UnitOfWork` loads each aggregate at most once per attempt, remembers
every aggregate the command touched (loaded and changed, or newly created),
and hands them all to a single ``Application.save()``, which is atomic. The
lookup helpers raise the domain's typed errors, so handlers read like rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate

from aethyr_domain.errors import NotFoundError, ObjectDeletedError, WrongKindError
from aethyr_domain.game_object import GameObject
from aethyr_domain.player_name_index import PlayerNameIndex

T = TypeVar("T", bound=GameObject)

#: Longest container chain the cycle and room searches will follow.
MAX_NESTING = 1000


#: Loads one aggregate by id (``None`` if there is none).
Loader = Callable[[str], "BaseAggregate[str] | None"]


def repository_loader(app: Application[str]) -> Loader:
    """A :data:`Loader` reading the application's repository (the event store)."""

    def load(aggregate_id: str) -> BaseAggregate[str] | None:
        try:
            aggregate: BaseAggregate[str] = app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate

    return load


class UnitOfWork:
    """Aggregates loaded or created by one attempt at one command.

    ``source`` is either an application (aggregates come from its repository, as
    :meth:`~aethyr_domain.application.World.handle` does) or a :data:`Loader`
    (the game's in-process :class:`~aethyr_domain.decision.Decider` passes one that
    returns private copies of its cached aggregates).
    """

    def __init__(self, source: Application[str] | Loader) -> None:
        self._load_one = repository_loader(source) if isinstance(source, Application) else source
        self._loaded: dict[str, BaseAggregate[str] | None] = {}
        self._new: list[BaseAggregate[str]] = []

    def _load(self, aggregate_id: str) -> BaseAggregate[str] | None:
        if aggregate_id not in self._loaded:
            self._loaded[aggregate_id] = self._load_one(aggregate_id)
        return self._loaded[aggregate_id]

    def exists(self, object_id: str) -> bool:
        """True if any aggregate (even deleted) has this id."""
        return self._load(object_id) is not None

    def find(self, object_id: str) -> GameObject:
        """The object with this id, deleted or not; :class:`NotFoundError` if none."""
        aggregate = self._load(object_id)
        if not isinstance(aggregate, GameObject):
            raise NotFoundError(object_id)
        return aggregate

    def live(self, object_id: str) -> GameObject:
        """The non-deleted object with this id (any kind)."""
        aggregate = self.find(object_id)
        if aggregate.deleted:
            raise ObjectDeletedError(object_id)
        return aggregate

    def live_as(self, object_id: str, kind: type[T], what: str) -> T:
        """The non-deleted object with this id, which must be a ``kind``."""
        aggregate = self.live(object_id)
        if not isinstance(aggregate, kind):
            raise WrongKindError(object_id, what)
        return aggregate

    def name_index(self, index_id: str) -> PlayerNameIndex | None:
        """The player-name index aggregate with this id, if it exists."""
        aggregate = self._load(index_id)
        assert aggregate is None or isinstance(aggregate, PlayerNameIndex)
        return aggregate

    def add(self, aggregate: BaseAggregate[str]) -> None:
        """Register a newly created aggregate for the save."""
        self._new.append(aggregate)
        self._loaded[aggregate.id] = aggregate

    def changed(self) -> list[BaseAggregate[str]]:
        """Every aggregate with pending events, in a stable order."""
        new_ids = {a.id for a in self._new}
        loaded = [a for a in self._loaded.values() if a is not None and a.id not in new_ids]
        return [a for a in self._new + loaded if a.pending_events]
