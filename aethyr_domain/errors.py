"""Typed errors raised by the Aethyr world domain.

Every error carries a ``message`` that a game can show to a player or an
admin as it is: it names the object and the rule, never a password or any
other secret. All of them derive from :class:`DomainError`, so a caller that
only wants "did the world refuse this?" can catch that one class.

A command that raises any of these has written nothing: handlers decide
everything before they call ``save()``, and ``save()`` is atomic.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the world refused a command or a query."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidCommandError(DomainError, ValueError):
    """A command field has the wrong type, is empty, too long or malformed.

    ``field`` names the offending command field (never its value when the
    field is secret, such as a password).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFoundError(DomainError, LookupError):
    """The command names an object that does not exist."""

    def __init__(self, object_id: str, what: str = "object") -> None:
        super().__init__(f"No {what} with id {object_id!r} exists.")
        self.object_id = object_id


class AlreadyExistsError(DomainError):
    """Something the command would create exists already (id, name, exit...)."""


class ObjectDeletedError(DomainError):
    """The command names an object that has been deleted; it accepts nothing more."""

    def __init__(self, object_id: str) -> None:
        super().__init__(f"Object {object_id!r} has been deleted.")
        self.object_id = object_id


class WrongKindError(DomainError):
    """The object exists but is the wrong kind (e.g. a room where a player is needed)."""

    def __init__(self, object_id: str, expected: str) -> None:
        super().__init__(f"Object {object_id!r} is not a {expected}.")
        self.object_id = object_id
        self.expected = expected


class InvariantViolationError(DomainError):
    """The command is well formed but would break a rule of the world.

    Examples: putting a bag inside itself, equipping an item the character is
    not holding, putting a player anywhere but a room, removing a missing exit.
    """


class SlotOccupiedError(InvariantViolationError):
    """The character already wears or wields something where the item would go.

    Raised by ``EquipItem`` when the slot (at the item's layer) or a conflicting hand
    slot is taken; the game tries the other slot of a pair (left/right) on this error.
    """


class ConcurrencyConflictError(DomainError):
    """Other writers kept changing the same objects; the command gave up.

    Raised after the handler has reloaded and re-validated the command a
    bounded number of times and every attempt clashed on a version number.
    Nothing was written; the caller may try again later.
    """


class CorruptEventError(DomainError):
    """A stored event cannot be turned back into a domain event.

    Raised when an event's topic names no known class, its state does not decode,
    or the decoded state lacks a field its class requires (written by something
    other than this domain, or damaged). ``aggregate_id`` and ``version`` say which
    stored event it is, so an operator can look at exactly that row.
    """

    def __init__(self, aggregate_id: str, version: int, reason: str) -> None:
        super().__init__(
            f"Stored event {version} of aggregate {aggregate_id!r} cannot be decoded: {reason}"
        )
        self.aggregate_id = aggregate_id
        self.version = version
        self.reason = reason
