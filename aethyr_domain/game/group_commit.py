"""Group commit: the actions decided during one flush are written together by the next.

Every action a player is told about must be on disk first: in the durable outbox
with event sourcing on (:mod:`aethyr_domain.outbox`), in the game's own storage with
it off (:mod:`aethyr_domain.game.storage`). Both flush each transaction to disk
(``synchronous=FULL``), and a flush costs far more than deciding an action, so the
server does not flush once per action. Its game thread takes every action that
arrived while the previous group was being written and runs them as one group
(:func:`perform_group`):

1. each action is decided in arrival order, one by one, by the same code as a
   single action (:meth:`Actions.perform <aethyr_domain.game.actions.Actions.perform>`:
   the Decider, the live world); the sink and the storage only *collect* what the
   decisions changed (``begin_batch``), in decision order;
2. the group is written in ONE transaction - one outbox entry per decision, in the
   same order, or the changed aggregates' states - with ONE flush (``commit_batch``);
3. then the replies are sent. A read-only action before the group's first change
   saw only what is already on disk, so its reply goes out at once; every reply
   after the first change waits for the flush.

A refused action decides nothing and so writes nothing. If the write fails, nothing
of the group was written (one transaction), no player of the group is told that
their action happened (each gets :data:`UNSAVED_MESSAGE`), and :class:`GroupCommit`
puts the game's memory back where the disk is: the Decider's aggregates (it keeps
the aggregates each decision replaced: ``Decider.journal``), the live world's entries
for them, and who is online. The game then goes on from the durable state.

A crash after the flush and before the replies loses the replies, never an entry:
the outbox delivers each entry exactly once after a restart
(:mod:`aethyr_domain.outbox.delivery`).

:meth:`GroupCommit.run` gives the same all-or-nothing write to one call (the
server's logins; an embedding program may use it around ``Actions.perform``).
Without a group, ``Actions.perform`` writes each decision as it is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aethyr_domain.game.actions import Actions, Output
from aethyr_domain.game.manager import Manager
from aethyr_domain.game_state import GameState, load_aggregate

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What each player of a group whose write failed is told instead of its reply.
UNSAVED_MESSAGE = "The world could not be saved just now, so that did not happen. Try again."


@dataclass(frozen=True)
class Reply:
    """The outcome of one action of a group: its output, or the exception it raised
    (an unexpected error of the game, not a refusal: refusals are output)."""

    output: Output
    error: BaseException | None = None


class GroupCommit:
    """Make the Manager's decisions between :meth:`begin` and :meth:`commit` durable
    together (one transaction, one flush) or not at all. Game thread only."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self._online: set[str] = set()
        self._open = False

    def begin(self) -> None:
        """Start collecting: the sink and the storage hold what is decided from now on."""
        manager = self.manager
        if manager.decider.journal is not None:
            raise RuntimeError("a group commit is already open (groups do not nest)")
        manager.decider.journal = {}
        self._online = set(manager.online)
        sink: Any = manager.sink
        if sink is not None:
            sink.begin_batch()
        if manager.storage is not None:
            manager.storage.begin_batch()
        self._open = True

    @property
    def changed(self) -> bool:
        """True once a decision of this group changed something (not yet on disk)."""
        journal = self.manager.decider.journal
        return bool(journal)

    def commit(self) -> None:
        """Write the group in one transaction. If that fails, undo the group in memory
        (see the module docstring) and re-raise the write's error."""
        if not self._open:
            return
        self._open = False
        manager = self.manager
        journal = manager.decider.journal or {}
        manager.decider.journal = None
        sink: Any = manager.sink
        try:
            if sink is not None:
                sink.commit_batch()
            if manager.storage is not None:
                manager.storage.commit_batch()
        except BaseException:
            if sink is not None:
                sink.abort_batch()
            if manager.storage is not None:
                manager.storage.abort_batch()
            self._undo(journal)
            raise

    def _undo(self, journal: dict[str, Any]) -> None:
        manager = self.manager
        for aggregate_id, before in journal.items():
            if before is None:
                manager.decider.aggregates.pop(aggregate_id, None)
                forget(manager.state, aggregate_id)
            else:
                manager.decider.aggregates[aggregate_id] = before
                load_aggregate(manager.state, before)
        manager.online.clear()
        manager.online.update(self._online)
        log.error("a group of %d changed aggregate(s) was undone in memory", len(journal))

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` as a group of its own: what it decided is on disk when
        it returns (or undone, and the write's error raised)."""
        self.begin()
        try:
            result = function(*args)
        except BaseException:
            self.commit()  # what it decided before it raised is kept, as without a group
            raise
        self.commit()
        return result


def forget(world: GameState, object_id: str) -> None:
    """Remove every live-world entry of ``object_id`` (an object a failed group created)."""
    for table in (world.objects, world.players, world.rooms, world.inventories, world.equipment):
        table.pop(object_id, None)


def perform_group(
    manager: Manager,
    actions: Actions,
    requests: Sequence[tuple[str, str]],
    *,
    ready: Callable[[int, Reply], None] | None = None,
    after_commit: Callable[[int], None] | None = None,
) -> list[Reply]:
    """Perform ``(player id, line)`` requests as one group; a reply for each, in order.

    ``ready(index, reply)`` is called as soon as reply ``index`` may be sent: at once
    for a read-only action before the group's first change, after the flush for the
    others. ``after_commit(actions)`` is a test hook called right after the flush of a
    group that changed something, before the replies that waited for it.
    """
    group = GroupCommit(manager)
    replies: list[Reply] = []
    sent = 0
    group.begin()
    try:
        for player_id, line in requests:
            try:
                replies.append(Reply(actions.perform(player_id, line)))
            except Exception as exc:  # a bug in a verb: that session fails, not the group
                log.exception("action %r failed", line)
                replies.append(Reply([], exc))
            if not group.changed:  # saw only what is on disk: it may go out now
                sent = len(replies)
                if ready is not None:
                    ready(sent - 1, replies[-1])
    finally:
        changed = group.changed
        try:
            group.commit()
        except Exception as exc:
            log.error("cannot write a group of %d action(s): %s", len(requests), exc)
            for index in range(sent, len(replies)):
                player_id = requests[index][0]
                replies[index] = Reply([(player_id, UNSAVED_MESSAGE)])
        else:
            if changed and after_commit is not None:
                after_commit(len(requests))
    if ready is not None:
        for index in range(sent, len(replies)):
            ready(index, replies[index])
    return replies
