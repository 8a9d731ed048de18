"""Deciding a command in process: the one place where the world's rules run.

The game and the event store must never disagree, so there is exactly one rule
set: the command handlers of :mod:`aethyr_domain.handlers`, running on the
world's aggregates. :class:`Decider` keeps every aggregate of the world in memory
and runs a command's handler on private copies of the ones it touches. If the
handler refuses (a typed :mod:`~aethyr_domain.errors` error), nothing changes. If
it accepts, the copies replace the cached aggregates and the new domain events
come back in a :class:`Decision`: the game updates its live state from the changed
aggregates, and (with event sourcing on) the outbox carries exactly these events
to the store. Nothing is decided again on the way to the store.

This is the same code path as :meth:`~aethyr_domain.application.World.handle`
(the same handlers, the same :class:`~aethyr_domain.unit_of_work.UnitOfWork`),
with the cache in place of the repository; it imports the eventsourcing domain
model but touches no store.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import BaseAggregate

from aethyr_domain import passwords
from aethyr_domain.commands import Command, CreatePlayer, UpdatePlayerPassword
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.handlers import HANDLERS
from aethyr_domain.unit_of_work import UnitOfWork

#: Containers an aggregate changes in place (its own top-level attributes only).
_MUTABLE = (list, dict, set)


def private_copy(aggregate: BaseAggregate[str]) -> BaseAggregate[str]:
    """A copy of ``aggregate`` that a handler may change without touching the original.

    The world's aggregates change only their own top-level containers in place (an
    inventory list, the attributes, equipment and exits dicts); every value below
    that level is replaced, never mutated (event values are read-only). So copying
    the instance and each top-level list, dict and set is enough - and about ten
    times faster than ``copy.deepcopy`` for a room holding a few hundred items,
    which matters because the game decides every action this way.
    """
    clone = copy.copy(aggregate)
    state = vars(clone)
    for name, value in state.items():
        if isinstance(value, _MUTABLE):
            state[name] = value.copy()
    return clone


@dataclass(frozen=True)
class Decision:
    """An accepted command and what it changed.

    ``events`` are the new domain events in the order they are to be stored (the
    order :meth:`World.handle <aethyr_domain.application.World.handle>` would save
    them); ``changed`` are the aggregates after the command (the decider's cached
    objects: read them, do not mutate them). A command that changes nothing has no
    events.
    """

    command: Command
    events: tuple[Any, ...]
    changed: tuple[BaseAggregate[str], ...]


class Decider:
    """Every aggregate of the world in memory, and the handlers that change them.

    Not thread-safe: one thread (the game's) decides. ``scrypt_n`` is the cost for
    passwords that arrive in plain text (the game hashes them before, so its
    commands already carry ``password_hash``).
    """

    def __init__(
        self,
        aggregates: Mapping[str, BaseAggregate[str]] | None = None,
        *,
        scrypt_n: int = passwords.SCRYPT_N,
    ) -> None:
        self.aggregates: dict[str, BaseAggregate[str]] = dict(aggregates or {})
        self.scrypt_n = scrypt_n
        #: While a group commit is open (:mod:`aethyr_domain.game.group_commit`): each
        #: aggregate a decision replaced, as it was before the group (``None``: it did
        #: not exist), so a group whose write failed can be undone.
        self.journal: dict[str, BaseAggregate[str] | None] | None = None

    def get(self, aggregate_id: str) -> BaseAggregate[str] | None:
        """The cached aggregate with this id (shared: do not mutate it)."""
        return self.aggregates.get(aggregate_id)

    def _private_copy(self, aggregate_id: str) -> BaseAggregate[str] | None:
        aggregate = self.aggregates.get(aggregate_id)
        return None if aggregate is None else private_copy(aggregate)

    def decide(self, command: Command) -> Decision:
        """Run ``command``'s handler; on success keep its changes and return them.

        Raises a :class:`~aethyr_domain.errors.DomainError` subclass if a rule
        refuses the command; the cache is then unchanged.
        """
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise InvalidCommandError("command", f"unknown command type {type(command).__name__}")
        uow = UnitOfWork(self._private_copy)
        handler(uow, command, self._prepare(command))
        changed = uow.changed()
        events: list[Any] = []
        for aggregate in changed:
            events.extend(aggregate.collect_events())
        journal = self.journal
        for aggregate in changed:
            if journal is not None and aggregate.id not in journal:
                journal[aggregate.id] = self.aggregates.get(aggregate.id)
            self.aggregates[aggregate.id] = aggregate
        return Decision(command, tuple(events), tuple(changed))

    def _prepare(self, command: Command) -> str | None:
        """The password hash a password command stores (made here if not given)."""
        if isinstance(command, (CreatePlayer, UpdatePlayerPassword)):
            if command.password_hash is not None:
                return command.password_hash
            return passwords.hash_password(command.password, n=self.scrypt_n)
        return None
