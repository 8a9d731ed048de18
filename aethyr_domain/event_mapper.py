"""The World's mapper: decoding failures name the stored event, never a bare traceback.

eventsourcing's :class:`~eventsourcing.persistence.Mapper` turns stored events back
into domain events. Left alone, a row it cannot read fails with whatever the failing
step raised (``TopicError`` for an unknown class, a JSON error for damaged state,
``AttributeError`` much later when a field is missing). :class:`CheckedMapper`
catches all of these at the one place every read passes through (the repository,
the notification log, the projections) and raises
:class:`~aethyr_domain.errors.CorruptEventError` with the aggregate id and the
version of the offending event::

    CorruptEventError: Stored event 3 of aggregate 'room-1' cannot be decoded:
    unknown topic 'aethyr_domain.events:NoSuchEvent'

It also checks that the decoded state has every field the event's dataclass
declares (after upcasting), so a damaged but still well-formed row is refused
when read, not when some later ``apply()`` trips over it.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import TopicError

from aethyr_domain.errors import CorruptEventError


@lru_cache(maxsize=256)
def _required_fields(cls: type[Any]) -> frozenset[str]:
    if not dataclasses.is_dataclass(cls):
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(cls))


class CheckedMapper(Mapper[str]):
    """A :class:`~eventsourcing.persistence.Mapper` whose failures name the event."""

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[str]:
        aggregate_id = str(stored_event.originator_id)
        version = int(stored_event.originator_version)
        try:
            event = super().to_domain_event(stored_event)
        except TopicError:
            raise CorruptEventError(
                aggregate_id, version, f"unknown topic {stored_event.topic!r}"
            ) from None
        except Exception as exc:
            reason = f"{type(exc).__name__} in the stored state ({_first_line(exc)})"
            raise CorruptEventError(aggregate_id, version, reason) from exc
        missing = _required_fields(type(event)) - vars(event).keys()
        if missing:
            reason = f"missing field(s) {', '.join(sorted(missing))} for {type(event).__name__}"
            raise CorruptEventError(aggregate_id, version, reason)
        return event


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
