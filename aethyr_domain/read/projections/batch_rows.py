"""Rows of one view transaction, read once and written once.

A batch of events (what the follower applies in one view transaction) used to
cost one SQL query and one SQL statement per event: every handler of
:mod:`.projection` reads the row it changes (``get``), then writes it back
(``put``). On immudb each of those is a gRPC round trip inside the interactive
transaction, so the projection's cost grew with the events, not with the
batches.

:class:`BatchRows` sits between the handlers and the backend's
:class:`~.rows.Transaction`:

* **reads** go to the transaction at most once per key (or per ``select``): the
  rows the store held when the transaction began are kept in a *base* cache,
  and :meth:`BatchRows.prefetch` fills it for a whole batch with one query per
  table (``WHERE column IN (...)``);
* **writes** are kept in an *overlay* (key -> the row, or ``None`` once
  deleted) that every later read of the batch sees, and :meth:`BatchRows.flush`
  hands the final state of each touched row, with the tracking record, to
  :meth:`~.rows.Transaction.write` (the SQL views send it as one multi-row
  statement per table).

Nothing reaches the store before :meth:`~BatchRows.flush`, and the store is
not written by anyone else inside the transaction, so the base cache stays the
store's state and "base, then overlay" is exactly what the handlers would have
read one statement at a time: the same rows, the same exactly-once tracking.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import Tracking

from aethyr_domain.read.projections.migrations import primary_key
from aethyr_domain.read.projections.rows import Change, Row, Rows, Transaction

Where = tuple[tuple[str, Any], ...]


def _matches(row: Row, where: Where) -> bool:
    return all(row.get(name) == value for name, value in where)


class BatchRows(Rows):
    """:class:`~.rows.Rows` over a transaction, with reads cached and writes deferred
    to :meth:`flush` (see the module docstring)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        # table -> [(where, the store's rows matching it)]: complete selections
        self._selected: dict[str, list[tuple[Where, list[Row]]]] = {}
        # (table, key) -> the store's row (None: the store has none)
        self._got: dict[tuple[str, tuple[Any, ...]], Row | None] = {}
        # table -> key -> the row written in this batch (None: deleted)
        self._overlay: dict[str, dict[tuple[Any, ...], Row | None]] = {}

    # -- the store's state (read at most once) -----------------------------
    def prefetch(self, table: str, column: str, values: Iterable[Any]) -> None:
        """Read every row of ``table`` whose ``column`` is one of ``values`` in one
        query, so the batch's later ``get``/``select`` on them need none."""
        known = {w for w, _ in self._selected.get(table, [])}
        todo = sorted({v for v in values if v is not None and ((column, v),) not in known})
        if not todo:
            return
        found: dict[Any, list[Row]] = {v: [] for v in todo}
        for row in self.tx.select_in(table, column, todo):
            found[row[column]].append(row)
        for value, rows in found.items():
            self._selected.setdefault(table, []).append((((column, value),), rows))

    def _base_select(self, table: str, where: Where) -> list[Row]:
        for cached, rows in self._selected.get(table, []):
            if set(cached) <= set(where):
                return [row for row in rows if _matches(row, where)]
        rows = self.tx.select(table, **dict(where))
        self._selected.setdefault(table, []).append((where, rows))
        return rows

    def _base_get(self, table: str, key: tuple[Any, ...]) -> Row | None:
        if (table, key) in self._got:
            return self._got[(table, key)]
        where = tuple(zip(primary_key(table), key, strict=True))
        for cached, rows in self._selected.get(table, []):
            if set(cached) <= set(where):
                hit = [row for row in rows if _matches(row, where)]
                return hit[0] if hit else None
        row = self.tx.get(table, key)
        self._got[(table, key)] = row
        return row

    # -- Rows ------------------------------------------------------------------
    def get(self, table: str, key: tuple[str, ...]) -> Row | None:
        overlay = self._overlay.get(table, {})
        row = overlay[key] if key in overlay else self._base_get(table, key)
        return None if row is None else dict(row)

    def select(self, table: str, **where: Any) -> list[Row]:
        condition: Where = tuple(sorted(where.items()))
        rows = {self.key_of(table, row): row for row in self._base_select(table, condition)}
        for key, row in self._overlay.get(table, {}).items():
            if row is not None and _matches(row, condition):
                rows[key] = row
            else:
                rows.pop(key, None)
        return [dict(rows[key]) for key in sorted(rows)]

    def put(self, table: str, row: Row) -> None:
        self._overlay.setdefault(table, {})[self.key_of(table, row)] = dict(row)

    def delete(self, table: str, key: tuple[str, ...]) -> None:
        self._overlay.setdefault(table, {})[tuple(key)] = None

    # -- the end of the batch ------------------------------------------------
    def changes(self) -> list[Change]:
        """The final state of every row the batch touched: (table, key, row or ``None``)."""
        return [
            (table, key, row) for table, rows in self._overlay.items() for key, row in rows.items()
        ]

    def flush(self, tracking: Tracking | None, first: int | None = None) -> None:
        """Write the batch's rows and ``tracking`` through the transaction (``first``:
        the notification id of the batch's first event, see
        :meth:`~.rows.Rows.check_tracking`)."""
        self.tx.write(self.changes(), tracking, first)
