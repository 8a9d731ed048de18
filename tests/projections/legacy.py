"""Writing values the values rule refuses today, as a store written before it holds them.

The event log is append-only: a store recorded before the values rule (integers in
the signed 64-bit range, finite floats, bounded strings) may hold any value the event
transcoder could write. :func:`record_legacy_attribute` appends such an event
straight through the recorder - no command, no aggregate method, so no check of
today's rules runs - which is exactly what such a store looks like to the code that
opens it.
"""

from __future__ import annotations

from typing import Any

from aethyr_domain.application import World
from aethyr_domain.events import GameObjectAttributeUpdated

REPRO_VALUE = 99999999999999999999999999999
"""The value of issue 12's first reproduction (``aset here @n 9999...``)."""


def record_legacy_attribute(
    world: World, object_id: str, key: str, value: Any, actor: str = "system"
) -> int:
    """Append ``attributes[key] = value`` for ``object_id`` to the log; return its
    notification id."""
    obj = world.get(object_id)
    event = GameObjectAttributeUpdated(  # type: ignore[call-arg]
        originator_id=obj.id,
        originator_version=obj.version + 1,
        timestamp=GameObjectAttributeUpdated.create_timestamp(),
        key=key,
        value=value,
        actor=actor,
    )
    ids = world.recorder.insert_events([world.mapper.to_stored_event(event)])
    assert ids, "the recorder returned no notification id"
    return int(ids[-1])
