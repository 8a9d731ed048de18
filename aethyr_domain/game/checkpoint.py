"""World checkpoints: boot from a saved world plus the tail of the log after it.

Replaying the whole log at every start grows with history (about 21 s per million
events on immudb). A checkpoint is the canonical world - every aggregate the game's
:class:`~aethyr_domain.decision.Decider` holds, in the state a snapshot takes (its
``vars``: what ``Snapshot.take`` records and ``Snapshot.mutate`` restores) - at one
notification id of the log. Boot reads it, reads only the
notifications after that id, applies them to the aggregates (``event.mutate``, as a
replay does) and builds the live world from the result
(:func:`~aethyr_domain.read.replay.live_world_of`), so the live world is derived from the
aggregates exactly as after a full replay.

A checkpoint also holds what the log looked like when it was taken: a hash of the
stored bytes of the log's *first* notification (which store and which history it
belongs to) and of the notification *at its position* (with the id). At boot a
checkpoint is used only if

* the file exists and its body matches its SHA-256 (not **corrupt**),
* the log still reaches its position (not **stale**: a log cut back or restored from
  an older backup), and
* both hashes still match (not from **another store**, nor a rewritten log).

Otherwise boot logs a warning and replays the whole log - always correct, only slower.
``aethyr-es world --source replay`` always does the full replay: it is the check that
the checkpoint path gives the same world.

When they are saved (:class:`Checkpointer`): every ``checkpoint_interval`` recorded
events, at the first moment the outbox is empty (then the Decider's aggregates are
exactly the store's world at its last notification id: one writer, everything
delivered), at boot after a long replay, and at shutdown once the outbox drained. The
aggregates are copied by reference in the game thread (the Decider never changes a
cached aggregate in place) and encoded and written in a background thread, to a
temporary file renamed over the old one (a crash leaves the old checkpoint or the
new one, never half a file).

File layout: one JSON header line (format, position, hashes, aggregate count, body
SHA-256), then the body: one JSON array (written and read with orjson: a million-event
world's checkpoint loads in well under a second, where decoding eventsourcing snapshots
with the World's transcoder took several) holding per aggregate ``[topic, id, version,
created_on, modified_on, state]``. The state is JSON by construction: every attribute
value is one (:mod:`~aethyr_domain.values`), and tuples come back as lists exactly as
they do from the event log's JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from eventsourcing.utils import get_topic, resolve_topic

from aethyr_domain.game_state import GameState
from aethyr_domain.outbox.event_store import iter_notifications
from aethyr_domain.read.replay import (
    REBUILD_PAGE_SIZE,
    aggregates_and_game_state,
    live_world_of,
)

if TYPE_CHECKING:
    from aethyr_domain.application import World

log = logging.getLogger(__name__)

FORMAT = "aethyr-checkpoint/1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; ``str(error)`` says why (for the warning)."""


@dataclass(frozen=True)
class LogMark:
    """Where a checkpoint stands in the log: its position and the log's fingerprints."""

    position: int
    first_hash: str
    position_hash: str


