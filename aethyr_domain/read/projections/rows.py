"""Row access inside one read-model transaction: the interface every view backend offers.

:class:`Rows` is what the projection's handlers read and write through (``get``,
``select``, ``put``, ``delete``); :class:`Transaction` adds the generation's tracking
record, written in the same transaction, and :meth:`Transaction.write`, which stores a
batch's final rows at once. The backends (memory, SQLite, immudb) implement them in
their view modules; :class:`~.batch_rows.BatchRows` wraps a :class:`Transaction` so
that a batch reads each row once and writes once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from aethyr_domain.read.projections.migrations import primary_key

Row = dict[str, Any]
"""One read-model row: column name -> Python value (json columns hold decoded JSON)."""

Change = tuple[str, tuple[Any, ...], Row | None]
"""The final state of one row a batch touched: (table, primary key, row or ``None`` if
deleted); see :meth:`Transaction.write`."""


class Rows(ABC):
    """Row access to one generation's tables inside one transaction.

    ``key`` arguments are tuples of primary-key values in the table's key
    column order (see :func:`~.migrations.primary_key`). ``select`` returns rows
    ordered by primary key.
    """

    @abstractmethod
    def get(self, table: str, key: tuple[str, ...]) -> Row | None:
        """The row with that primary key, or ``None``."""

    @abstractmethod
    def select(self, table: str, **where: Any) -> list[Row]:
        """Rows whose columns equal the given values (all rows without filters)."""

    @abstractmethod
    def put(self, table: str, row: Row) -> None:
        """Insert or replace the row with the primary key found in ``row``."""

    @abstractmethod
    def delete(self, table: str, key: tuple[str, ...]) -> None:
        """Delete the row with that primary key if it exists."""

    def prefetch(self, table: str, column: str, values: Iterable[Any]) -> None:
        """A hint that the rows of ``table`` whose ``column`` is one of ``values`` will be
        read: :class:`~.batch_rows.BatchRows` reads them in one query; others ignore it."""
        return

    def select_in(self, table: str, column: str, values: Iterable[Any]) -> list[Row]:
        """Rows whose ``column`` is one of ``values`` (SQL views: one query)."""
        return [row for value in values for row in self.select(table, **{column: value})]

    def update(self, table: str, key: tuple[str, ...], **values: Any) -> bool:
        """Change some columns of an existing row; ``False`` if there is no such row."""
        row = self.get(table, key)
        if row is None:
            return False
        row.update(values)
        self.put(table, row)
        return True

    @staticmethod
    def key_of(table: str, row: Row) -> tuple[str, ...]:
        """The primary-key tuple of ``row``."""
        return tuple(row[name] for name in primary_key(table))


class Transaction(Rows, ABC):
    """:class:`Rows` plus the generation's tracking record, written atomically."""

    @abstractmethod
    def max_tracking_id(self, application_name: str) -> int | None:
        """The tracking position of this generation for ``application_name``."""

    @abstractmethod
    def set_tracking_id(self, application_name: str, notification_id: int) -> None:
        """Store the new tracking position (after :meth:`track` checked it)."""

    def check_tracking(self, tracking: Tracking, first: int | None = None) -> None:
        """:class:`IntegrityError` unless ``tracking`` moves the view's position forward
        and, given ``first`` (the notification id of a batch's first event), unless
        the whole batch is after the position: none of its events was applied yet."""
        current = self.max_tracking_id(tracking.application_name)
        floor = tracking.notification_id if first is None else min(first, tracking.notification_id)
        if current is not None and floor <= current:
            span = (
                f"#{tracking.notification_id}"
                if first is None
                else f"#{floor}-#{tracking.notification_id}"
            )
            msg = (
                f"tracking {tracking.application_name} {span} is not "
                f"after the view's position #{current}"
            )
            raise IntegrityError(msg)

    def track(self, tracking: Tracking) -> None:
        """Record ``tracking``; :class:`IntegrityError` unless it moves forward."""
        self.check_tracking(tracking)
        self.set_tracking_id(tracking.application_name, tracking.notification_id)

    def write(
        self, changes: list[Change], tracking: Tracking | None, first: int | None = None
    ) -> None:
        """Write the final state of the rows a batch touched, then record ``tracking``
        (:class:`IntegrityError` unless it moves forward - from ``first`` on, when
        given - and then nothing is kept: the transaction is not committed). The SQL
        views override this to send the rows as one multi-row statement per table."""
        if tracking is not None:
            self.check_tracking(tracking, first)
        for table, key, row in changes:
            if row is None:
                self.delete(table, key)
            else:
                self.put(table, row)
        if tracking is not None:
            self.set_tracking_id(tracking.application_name, tracking.notification_id)
