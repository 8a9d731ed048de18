"""``migrate_to_event_store``: import a world dump into the event store.

The input is the canonical JSON of :mod:`aethyr_domain.world_dump` (what
``aethyr-es world --json`` and ``play --dump-world`` print). The import is
*convergent*: for every part of the dump it compares the store's current state
(``World.get``) with the dump and issues only the commands that are missing. A
second run therefore adds nothing, and a run interrupted half-way is completed by
the next one. (The original re-created every aggregate on each run.)

Order of the import:

1. deleted objects are created and deleted first, so a live player may reuse the
   name of a deleted one;
2. rooms, players and other objects are created (players get a random password:
   dumps carry no password hashes, so imported players must have theirs reset);
3. attributes, admin flags, room descriptions and exits;
4. placement: each holder's inventory in the dump's order, then equipment (an item
   is put in the character's inventory and equipped from there).

Before it writes anything, the import runs once *dry*, in memory: the same
commands, decided by :class:`~aethyr_domain.decision.Decider` (the World's handlers
and command validation) on copies of the store's aggregates. A dump holding
anything the world's rules refuse - a value the values rule does not allow (an
integer beyond 64 bits, ``nan``, an over-long string), a bad attribute key, an exit
to nowhere - is refused with :class:`DumpRefusedError` naming the object and the
rule, and nothing is written.

If an object the import just created (or found) cannot be read back from the store,
the import stops with :class:`MigrationError` (what was written stays; a later run
completes it).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aethyr_domain import commands as c
from aethyr_domain.errors import DomainError, NotFoundError
from aethyr_domain.live_world import LiveWorld, WorldObject
from aethyr_domain.validation import SYSTEM_ACTOR


class MigrationError(RuntimeError):
    """The store does not show what the import wrote, so the import stopped.

    ``object_id`` names the object that went missing. Nothing after it was
    imported; what was written before stays (a later run completes it, the
    import being convergent).
    """

    def __init__(self, object_id: str) -> None:
        super().__init__(
            f"object {object_id!r} is missing from the event store right after the import "
            "created or found it: the store does not show the import's writes (was it "
            "reset, or does the World read a different store than it writes?); the "
            "import stopped there - run it again once the store is consistent"
        )
        self.object_id = object_id


class DumpRefusedError(MigrationError):
    """The dump holds something the world's rules refuse; nothing was written.

    Found by the dry run that precedes every import: ``object_id`` names the
    object, ``command`` the command that was refused and ``reason`` the rule.
    """

    def __init__(self, object_id: str, command: str, reason: str) -> None:
        RuntimeError.__init__(
            self,
            f"the dump cannot be imported: object {object_id!r} is refused ({command}: "
            f"{reason}); nothing was written - fix the dump and run the import again",
        )
        self.object_id = object_id
        self.command = command
        self.reason = reason


@dataclass
class MigrationReport:
    """What an import did: commands issued by type, and objects already present."""

    commands: Counter[str] = field(default_factory=Counter)
    already_present: int = 0

    @property
    def total(self) -> int:
        return sum(self.commands.values())


def migrate_to_event_store(
    world: Any, dump: LiveWorld, *, actor: str = SYSTEM_ACTOR
) -> MigrationReport:
    """Bring the event store of ``world`` (a ``World``) up to the state of ``dump``.

    Raises :class:`DumpRefusedError` before writing anything if the world's rules
    refuse any part of the dump (see the module docstring).
    """
    _dry_run(world, dump, actor)
    return _import(world, dump, actor)


class _DryRunWorld:
    """What the import reads and writes of a ``World``, decided in memory.

    Starts from the store's aggregates (one pass over the log) and decides each
    command with the World's handlers (:class:`~aethyr_domain.decision.Decider`);
    nothing reaches the store.
    """

    def __init__(self, world: Any) -> None:
        from aethyr_domain.decision import Decider
        from aethyr_domain.replay import _final_aggregates

        aggregates, _ = _final_aggregates(world)
        # The dry run's random passwords are never stored: the cheapest hash will do.
        self.decider = Decider(aggregates, scrypt_n=_DRY_RUN_SCRYPT_N)

    def handle(self, command: c.Command) -> None:
        self.decider.decide(command)

    def get(self, object_id: str) -> Any:
        from aethyr_domain.game_object import GameObject

        aggregate = self.decider.get(object_id)
        if not isinstance(aggregate, GameObject):
            raise NotFoundError(object_id)
        return aggregate


_DRY_RUN_SCRYPT_N = 16


def _dry_run(world: Any, dump: LiveWorld, actor: str) -> None:
    """Run the whole import in memory; :class:`DumpRefusedError` at the first refusal."""
    dry = _DryRunWorld(world)
    where = _Where()
    try:
        _import(dry, dump, actor, where)
    except DomainError as exc:
        raise DumpRefusedError(where.object_id, where.command, str(exc)) from None


@dataclass
class _Where:
    """What the import is working on (for :class:`DumpRefusedError`)."""

    object_id: str = "?"
    command: str = "building its commands"

    def at(self, object_id: str) -> None:
        self.object_id = object_id
        self.command = "building its commands"


def _import(
    world: Any, dump: LiveWorld, actor: str, where: _Where | None = None
) -> MigrationReport:
    report = MigrationReport()
    at = where.at if where is not None else (lambda _object_id: None)

    def run(command: c.Command) -> None:
        if where is not None:
            where.command = type(command).__name__
        world.handle(command)
        report.commands[type(command).__name__] += 1

    objects = sorted(dump.objects.values(), key=lambda o: o.id)
    deleted = [o for o in objects if o.deleted]
    alive = [o for o in objects if not o.deleted]
    for obj in deleted + alive:
        at(obj.id)
        current = _current(world, obj.id)
        if current is not None:
            report.already_present += 1
        else:
            _create(run, dump, obj, actor)
        if obj.deleted and (current is None or not current.deleted):
            _update(run, dump, obj, _current(world, obj.id), actor)
            run(c.DeleteGameObject(obj.id, actor=actor))
    for obj in alive:
        at(obj.id)
        current = _current(world, obj.id)
        if current is None:  # created or found above: only a store losing writes gets here
            raise MigrationError(obj.id)
        _update(run, dump, obj, current, actor)
    for holder, items in dump.inventories.items():
        for item_id in items:
            at(item_id)
            item = _current(world, item_id)
            if item is not None and not item.deleted and item.container_id != holder:
                if item.slot is not None:
                    run(c.UnequipItem(item.container_id, item_id, item.slot, actor=actor))
                run(c.AddItemToInventory(holder, item_id, actor=actor))
    for character, slots in dump.equipment.items():
        for slot, layers in slots.items():
            for item_id in layers.values():
                at(item_id)
                item = _current(world, item_id)
                if item is None or item.deleted:
                    continue
                if item.container_id == character and item.slot == slot:
                    continue
                if item.slot is not None:
                    run(c.UnequipItem(item.container_id, item_id, item.slot, actor=actor))
                run(c.AddItemToInventory(character, item_id, actor=actor))
                run(c.EquipItem(character, item_id, slot, actor=actor))
    return report


def _current(world: Any, object_id: str) -> Any:
    try:
        return world.get(object_id)
    except NotFoundError:
        return None


def _create(run: Any, dump: LiveWorld, obj: WorldObject, actor: str) -> None:
    if obj.id in dump.rooms:
        run(c.CreateRoom(obj.id, obj.name, dump.rooms[obj.id].description, actor=actor))
    elif obj.id in dump.players:
        run(c.CreatePlayer(obj.id, obj.name, secrets.token_urlsafe(18), actor=actor))
    else:
        run(c.CreateGameObject(obj.id, obj.name, obj.generic, actor=actor))


def _update(run: Any, dump: LiveWorld, obj: WorldObject, current: Any, actor: str) -> None:
    attributes = dict(getattr(current, "attributes", {}))
    missing = {k: v for k, v in obj.attributes.items() if attributes.get(k, _ABSENT) != v}
    if missing:
        run(c.UpdateGameObjectAttributes(obj.id, missing, actor=actor))
    player = dump.players.get(obj.id)
    if player is not None and bool(getattr(current, "admin", False)) != player.admin:
        run(c.UpdatePlayerAdminStatus(obj.id, player.admin, actor=actor))
    room = dump.rooms.get(obj.id)
    if room is not None:
        if getattr(current, "description", None) != room.description:
            run(c.UpdateRoomDescription(obj.id, room.description, actor=actor))
        exits = dict(getattr(current, "exits", {}))
        for direction, target in room.exits.items():
            if exits.get(direction) == target:
                continue
            if direction in exits:
                run(c.RemoveRoomExit(obj.id, direction, actor=actor))
            run(c.AddRoomExit(obj.id, direction, target, actor=actor))


_ABSENT = object()
