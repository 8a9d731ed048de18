"""The history of one object: every event of its stream, in order, from the store.

What an admin asks when a sword goes missing: ``aethyr-es history ID`` lists
each event of the object with its version, time, actor (the player or admin
whose command caused it, or ``system``) and what changed (the event's fields),
plus where it sits in the log: its notification id (``position``) and, on the
immudb store, the immudb transaction that committed it (``tx``) - either can be
handed to ``world --at`` (see :mod:`aethyr_domain.read.log_positions`). Password
hashes are never shown, only that the password changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import Application

#: Event fields that describe the event rather than the change.
_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
)
#: Fields whose value is never printed.
_SECRET = frozenset({"password_hash", "password"})

REDACTED = "<redacted>"


class NoHistoryError(LookupError):
    """The store has no events for that id."""

    def __init__(self, object_id: str) -> None:
        super().__init__(f"no events recorded for object {object_id!r}")
        self.object_id = object_id


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an object's stream."""

    version: int
    time: str
    actor: str
    event: str
    changes: dict[str, Any]
    position: int | None = None
    """The event's notification id."""
    tx: int | None = None
    """The immudb transaction that committed the event (``None`` on other stores)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        changes = " ".join(f"{k}={v!r}" for k, v in sorted(self.changes.items()))
        where = f"#{self.position}" if self.position is not None else "#?"
        if self.tx is not None:
            where += f" tx {self.tx}"
        return (
            f"v{self.version:<4} {where:<14} {self.time}  {self.actor:<12} {self.event} {changes}"
        ).rstrip()


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or type(value).__name__ == "mappingproxy":
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _changes(event: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(event):
        names = [f.name for f in dataclasses.fields(event)]
    else:  # pragma: no cover - every world event is a dataclass
        names = list(vars(event))
    return {
        name: REDACTED if name in _SECRET else _plain(getattr(event, name))
        for name in names
        if name not in _ENVELOPE
    }


def object_history(app: Application[Any], object_id: str) -> list[HistoryEntry]:
    """Every event of ``object_id``'s stream (not snapshots), oldest first."""
    from aethyr_domain.read.log_positions import stream_positions, transaction_ids

    positions = stream_positions(app, object_id)
    txs = transaction_ids(app, positions.values())
    entries: list[HistoryEntry] = []
    for event in app.events.get(object_id):
        stamp = getattr(event, "timestamp", None)
        position = positions.get(int(event.originator_version))
        entries.append(
            HistoryEntry(
                version=int(event.originator_version),
                time=stamp.isoformat() if isinstance(stamp, datetime) else str(stamp),
                actor=str(getattr(event, "actor", "") or "system"),
                event=type(event).__name__,
                changes=_changes(event),
                position=position,
                tx=None if position is None else txs.get(position),
            )
        )
    if not entries:
        raise NoHistoryError(object_id)
    return entries


def history_json(app: Application[Any], object_id: str) -> dict[str, Any]:
    """``{"id": ..., "events": [...]}`` for ``history --json``."""
    return {"id": object_id, "events": [e.as_dict() for e in object_history(app, object_id)]}


def history_text(app: Application[Any], object_id: str) -> str:
    """One line per event for ``history``."""
    return "\n".join(e.line() for e in object_history(app, object_id)) + "\n"
