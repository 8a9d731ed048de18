"""Booting a game session: the Manager, its live world and (optionally) its event path.

With event sourcing off, the world comes from the game's own storage
(:mod:`~aethyr_domain.game.storage`, ``storage_path``: created if missing, and from then on
written one transaction per decision), or starts empty when ``storage_path`` is empty;
no store module is imported either way. With it on, boot is the one moment the game reads the event
store: it takes the store's writer lease (:mod:`~aethyr_domain.outbox.writer_lease`; refused,
it changes nothing), delivers what the outbox still holds (bounded by
``outbox_drain_timeout``),
reads the world's aggregates - the Decider's - from the last checkpoint plus the log
after it, or from the whole log when there is no usable checkpoint
(:func:`~aethyr_domain.game.checkpoint.load_world_from_checkpoint`), and builds the live
world from them, starts the world
projection in process when ``projections_enabled`` (a
:class:`~aethyr_domain.read.projections.runner.ProjectionService` that catches the read
model up and follows the log; ``manager.projection``) and then starts the background
delivery and the lease's heartbeat. From then on the game only writes to the outbox,
and a :class:`~aethyr_domain.game.checkpoint.Checkpointer` (``manager.checkpointer``) saves
a checkpoint every ``checkpoint_interval`` events and at shutdown;
``Manager.close`` saves the last checkpoint, stops delivery and releases the lease.

Order matters at both ends: the projection subscribes before the delivery thread
writes and stops after it stopped (eventsourcing 9.5's in-memory recorder iterates its
listener set while inserting, so a subscriber joining or leaving during an insert can
break that insert), and the store is closed last. Both are registered with the sink's
:meth:`~aethyr_domain.outbox.event_sink.OutboxSink.after_close`, so they run only once the
delivery thread has ended - also when it outlives ``Manager.close``'s wait.

:class:`ScriptRunner` runs ``<player>: <command text>`` lines (``aethyr-es play``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.manager import SYSTEM, GameError, Manager

if TYPE_CHECKING:  # the flag-off game imports no application (no store) module
    from aethyr_domain.application import World
    from aethyr_domain.outbox.event_sink import OutboxSink
    from aethyr_domain.outbox.queue import Outbox
    from aethyr_domain.outbox.writer_lease import WriterLease
    from aethyr_domain.read.projections.runner import ProjectionService

log = logging.getLogger(__name__)


class BootError(RuntimeError):
    """The game could not load its world from the event store."""


def boot(
    config: ServerConfig,
    *,
    world: World | None = None,
    delivery_process: bool = False,
    config_path: str | None = None,
) -> Manager:
    """A Manager ready to play: live world loaded, event path started if enabled.

    ``world`` lets a caller share one ``World`` instance (needed for the in-memory
    POPO store, which exists only inside one application object).

    With event sourcing on, boot first takes the store's writer lease
    (:mod:`aethyr_domain.outbox.writer_lease`): if another live writer holds it, boot raises
    :class:`BootError` before it changed anything (the outbox is not even opened).

    ``delivery_process`` (``serve``, see
    :mod:`~aethyr_domain.outbox.delivery_process`): once the world is loaded, the
    lease and the delivery go to a child process (started with ``config_path``, the
    TOML file the caller read, if any) instead of a thread.
    """
    if not config.event_sourcing_enabled:
        return boot_from_storage(config)
    from aethyr_domain.decision import Decider
    from aethyr_domain.game.checkpoint import Checkpointer, load_world_from_checkpoint
    from aethyr_domain.outbox.delivery import deliver_pending
    from aethyr_domain.outbox.event_sink import OutboxSink
    from aethyr_domain.outbox.event_store import cannot_open_message, open_world_or_raise
    from aethyr_domain.outbox.queue import Outbox, OutboxError
    from aethyr_domain.outbox.writer_lease import LeaseError, WriterLease

    app = world if world is not None else open_world_or_raise(config, BootError)

    def fail(message: str, lease: Any = None) -> BootError:
        if lease is not None:
            lease.release()
        if world is None:
            app.close()  # boot opened it: do not leak its connection
        return BootError(message)

    try:
        lease = WriterLease.acquire(
            app.recorder, timeout=config.writer_lease_timeout, what="writer (game, migrate)"
        )
    except LeaseError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(cannot_open_message(exc)) from None
    # Heartbeat from now on: replaying a large log may take longer than the timeout.
    # (Not on the in-memory store, which no other process can share: its recorder must
    # not be written while the projection subscribes, see above.)
    if config.event_store != "popo":
        lease.start_heartbeat()
    try:
        outbox = Outbox(config.outbox_path)
    except OutboxError as exc:
        raise fail(str(exc), lease) from None
    try:
        dead_before = outbox.dead_letter_count()
        deadline = time.monotonic() + config.outbox_drain_timeout
        while outbox.backlog() and time.monotonic() < deadline:
            deliver_pending(outbox, app, batch_size=config.outbox_batch_size, lease=lease)
        if outbox.backlog():
            raise BootError(
                f"{outbox.backlog()} command(s) still in the outbox after boot delivery"
            )
        checkpoint_path = config.checkpoint_file if config.checkpoint_interval > 0 else None
        aggregates, live, loaded = load_world_from_checkpoint(app, checkpoint_path)
    except Exception as exc:
        outbox.close()
        message = (
            str(exc)
            if isinstance(exc, (BootError, LeaseError))
            else (f"cannot load the world: {type(exc).__name__}: {exc}")
        )
        raise fail(message, lease) from None
    dead = outbox.dead_letter_count()
    if dead:
        log.warning(
            "the outbox holds %d dead letter(s)%s; list them with `aethyr-es outbox`",
            dead,
            f" ({dead - dead_before} new at boot)" if dead > dead_before else "",
        )
    closers: list[Callable[[], None]] = []
    projection = None
    if config.projections_enabled:
        try:
            projection = start_projection(config, app)
        except Exception as exc:
            outbox.close()
            raise fail(
                f"cannot start the world projection: {type(exc).__name__}: {exc}", lease
            ) from None
        closers.append(projection.stop)
        closers.append(projection.view.close)  # after stop: the follower used it
    if world is None:
        closers.append(app.close)
    if delivery_process:
        sink = _start_delivery_process(config, app, outbox, lease, config_path, fail)
    else:
        lease.start_heartbeat()  # no-op if already started
        sink = OutboxSink.start(
            config,
            world_factory=lambda: app,
            close_world=False,
            mapper=app.mapper,
            lease=lease,
            outbox=outbox,
        )
    sink.dead_at_start = dead_before
    for closer in closers:  # after the delivery thread ended, even if it ends late
        sink.after_close(closer)
    manager = Manager(
        live, config=config, sink=sink, decider=Decider(aggregates, scrypt_n=app.scrypt_n)
    )
    manager.projection = projection
    manager.boot_load = loaded
    if checkpoint_path is not None:
        checkpointer = Checkpointer(
            checkpoint_path,
            app,
            manager.decider,
            sink,
            interval=config.checkpoint_interval,
            drain_timeout=config.outbox_drain_timeout,
        )
        checkpointer.count(loaded.tail_events)
        if loaded.tail_events >= config.checkpoint_interval:
            checkpointer.save()  # the outbox is empty: boot delivered it
        manager.checkpointer = checkpointer
    return manager


def _start_delivery_process(
    config: ServerConfig,
    app: World,
    outbox: Outbox,
    lease: WriterLease,
    config_path: str | None,
    fail: Callable[..., BootError],
) -> OutboxSink:
    """Hand the writer lease and the delivery over to a child process; the game's sink.

    The game stops beating the lease first (one process writes it at a time), and
    takes it back to release it if the child does not start (:class:`BootError`).
    """
    from aethyr_domain.outbox.delivery_process import DeliveryProcess
    from aethyr_domain.outbox.event_sink import OutboxSink

    lease.stop_heartbeat()
    try:
        child = DeliveryProcess.start(
            config, outbox, app, epoch=lease.epoch, position=lease.position, config_path=config_path
        )
    except Exception as exc:
        outbox.close()
        raise fail(f"cannot start the outbox delivery process: {exc}", lease) from None
    return OutboxSink(outbox, child, app.mapper)


def boot_from_storage(config: ServerConfig) -> Manager:
    """Event sourcing off: the world from the game's own storage (``storage_path``).

    The file is created if missing; an empty ``storage_path`` means no storage (the
    world lives in memory only and nothing is written). Imports no store module.
    """
    if not config.storage_path:
        return Manager(config=config)
    from aethyr_domain.decision import Decider
    from aethyr_domain.game.storage import StorageError, WorldStorage

    try:
        storage = WorldStorage(config.storage_path)
        aggregates = storage.load()
    except StorageError as exc:
        raise BootError(str(exc)) from None
    manager = Manager(config=config, decider=Decider(aggregates))
    manager.storage = storage
    return manager


def start_projection(config: ServerConfig, app: World) -> ProjectionService:
    """Catch the world read model up and follow ``app``'s log in a thread.

    The view lives where ``config`` says (the events' store; in memory for POPO);
    returns the started :class:`~aethyr_domain.read.projections.runner.ProjectionService`.
    The caller stops it, then closes its ``view`` (closed here if starting fails).
    """
    from aethyr_domain.read.projections.opening import open_view
    from aethyr_domain.read.projections.runner import ProjectionService

    view = open_view(config)
    try:
        return ProjectionService(app, view, batch_wait=config.projection_batch_wait).start()
    except BaseException:
        view.close()
        raise


@dataclass
class ScriptRunner:
    """Runs play-script lines against a Manager and writes what players see."""

    manager: Manager
    out: TextIO
    players: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.actions = Actions(self.manager)
        for pid in self.manager.state.players:
            obj = self.manager.state.get(pid)
            if obj is not None:
                self.players[obj.name.lower()] = pid

    def run(self, lines: Iterable[str]) -> None:
        for number, raw in enumerate(lines, start=1):
            self.line(raw, number)

    def line(self, raw: str, number: int = 0) -> None:
        text = raw.strip()
        if not text or text.startswith("#"):
            return
        if text.startswith("@admin "):
            name = text.removeprefix("@admin ").strip()
            try:
                pid = self.player(name)
                self.manager.set_admin(pid, True, actor=SYSTEM)
            except GameError as exc:
                self.out.write(f"line {number}: {exc}\n")
                return
            self.out.write(f"* {name} is now an admin\n")
            return
        name, sep, command = text.partition(":")
        if not sep or not name.strip():
            self.out.write(f"line {number}: expected '<player>: <command>', got {text!r}\n")
            return
        try:
            pid = self.player(name.strip())
        except GameError as exc:
            self.out.write(f"line {number}: {exc}\n")
            return
        self.out.write(f"{name.strip()}> {command.strip()}\n")
        for recipient, message in self.actions.perform(pid, command):
            prefix = "  " if recipient == pid else f"  [{self._name(recipient)}] "
            for message_line in message.splitlines():
                self.out.write(prefix + message_line + "\n")

    def player(self, name: str) -> str:
        """The id of player ``name``; created in the start room on first appearance."""
        pid = self.players.get(name.lower())
        if pid is not None and self.manager.state.get(pid) is not None:
            if pid not in self.manager.online:
                self.manager.connect_player(pid)
            return pid
        existing = self.manager.state.find_player_by_name(name)
        if existing is not None:
            self.players[name.lower()] = existing.id
            self.manager.connect_player(existing.id)
            return existing.id
        player = self.manager.add_player(name, secrets.token_urlsafe(12))
        self.players[name.lower()] = player.id
        return player.id

    def _name(self, pid: str) -> str:
        obj = self.manager.state.objects.get(pid)
        return obj.name if obj is not None else pid
