"""The world view held in process memory (POPO persistence module).

Rows live in dictionaries keyed by primary key; a transaction keeps an undo
journal so that a failing event leaves no half-written rows and no tracking
record. One lock serialises writers, as the POPO recorders do.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.popo import POPOTrackingRecorder

from aethyr_domain.read.projections.migrations import (
    AddColumn,
    AppliedMigration,
    CreateTable,
    Migration,
)
from aethyr_domain.read.projections.view import Row, Transaction, WorldView

Table = dict[tuple[str, ...], Row]


class MemoryTransaction(Transaction):
    """Row access to a generation's dictionaries with an undo journal."""

    def __init__(
        self,
        tables: dict[str, Table],
        columns: dict[str, tuple[str, ...]],
        tracking: dict[str, int],
    ) -> None:
        self._tables = tables
        self._columns = columns
        self._tracking = tracking
        self._undo: list[tuple[str, tuple[str, ...], Row | None]] = []
        self._tracking_before = dict(tracking)

    def _table(self, table: str) -> Table:
        try:
            return self._tables[table]
        except KeyError:
            raise KeyError(f"no such read-model table: {table}") from None

    def get(self, table: str, key: tuple[str, ...]) -> Row | None:
        row = self._table(table).get(key)
        return copy.deepcopy(row) if row is not None else None

    def select(self, table: str, **where: Any) -> list[Row]:
        rows = self._table(table)
        for name in where:
            if name not in self._columns[table]:
                raise KeyError(f"no column {name!r} in read-model table {table}")
        return [
            copy.deepcopy(rows[key])
            for key in sorted(rows)
            if all(rows[key].get(col) == value for col, value in where.items())
        ]

    def put(self, table: str, row: Row) -> None:
        rows = self._table(table)
        key = self.key_of(table, row)
        self._undo.append((table, key, rows.get(key)))
        rows[key] = {col: copy.deepcopy(row.get(col)) for col in self._columns[table]}

    def delete(self, table: str, key: tuple[str, ...]) -> None:
        rows = self._table(table)
        if key in rows:
            self._undo.append((table, key, rows.pop(key)))

    def max_tracking_id(self, application_name: str) -> int | None:
        return self._tracking.get(application_name)

    def set_tracking_id(self, application_name: str, notification_id: int) -> None:
        self._tracking[application_name] = notification_id

    def rollback(self) -> None:
        for table, key, before in reversed(self._undo):
            if before is None:
                self._tables[table].pop(key, None)
            else:
                self._tables[table][key] = before
        self._tracking.clear()
        self._tracking.update(self._tracking_before)


class MemoryStore:
    """Everything a memory view holds; shared by the views of its generations."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.status: dict[int, str] = {}
        self.tables: dict[int, dict[str, Table]] = {}
        self.columns: dict[int, dict[str, tuple[str, ...]]] = {}
        self.tracking: dict[int, dict[str, int]] = {}
        self.migrations: dict[int, list[AppliedMigration]] = {}
        self.faults: dict[str, Row] = {}


class MemoryWorldView(WorldView, POPOTrackingRecorder):
    """The world view in memory (use with ``PERSISTENCE_MODULE=eventsourcing.popo``)."""

    def __init__(
        self,
        generation: int | None = None,
        schema_version: int | None = None,
        store: MemoryStore | None = None,
    ) -> None:
        super().__init__()
        self.store = store if store is not None else MemoryStore()
        self._open(generation, schema_version)

    def open_generation(self, generation: int) -> MemoryWorldView:
        return MemoryWorldView(generation=generation, store=self.store)

    @contextmanager
    def _transaction(self, generation: int, *, write: bool) -> Iterator[Transaction]:
        st = self.store
        with st.lock:
            tx = MemoryTransaction(
                st.tables[generation], st.columns[generation], st.tracking[generation]
            )
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            if not write:
                tx.rollback()

    def _ensure_meta(self) -> None:
        """Nothing to create: the metadata are attributes of the store."""

    def _generations(self) -> dict[int, str]:
        with self.store.lock:
            return dict(self.store.status)

    def _set_generation(self, generation: int, status: str | None) -> None:
        st = self.store
        with st.lock:
            if status is None:
                st.status.pop(generation, None)
                return
            st.status[generation] = status
            st.tables.setdefault(generation, {})
            st.columns.setdefault(generation, {})
            st.tracking.setdefault(generation, {})
            st.migrations.setdefault(generation, [])

    def _applied(self, generation: int) -> list[AppliedMigration]:
        with self.store.lock:
            return list(self.store.migrations.get(generation, []))

    def _apply_migration(self, generation: int, migration: Migration, applied_at: str) -> None:
        st = self.store
        with st.lock:
            tables = st.tables[generation]
            columns = st.columns[generation]
            for op in migration.operations:
                if isinstance(op, CreateTable):
                    tables.setdefault(op.table, {})
                    columns[op.table] = tuple(c.name for c in op.columns)
                elif isinstance(op, AddColumn):
                    columns[op.table] = (*columns[op.table], op.column.name)
                    for row in tables[op.table].values():
                        row[op.column.name] = op.default
            st.migrations[generation].append(
                AppliedMigration(migration.version, migration.name, applied_at, migration.checksum)
            )

    def _drop_generation_tables(self, generation: int) -> None:
        st = self.store
        with st.lock:
            for store in (st.tables, st.columns, st.tracking, st.migrations):
                store.pop(generation, None)

    def _put_fault(self, row: Row) -> None:
        with self.store.lock:
            self.store.faults[str(row["projection"])] = dict(row)

    def _delete_fault(self, projection: str) -> None:
        with self.store.lock:
            self.store.faults.pop(projection, None)

    def _fault_rows(self) -> list[Row]:
        with self.store.lock:
            return [dict(self.store.faults[name]) for name in sorted(self.store.faults)]