def notification_hash(notification: Any) -> str:
    """SHA-256 of one stored notification: id, originator, version, topic, state bytes."""
    digest = hashlib.sha256()
    for part in (
        str(notification.id),
        str(notification.originator_id),
        str(notification.originator_version),
        notification.topic,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(bytes(notification.state))
    return digest.hexdigest()


def _notification_at(app: World, position: int) -> Any | None:
    page = app.recorder.select_notifications(start=position, limit=1)
    return page[0] if page and page[0].id == position else None


def log_mark(app: World, position: int) -> LogMark | None:
    """The log's fingerprints at ``position`` (``None`` if it has no such notification)."""
    first_page = app.recorder.select_notifications(start=1, limit=1)
    at = _notification_at(app, position)
    if not first_page or at is None:
        return None
    return LogMark(position, notification_hash(first_page[0]), notification_hash(at))


# -------------------------------------------------------------------- the file
def write_checkpoint(
    path: str | os.PathLike[str], app: World, aggregates: Mapping[str, Any], mark: LogMark
) -> None:
    """Write ``aggregates`` (their state at ``mark.position``) to ``path`` atomically."""
    body = orjson.dumps([_record(aggregate) for aggregate in aggregates.values()], default=_plain)
    header = {
        "format": FORMAT,
        "position": mark.position,
        "first_hash": mark.first_hash,
        "position_hash": mark.position_hash,
        "aggregates": len(aggregates),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)


#: Aggregate fields a record holds apart from its state (the rest of ``vars``).
_OWN = ("_id", "_version", "_created_on", "_modified_on", "_pending_events")


def _record(aggregate: Any) -> list[Any]:
    """``[topic, id, version, created_on, modified_on, state]`` of one aggregate."""
    fields = vars(aggregate)
    state = {key: value for key, value in fields.items() if key not in _OWN}
    created, modified = fields.get("_created_on"), fields.get("_modified_on")
    return [
        get_topic(type(aggregate)),
        aggregate.id,
        aggregate.version,
        created.isoformat() if isinstance(created, datetime) else None,
        modified.isoformat() if isinstance(modified, datetime) else None,
        state,
    ]


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: read-only mappings (as dicts)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot checkpoint a {type(value).__name__}")


def read_checkpoint(path: str | os.PathLike[str], app: World) -> tuple[dict[str, Any], int]:
    """The aggregates of the checkpoint at ``path`` and its position, after checking it
    against ``app``'s log; :class:`CheckpointError` if it is missing, corrupt, stale or
    from another store."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {os.fspath(path)}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint: {exc.strerror or exc}") from None
    line, sep, body = data.partition(b"\n")
    try:
        header = json.loads(line) if sep else None
        ok = isinstance(header, dict) and header.get("format") == FORMAT
        position = int(header["position"]) if ok else -1  # type: ignore[index]
        first_hash, position_hash = str(header["first_hash"]), str(header["position_hash"])  # type: ignore[index]
        count, body_hash = int(header["aggregates"]), str(header["body_sha256"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise CheckpointError("the checkpoint is corrupt (unreadable header)")
    if hashlib.sha256(body).hexdigest() != body_hash:
        raise CheckpointError("the checkpoint is corrupt (its body does not match its hash)")
    last = app.recorder.max_notification_id() or 0
    if last < position:
        raise CheckpointError(
            f"the checkpoint is stale: it is at notification {position}, the log ends at {last}"
        )
    mark = log_mark(app, position)
    if mark is None or mark.first_hash != first_hash:
        raise CheckpointError("the checkpoint is from another store (the log's start differs)")
    if mark.position_hash != position_hash:
        raise CheckpointError(
            f"the checkpoint is stale: the log at notification {position} differs from it"
        )
    try:
        aggregates = _decode(body, count)
    except Exception as exc:
        raise CheckpointError(f"the checkpoint is corrupt ({type(exc).__name__})") from None
    return aggregates, position


def _decode(body: bytes, count: int) -> dict[str, Any]:
    records = orjson.loads(body)
    if not isinstance(records, list) or len(records) != count:
        raise ValueError("wrong number of aggregates")
    aggregates: dict[str, Any] = {}
    classes: dict[str, type[Any]] = {}
    parse = datetime.fromisoformat
    for topic, aggregate_id, version, created, modified, state in records:
        cls = classes.get(topic)
        if cls is None:
            cls = classes[topic] = resolve_topic(topic)
        state["_id"] = aggregate_id
        state["_version"] = version
        state["_created_on"] = None if created is None else parse(created)
        state["_modified_on"] = None if modified is None else parse(modified)
        state["_pending_events"] = []
        aggregate = object.__new__(cls)
        object.__setattr__(aggregate, "__dict__", state)
        aggregates[str(aggregate_id)] = aggregate
    return aggregates


# ------------------------------------------------------------------------ boot
@dataclass(frozen=True)
class BootLoad:
    """How boot loaded the world: from a checkpoint (its position) or a full replay."""

    from_checkpoint: bool
    position: int
    tail_events: int
    seconds: float
    reason: str = ""


def load_world_from_checkpoint(
    app: World, path: str | os.PathLike[str] | None
) -> tuple[dict[str, Any], GameState, BootLoad]:
    """The world's aggregates and live world: the checkpoint at ``path`` plus the log
    after it, or - when there is no usable checkpoint - a full replay, with a warning
    (no warning when ``path`` is ``None``: checkpoints are off)."""
    started = time.perf_counter()
    if path is not None and not app.recorder.max_notification_id():
        path = None  # an empty log: nothing to replay, nothing to warn about
        empty = True
    else:
        empty = False
    if path is not None:
        try:
            aggregates, position = read_checkpoint(path, app)
        except CheckpointError as exc:
            log.warning("%s; replaying the whole log", exc)
            reason = str(exc)
        else:
            to_domain_event = app.mapper.to_domain_event
            tail = 0
            for notification in iter_notifications(
                app, start=position + 1, page_size=REBUILD_PAGE_SIZE
            ):
                event: Any = to_domain_event(notification)
                key = str(event.originator_id)
                aggregates[key] = event.mutate(aggregates.get(key))
                tail += 1
            live = live_world_of(aggregates)
            seconds = time.perf_counter() - started
            return aggregates, live, BootLoad(True, position, tail, seconds)
    else:
        reason = "the log is empty" if empty else "checkpoints are off"
    aggregates, live = aggregates_and_game_state(app)
    last = app.recorder.max_notification_id() or 0
    seconds = time.perf_counter() - started
    return aggregates, live, BootLoad(False, last, last, seconds, reason)


# ---------------------------------------------------------------- saving them
class Checkpointer:
    """Saves the game's world as a checkpoint every ``interval`` recorded events.

    The :class:`~aethyr_domain.game.manager.Manager` calls :meth:`count` after each
    recorded decision and :meth:`before_change` before deciding the next command; a
    checkpoint is due after ``interval`` events and is taken at the first such moment
    the outbox is empty (see the module docstring). :meth:`close` (at shutdown) waits
    for the outbox to drain and saves a last one. Game thread only, except the
    writing, which runs in one background thread at a time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        app: World,
        decider: Any,
        sink: Any,
        *,
        interval: int,
        drain_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.app = app
        self.decider = decider
        self.sink = sink
        self.interval = interval
        self.drain_timeout = drain_timeout
        self.since = 0
        self.saved = 0
        self.last_error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def count(self, events: int) -> None:
        """``events`` more were recorded."""
        self.since += events

    def due(self) -> bool:
        return self.interval > 0 and self.since >= self.interval

    def before_change(self) -> None:
        """Save if due and everything decided is in the store (the outbox is empty)."""
        if self.due() and not self.busy() and self.sink.backlog() == 0:
            self.save()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def save(self, *, wait: bool = False) -> None:
        """Checkpoint the Decider's aggregates at the store's last notification id.

        Call only when the outbox is empty (the aggregates are then the store's world).
        """
        position = self.app.recorder.max_notification_id() or 0
        self.since = 0
        if position == 0:
            return
        aggregates = dict(self.decider.aggregates)  # the objects are never changed in place
        self.wait()
        self._thread = threading.Thread(
            target=self._write, args=(aggregates, position), name="checkpoint", daemon=True
        )
        self._thread.start()
        if wait:
            self.wait()

    def _write(self, aggregates: dict[str, Any], position: int) -> None:
        try:
            mark = log_mark(self.app, position)
            if mark is None:
                raise CheckpointError(f"the log has no notification {position}")
            write_checkpoint(self.path, self.app, aggregates, mark)
            self.saved += 1
        except Exception as exc:  # a failed checkpoint only costs a longer boot
            self.last_error = exc
            log.warning("cannot save a checkpoint: %s: %s", type(exc).__name__, exc)

    def wait(self) -> None:
        """Until the checkpoint being written (if any) is on disk."""
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """At shutdown: drain the outbox (bounded), then save a last checkpoint."""
        self.wait()
        if self.interval <= 0 or self.since == 0:
            return
        if self.sink.drain(self.drain_timeout) and self.sink.backlog() == 0:
            self.save(wait=True)
        else:
            log.warning("outbox not drained at shutdown: no checkpoint saved")
