"""``migrate_to_event_store``: import a world dump into the event store.

The input is the canonical JSON of :mod:`aethyr_domain.read.world_dump` (what
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

Before anything is written, every object's attributes are checked as the commands
will check them (:mod:`aethyr_domain.values`: 64-bit integers, finite floats, bounded
strings...): a dump holding a value the world refuses raises
:class:`~aethyr_domain.errors.InvalidCommandError` naming the object, and nothing is
imported.
The import is *atomic* with respect to bad dumps: :func:`check_migration` first runs
the whole import on in-memory copies of the store's aggregates, through the same
command handlers the World runs (:class:`~aethyr_domain.decision.Decider`), and only a
dump every command of which is accepted is written. A dump with an invalid player name,
a containment cycle or any other rule broken raises :class:`InvalidDumpError` and
nothing is imported.

If an object the import just created (or found) cannot be read back from the store,
the import stops with :class:`MigrationError` (what was written stays; a later run
completes it).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application
from eventsourcing.domain import BaseAggregate

from aethyr_domain import commands as c
from aethyr_domain.decision import Decider
from aethyr_domain.errors import DomainError, InvalidCommandError, NotFoundError
from aethyr_domain.game_object import GameObject
from aethyr_domain.game_state import GameState, WorldObject
from aethyr_domain.passwords import MD5_PREFIX, is_scrypt_hash
from aethyr_domain.unit_of_work import Loader, repository_loader
from aethyr_domain.validation import SYSTEM_ACTOR

if TYPE_CHECKING:
    from aethyr_domain.application import World


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


class InvalidDumpError(ValueError):
    """The dump breaks a rule of the world: the import was refused, nothing written.

    ``command`` names the command the rules refused (``None`` if the dump could not
    even be turned into commands) and ``reason`` what was wrong.
    """

    def __init__(self, reason: str, command: c.Command | None = None) -> None:
        where = f" ({type(command).__name__} of {_subject(command)!r})" if command else ""
        super().__init__(f"the dump cannot be imported{where}: {reason}; nothing was imported")
        self.command = command
        self.reason = reason


def _subject(command: c.Command) -> str:
    return str(getattr(command, "id", None) or getattr(command, "object_id", "") or "?")


#: scrypt cost of the throw-away hashes of a dry run (its events are never stored).
_DRY_RUN_SCRYPT_N = 2


class _LoadingDecider(Decider):
    """A :class:`Decider` that reads each aggregate from the store the first time it is
    needed, then keeps it (with every change the commands made) in memory."""

    def __init__(self, world: World) -> None:
        super().__init__(scrypt_n=_DRY_RUN_SCRYPT_N)
        self._load = _loader(world)
        self._absent: set[str] = set()

    def _cache(self, aggregate_id: str) -> None:
        if aggregate_id in self.aggregates or aggregate_id in self._absent:
            return
        aggregate = self._load(aggregate_id)
        if aggregate is None:
            self._absent.add(aggregate_id)
        else:
            self.aggregates[aggregate_id] = aggregate

    def get(self, aggregate_id: str) -> BaseAggregate[str] | None:
        self._cache(aggregate_id)
        return super().get(aggregate_id)

    def _private_copy(self, aggregate_id: str) -> BaseAggregate[str] | None:
        self._cache(aggregate_id)
        return super()._private_copy(aggregate_id)


def _loader(world: World) -> Loader:
    """Read aggregates from a ``World``'s repository (every kind, the player-name index
    included); from anything else that quacks like one, through its ``get``."""
    if isinstance(world, Application):
        return repository_loader(world)

    def load(aggregate_id: str) -> BaseAggregate[str] | None:
        try:
            aggregate: BaseAggregate[str] = world.get(aggregate_id)
        except NotFoundError:
            return None
        return aggregate

    return load


class _DryRunWorld:
    """A ``World`` stand-in for :func:`check_migration`: decides, stores nothing."""

    def __init__(self, world: World) -> None:
        self._decider = _LoadingDecider(world)

    def handle(self, command: c.Command) -> None:
        try:
            self._decider.decide(command)
        except DomainError as exc:
            raise InvalidDumpError(str(exc), command) from None

    def get(self, object_id: str) -> GameObject:
        aggregate = self._decider.get(object_id)
        if not isinstance(aggregate, GameObject):
            raise NotFoundError(object_id)
        return aggregate


def check_migration(
    world: World,
    dump: GameState,
    *,
    actor: str = SYSTEM_ACTOR,
    password_hashes: Mapping[str, str] | None = None,
) -> MigrationReport:
    """Run the import of ``dump`` on in-memory copies of ``world``'s aggregates.

    Returns what the import would do; raises :class:`InvalidDumpError` if any rule
    refuses it. Writes nothing.
    """
    try:
        return _migrate(_DryRunWorld(world), dump, actor, password_hashes)
    except InvalidDumpError:
        raise
    except DomainError as exc:  # a command the dump describes cannot even be built
        raise InvalidDumpError(str(exc)) from None


@dataclass
class MigrationReport:
    """What an import did: commands issued by type, and objects already present."""

    commands: Counter[str] = field(default_factory=Counter)
    already_present: int = 0

    @property
    def total(self) -> int:
        return sum(self.commands.values())


def migrate_to_event_store(
    world: World,
    dump: GameState,
    *,
    actor: str = SYSTEM_ACTOR,
    password_hashes: Mapping[str, str] | None = None,
) -> MigrationReport:
    """Bring the event store of ``world`` (a ``World``) up to the state of ``dump``.

    The whole import is checked first: every attribute as the commands will carry it
    (:class:`~aethyr_domain.errors.InvalidCommandError` naming the object), then every
    command (:func:`check_migration`; a dump that breaks a rule raises
    :class:`InvalidDumpError`). Nothing is written unless both pass.

    ``password_hashes`` (player id -> stored hash, salted scrypt or legacy ``md5$``)
    lets imported players keep their passwords; players without one get a random
    password (a dump carries no hashes).
    """
    _check_attributes(dump)
    check_migration(world, dump, actor=actor, password_hashes=password_hashes)
    return _migrate(world, dump, actor, password_hashes)


def migrate_from_storage(world: World, path: str, *, actor: str = SYSTEM_ACTOR) -> MigrationReport:
    """Import the game's own storage (:mod:`aethyr_domain.game.storage`, what the game writes
    with event sourcing off) into ``world``'s event store, keeping every player's
    password hash. Idempotent and atomic, like :func:`migrate_to_event_store`.
    """
    from aethyr_domain.game.storage import load_aggregates

    aggregates = load_aggregates(path)
    dump = GameState()
    dump.update_from(aggregates.values())
    hashes = {pid: state.password_hash for pid, state in dump.players.items()}
    return migrate_to_event_store(world, dump, actor=actor, password_hashes=hashes)


def _migrate(
    world: World | _DryRunWorld,
    dump: GameState,
    actor: str,
    password_hashes: Mapping[str, str] | None = None,
) -> MigrationReport:
    report = MigrationReport()

    def run(command: c.Command) -> None:
        world.handle(command)
        report.commands[type(command).__name__] += 1

    objects = sorted(dump.objects.values(), key=lambda o: o.id)
    deleted = [o for o in objects if o.deleted]
    alive = [o for o in objects if not o.deleted]
    for obj in deleted + alive:
        current = _current(world, obj.id)
        if current is not None:
            report.already_present += 1
        else:
            _create(run, dump, obj, actor, (password_hashes or {}).get(obj.id))
        if obj.deleted and (current is None or not current.deleted):
            _update(run, dump, obj, _current(world, obj.id), actor)
            run(c.DeleteGameObject(obj.id, actor=actor))
    for obj in alive:
        current = _current(world, obj.id)
        if current is None:  # created or found above: only a store losing writes gets here
            raise MigrationError(obj.id)
        _update(run, dump, obj, current, actor)
    for holder, items in dump.inventories.items():
        for item_id in items:
            item = _current(world, item_id)
            if item is not None and not item.deleted and item.container_id != holder:
                if item.slot is not None:
                    run(c.UnequipItem(item.container_id, item_id, item.slot, actor=actor))
                run(c.AddItemToInventory(holder, item_id, actor=actor))
    for character, slots in dump.equipment.items():
        for slot, layers in slots.items():
            for item_id in layers.values():
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


def _check_attributes(dump: GameState) -> None:
    """Every object's attributes as the import's commands will carry them."""
    for obj in sorted(dump.objects.values(), key=lambda o: o.id):
        if not obj.attributes:
            continue
        try:
            c.UpdateGameObjectAttributes(obj.id, obj.attributes)
        except InvalidCommandError as exc:
            raise InvalidCommandError(f"object {obj.id!r}", str(exc)) from None


def _current(world: World | _DryRunWorld, object_id: str) -> Any:
    try:
        return world.get(object_id)
    except NotFoundError:
        return None


def _create(
    run: Any, dump: GameState, obj: WorldObject, actor: str, password_hash: str | None = None
) -> None:
    if obj.id in dump.rooms:
        run(c.CreateRoom(obj.id, obj.name, dump.rooms[obj.id].description, actor=actor))
    elif obj.id in dump.players:
        scheme, _, digest = (password_hash or "").partition("$")
        if password_hash and is_scrypt_hash(password_hash):
            run(c.CreatePlayer(obj.id, obj.name, password_hash=password_hash, actor=actor))
        elif scheme == MD5_PREFIX:
            run(c.ImportLegacyPlayer(obj.id, obj.name, digest, actor=actor))
        else:
            run(c.CreatePlayer(obj.id, obj.name, secrets.token_urlsafe(18), actor=actor))
    else:
        run(c.CreateGameObject(obj.id, obj.name, obj.generic, actor=actor))


def _update(run: Any, dump: GameState, obj: WorldObject, current: Any, actor: str) -> None:
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
