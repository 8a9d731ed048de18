"""Opening the configured event store and reading its log (game side helpers).

Importing this module imports ``eventsourcing``: only code paths that run with
event sourcing enabled (delivery, replay, stats, migration) use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.application import Application

from aethyr_domain.application import World
from aethyr_domain.config import ServerConfig

#: Notifications read per page when scanning the whole log.
PAGE_SIZE = 500


def open_world(config: ServerConfig, *, lag_tolerant: bool = False, **extra_env: str) -> World:
    """A ``World`` application on the store ``config`` selects (may raise if unreachable).

    ``lag_tolerant``: the caller only reads, and may read from immudb replicas
    (``immudb_replicas``): :func:`replica_env` is added. Each lag-tolerant read then
    waits for a replica to hold what the primary held when it began, or reads the
    primary (``docs/replication.md``). Writers (the game, ``migrate``, the writer
    lease) never pass it.
    """
    env: dict[str, Any] = config.eventsourcing_env()
    if lag_tolerant:
        env.update(replica_env(config))
    env.update(extra_env)
    return World(env=env, snapshot_threshold=config.snapshot_threshold)


def replica_env(config: ServerConfig) -> dict[str, str]:
    """``IMMUDB_REPLICAS`` for the recorder when ``config`` names immudb replicas."""
    if config.event_store != "immudb" or not config.immudb_replicas:
        return {}
    return {"IMMUDB_REPLICAS": ",".join(config.immudb_replicas)}


def open_world_or_raise(
    config: ServerConfig, error: Callable[[str], Exception], *, lag_tolerant: bool = False
) -> World:
    """:func:`open_world`, any failure re-raised as ``error(message)``.

    The message is the one wording every entry point uses, ``cannot open the event
    store: <ExceptionType>: <detail>`` (the CLI prints it with exit code 2 through
    ``CliError``, boot raises it as ``BootError``). The original exception is not
    chained: its type and text are in the message, and a traceback would only
    repeat them.
    """
    try:
        return open_world(config, lag_tolerant=lag_tolerant)
    except Exception as exc:
        raise error(cannot_open_message(exc)) from None


def cannot_open_message(exc: BaseException) -> str:
    """The one wording for a store that cannot be opened (the World's or a view's)."""
    return f"cannot open the event store: {type(exc).__name__}: {exc}"


def close_world(world: World) -> None:
    """Release the world's connections (idempotent)."""
    world.close()


def last_version(world: World, aggregate_id: str) -> int:
    """The version of the aggregate's newest stored event (0 if it has none)."""
    events = world.recorder.select_events(aggregate_id, desc=True, limit=1)
    return events[0].originator_version if events else 0


def iter_notifications(
    world: Application[Any],
    start: int = 1,
    *,
    page_size: int = PAGE_SIZE,
    topics: Sequence[str] = (),
) -> Iterator[Any]:
    """Every notification of the world's log from ``start`` (only those of ``topics``
    when given), in order, read ``page_size`` at a time."""
    position = start
    while True:
        page = world.recorder.select_notifications(position, page_size, topics=topics)
        if not page:
            return
        yield from page
        if len(page) < page_size:
            return
        position = page[-1].id + 1


def iter_events(world: Application[Any]) -> Iterator[Any]:
    """Every domain event of the world's log, in log order, decoded."""
    for notification in iter_notifications(world):
        yield world.mapper.to_domain_event(notification)


def topic_name(topic: str) -> str:
    """``aethyr_domain.events:RoomExitAdded`` -> ``RoomExitAdded``."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
