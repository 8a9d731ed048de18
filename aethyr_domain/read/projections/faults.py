"""What a projection reports when it cannot apply an event, and how it waits to retry.

A read model must never stop the game: when a view cannot apply an event (a
value its column cannot hold, a full disk, a bug in a handler, a store outage),
the follower (:class:`~.runner.ProjectionService`, in the game or in
``aethyr-es project``) does not die. It

* reports a :class:`ProjectionFault` - which event (notification id, aggregate
  id, version), the error, how many attempts failed and since when - in the log
  (a warning per attempt), in the metrics (``aethyr_projection_follower_errors_total``
  by reason ``event`` or ``outage``, ``aethyr_projection_stuck_events``) and in the
  store itself (the ``projection_faults`` table next to the read model, read by
  ``aethyr-es stats`` from another process);
* waits with exponential backoff (:class:`Backoff`, bounded by a maximum delay)
  and tries the same event again;
* clears the report once the event is applied.

Synchronous callers (``world --source projection``, ``rebuild``,
``project --once``) get a :class:`ProjectionApplyError` instead: one line naming
the event and the error, exit code 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eventsourcing.persistence import Tracking

FAULTS_TABLE = "projection_faults"
"""The metadata table holding one row per projection that is stuck on an event."""

MAX_ERROR_LENGTH = 500
"""Error texts are cut to this many characters before they are stored or logged."""


def describe_error(exc: BaseException) -> str:
    """``"TypeName: message"``, cut to :data:`MAX_ERROR_LENGTH` characters."""
    text = f"{type(exc).__name__}: {exc}"
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 3] + "..."
    return text


class ProjectionApplyError(RuntimeError):
    """A view could not apply one event of the log (the cause is chained)."""

    def __init__(
        self,
        error: str,
        notification_id: int | None = None,
        aggregate_id: str | None = None,
        version: int | None = None,
    ) -> None:
        self.error = error
        self.notification_id = notification_id
        self.aggregate_id = aggregate_id
        self.version = version
        super().__init__(f"the read model cannot {self.what()}: {error}")

    @classmethod
    def of(cls, event: Any, tracking: Tracking | None, exc: BaseException) -> ProjectionApplyError:
        """The error for ``event`` (a domain event or a stored notification)."""
        originator = getattr(event, "originator_id", None)
        version = getattr(event, "originator_version", None)
        return cls(
            describe_error(exc),
            None if tracking is None else tracking.notification_id,
            None if originator is None else str(originator),
            version if isinstance(version, int) else None,
        )

    def what(self) -> str:
        """``"apply event #12 (...)"``, or ``"follow the event log"`` when the failure
        is not tied to one event (the store did not answer, the subscription failed)."""
        if self.notification_id is None and self.aggregate_id is None:
            return "follow the event log"
        return f"apply {self.where()}"

    def where(self) -> str:
        """``"event #12 (aggregate X, version 3)"`` with what is known."""
        if self.notification_id is None and self.aggregate_id is None:
            return "the event log"
        parts = [] if self.aggregate_id is None else [f"aggregate {self.aggregate_id}"]
        if self.version is not None:
            parts.append(f"version {self.version}")
        number = "" if self.notification_id is None else f" #{self.notification_id}"
        return f"event{number}" + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class ProjectionFault:
    """A projection stuck on one event (one row of ``projection_faults``)."""

    projection: str
    generation: int
    notification_id: int | None
    aggregate_id: str | None
    version: int | None
    error: str
    attempts: int
    first_failed_at: str
    """ISO-8601 UTC time of the first failed attempt on this event."""
    last_failed_at: str
    """ISO-8601 UTC time of the last failed attempt."""
    retry_in: float
    """Seconds the follower waits after the last attempt before the next one."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for ``aethyr-es stats`` and the log."""
        what = ProjectionApplyError(
            self.error, self.notification_id, self.aggregate_id, self.version
        ).what()
        return (
            f"{self.projection} (generation {self.generation}) cannot {what}: "
            f"{self.error}; {self.attempts} attempt(s) since {self.first_failed_at}, "
            f"next in {self.retry_in:g}s"
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProjectionFault:
        """The fault stored as ``row`` (column name -> value)."""

        def optional_int(value: Any) -> int | None:
            return None if value is None else int(value)

        return cls(
            projection=str(row["projection"]),
            generation=int(row["generation"]),
            notification_id=optional_int(row.get("notification_id")),
            aggregate_id=None if row.get("aggregate_id") is None else str(row["aggregate_id"]),
            version=optional_int(row.get("version")),
            error=str(row["error"]),
            attempts=int(row["attempts"]),
            first_failed_at=str(row["first_failed_at"]),
            last_failed_at=str(row["last_failed_at"]),
            retry_in=float(row["retry_in_ms"]) / 1000.0,
        )

    def row(self) -> dict[str, Any]:
        """The fault as a ``projection_faults`` row (``retry_in`` in milliseconds)."""
        data = self.as_dict()
        data["retry_in_ms"] = round(data.pop("retry_in") * 1000)
        return data


FAULT_COLUMNS = (
    "projection",
    "generation",
    "notification_id",
    "aggregate_id",
    "version",
    "error",
    "attempts",
    "first_failed_at",
    "last_failed_at",
    "retry_in_ms",
)
"""The columns of ``projection_faults`` in table order (``projection`` is the key)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``first`` seconds, doubling per failed attempt, at most
    ``maximum`` seconds."""

    first: float = 0.5
    maximum: float = 30.0

    def __post_init__(self) -> None:
        if self.first <= 0 or self.maximum < self.first:
            msg = f"need 0 < first <= maximum, got first={self.first}, maximum={self.maximum}"
            raise ValueError(msg)

    def delay(self, attempts: int) -> float:
        """The wait after ``attempts`` failed attempts (1 -> ``first``)."""
        exponent = min(max(attempts - 1, 0), 60)
        return min(self.first * 2.0**exponent, self.maximum)
