"""Row access and DDL shared by the SQL views (SQLite and immudb SQL).

A :class:`SqlDialect` says how one database spells parameters, column types
and "insert or replace"; :class:`SqlTransaction` turns the :class:`~.view.Rows`
operations into statements of that dialect and runs them through two
callables supplied by the backend (one that executes, one that queries), so
the SQL views differ only in how they open a transaction.
"""

# Table and column names in these statements come from the code's migrations,
# never from input; every value is a bound parameter (S608 does not apply).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from aethyr_domain.read.projections.json_values import decode_json, encode_json
from aethyr_domain.read.projections.migrations import (
    LATEST_VERSION,
    AddColumn,
    Column,
    CreateTable,
    Operation,
    primary_key,
    tables_at,
)
from aethyr_domain.read.projections.view import Change, Row, Transaction

ROWS_PER_STATEMENT = 100
"""Most rows in one multi-row upsert (keeps SQLite under its bound-parameter limit)."""

VALUES_PER_UNION = 100
"""Most values in one ``UNION ALL`` lookup (:attr:`SqlDialect.in_list_by_union`)."""

Execute = Callable[[str, dict[str, Any]], None]
Query = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]


def table_name(generation: int, table: str) -> str:
    """The physical name of a generation's table: ``rm<N>_<table>``."""
    return f"rm{generation}_{table}"


def tracking_table(generation: int) -> str:
    """The physical name of a generation's tracking table."""
    return table_name(generation, "tracking")


@dataclass(frozen=True)
class SqlDialect:
    """How one SQL database spells what the views need."""

    param_prefix: str  # ":" for SQLite, "@" for immudb
    upsert: str  # "INSERT OR REPLACE INTO" / "UPSERT INTO"
    text_type: str
    key_text_type: str  # may contain "{n}" for the column's max length
    integer_type: str
    boolean_type: str
    json_type: str
    table_suffix: str = ""
    multi_statement: bool = False
    """``True`` when one call may run several ``;``-separated statements (immudb's
    ``SQLExec``); SQLite's ``execute`` runs one."""
    in_list_by_union: bool = False
    """``True`` when ``WHERE key IN (a, b, ...)`` reads the whole table (immudb 1.11:
    its planner uses an index for ``=`` and ranges, not for ``IN``, so the query's
    cost grows with the table, not with the list). :meth:`SqlTransaction.select_in`
    then asks ``SELECT ... WHERE key = a UNION ALL SELECT ... WHERE key = b ...``
    instead, one index lookup per value, when ``key`` leads the primary key."""

    def param(self, name: str) -> str:
        return f"{self.param_prefix}{name}"

    def column_type(self, column: Column) -> str:
        if column.type == "integer":
            return self.integer_type
        if column.type == "boolean":
            return self.boolean_type
        if column.type == "json":
            return self.json_type
        if column.key:
            return self.key_text_type.format(n=column.max_length)
        return self.text_type

    def column_ddl(self, column: Column) -> str:
        null = " NOT NULL" if column.key or not column.nullable else ""
        return f"{column.name} {self.column_type(column)}{null}"

    def ddl(self, generation: int, op: Operation) -> list[str]:
        """The statements for one migration operation on a generation's tables."""
        table = table_name(generation, op.table)
        if isinstance(op, CreateTable):
            cols = ", ".join(self.column_ddl(c) for c in op.columns)
            pk = ", ".join(op.primary_key)
            return [
                f"CREATE TABLE IF NOT EXISTS {table} "
                f"({cols}, PRIMARY KEY ({pk})){self.table_suffix}"
            ]
        assert isinstance(op, AddColumn)
        statements = [
            f"ALTER TABLE {table} ADD COLUMN {op.column.name} {self.column_type(op.column)}"
        ]
        if op.default is not None:
            statements.append(
                f"UPDATE {table} SET {op.column.name} = {self.literal(op.default)} "
                f"WHERE {op.column.name} IS NULL"
            )
        return statements

    def literal(self, value: str | int | bool) -> str:
        """A SQL literal for a migration default (never user input)."""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        return "'" + value.replace("'", "''") + "'"


class SqlTransaction(Transaction):
    """:class:`~.view.Rows` over one open SQL transaction."""

    def __init__(
        self,
        dialect: SqlDialect,
        generation: int,
        execute: Execute,
        query: Query,
        version: int = LATEST_VERSION,
    ) -> None:
        self.dialect = dialect
        self.generation = generation
        self._execute = execute
        self._query = query
        self._tables = tables_at(version)

    def _columns(self, table: str) -> tuple[Column, ...]:
        try:
            return self._tables[table]
        except KeyError:
            raise KeyError(f"no such read-model table: {table}") from None

    # value conversion -----------------------------------------------------
    def _to_sql(self, column: Column, value: Any) -> Any:
        if column.type == "json":
            return encode_json(value)
        if column.type == "boolean" and value is not None:
            return bool(value)
        return value

    @staticmethod
    def _from_sql(column: Column, value: Any) -> Any:
        if value is None:
            return None
        if column.type == "json":
            return decode_json(value)
        if column.type == "boolean":
            return bool(value)
        return value

    def _where(self, table: str, where: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        columns = {c.name: c for c in self._columns(table)}
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for i, (name, value) in enumerate(sorted(where.items())):
            if name not in columns:
                raise KeyError(f"no column {name!r} in read-model table {table}")
            if value is None:
                clauses.append(f"{name} IS NULL")
            else:
                clauses.append(f"{name} = {self.dialect.param(f'w{i}')}")
                params[f"w{i}"] = self._to_sql(columns[name], value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _select(self, table: str, where: dict[str, Any]) -> list[Row]:
        columns = self._columns(table)
        clause, params = self._where(table, where)
        order = ", ".join(primary_key(table))
        sql = (
            f"SELECT {', '.join(c.name for c in columns)} "
            f"FROM {table_name(self.generation, table)}{clause} ORDER BY {order}"
        )
        return [
            {c.name: self._from_sql(c, v) for c, v in zip(columns, record, strict=True)}
            for record in self._query(sql, params)
        ]

    # Rows ---------------------------------------------------------------
    def get(self, table: str, key: tuple[str, ...]) -> Row | None:
        rows = self._select(table, dict(zip(primary_key(table), key, strict=True)))
        return rows[0] if rows else None

    def select(self, table: str, **where: Any) -> list[Row]:
        return self._select(table, where)

    def select_in(self, table: str, column: str, values: Iterable[Any]) -> list[Row]:
        """The rows whose ``column`` is one of ``values``, in primary-key order: one
        query (``IN``), or one ``UNION ALL`` of index lookups per
        :data:`VALUES_PER_UNION` values where the dialect asks for it."""
        columns = self._columns(table)
        by_name = {c.name: c for c in columns}
        if column not in by_name:
            raise KeyError(f"no column {column!r} in read-model table {table}")
        wanted = [self._to_sql(by_name[column], v) for v in values]
        if not wanted:
            return []
        key = primary_key(table)
        names = ", ".join(c.name for c in columns)
        source = table_name(self.generation, table)
        records: list[tuple[Any, ...]] = []
        if self.dialect.in_list_by_union and column == key[0]:
            for start in range(0, len(wanted), VALUES_PER_UNION):
                chunk = wanted[start : start + VALUES_PER_UNION]
                params = {f"i{i}": v for i, v in enumerate(chunk)}
                sql = " UNION ALL ".join(
                    f"SELECT {names} FROM {source} WHERE {column} = {self.dialect.param(name)}"
                    for name in params
                )
                records.extend(self._query(sql, params))
            at = [next(i for i, c in enumerate(columns) if c.name == k) for k in key]
            records.sort(key=lambda record: tuple(record[i] for i in at))
        else:
            params = {f"i{i}": v for i, v in enumerate(wanted)}
            marks = ", ".join(self.dialect.param(name) for name in params)
            sql = (
                f"SELECT {names} FROM {source} WHERE {column} IN ({marks}) "
                f"ORDER BY {', '.join(key)}"
            )
            records = self._query(sql, params)
        return [
            {c.name: self._from_sql(c, v) for c, v in zip(columns, record, strict=True)}
            for record in records
        ]

    def _upsert(self, table: str, rows: list[Row], prefix: str) -> tuple[str, dict[str, Any]]:
        """One (multi-row) insert-or-replace of ``rows``; parameter names start with
        ``prefix`` so that several statements can share one parameter set."""
        columns = self._columns(table)
        names = ", ".join(c.name for c in columns)
        tuples: list[str] = []
        params: dict[str, Any] = {}
        for r, row in enumerate(rows):
            values: list[str] = []
            for i, column in enumerate(columns):
                value = self._to_sql(column, row.get(column.name))
                if value is None:
                    values.append("NULL")  # immudb-py cannot bind None
                else:
                    name = f"{prefix}r{r}c{i}"
                    values.append(self.dialect.param(name))
                    params[name] = value
            tuples.append(f"({', '.join(values)})")
        sql = (
            f"{self.dialect.upsert} {table_name(self.generation, table)} ({names}) "
            f"VALUES {', '.join(tuples)}"
        )
        return sql, params

    def _delete(self, table: str, key: tuple[Any, ...], prefix: str) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for i, (name, value) in enumerate(zip(primary_key(table), key, strict=True)):
            clauses.append(f"{name} = {self.dialect.param(f'{prefix}k{i}')}")
            params[f"{prefix}k{i}"] = value
        sql = f"DELETE FROM {table_name(self.generation, table)} WHERE {' AND '.join(clauses)}"
        return sql, params

    def put(self, table: str, row: Row) -> None:
        self._execute(*self._upsert(table, [row], "p"))

    def delete(self, table: str, key: tuple[str, ...]) -> None:
        self._execute(*self._delete(table, key, "w"))

    def write(
        self, changes: list[Change], tracking: Tracking | None, first: int | None = None
    ) -> None:
        """Check ``tracking``, then write every row in as few statements as the dialect
        allows: one multi-row upsert per table (at most :data:`ROWS_PER_STATEMENT`
        rows each), one delete per deleted row, the tracking row; all in ONE call
        when the dialect runs several statements at once (immudb)."""
        statements: list[tuple[str, dict[str, Any]]] = []
        if tracking is not None:
            self.check_tracking(tracking, first)
        puts: dict[str, list[Row]] = {}
        for n, (table, key, row) in enumerate(changes):
            if row is None:
                statements.append(self._delete(table, key, f"d{n}"))
            else:
                puts.setdefault(table, []).append(row)
        for t, (table, rows) in enumerate(sorted(puts.items())):
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                statements.append(self._upsert(table, chunk, f"u{t}s{start}"))
        if tracking is not None:
            p = self.dialect.param
            statements.append(
                (
                    f"{self.dialect.upsert} {tracking_table(self.generation)} "
                    f"(application_name, notification_id) VALUES ({p('ta')}, {p('tn')})",
                    {"ta": tracking.application_name, "tn": tracking.notification_id},
                )
            )
        if not statements:
            return
        if self.dialect.multi_statement:
            params: dict[str, Any] = {}
            for _, p_ in statements:
                params.update(p_)
            self._execute(";\n".join(sql for sql, _ in statements) + ";", params)
        else:
            for sql, p_ in statements:
                self._execute(sql, p_)

    # tracking -------------------------------------------------------------
    def max_tracking_id(self, application_name: str) -> int | None:
        p = self.dialect.param("a")
        rows = self._query(
            f"SELECT notification_id FROM {tracking_table(self.generation)} "
            f"WHERE application_name = {p}",
            {"a": application_name},
        )
        return int(rows[0][0]) if rows else None

    def set_tracking_id(self, application_name: str, notification_id: int) -> None:
        p = self.dialect.param
        self._execute(
            f"{self.dialect.upsert} {tracking_table(self.generation)} "
            f"(application_name, notification_id) VALUES ({p('a')}, {p('n')})",
            {"a": application_name, "n": notification_id},
        )


def tracking_ddl(dialect: SqlDialect, generation: int) -> str:
    """DDL of a generation's tracking table (one row per application name)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {tracking_table(generation)} "
        f"(application_name {dialect.key_text_type.format(n=64)} NOT NULL, "
        f"notification_id {dialect.integer_type} NOT NULL, "
        f"PRIMARY KEY (application_name)){dialect.table_suffix}"
    )


def generation_tables(generation: int) -> Sequence[str]:
    """Every physical table of a generation (read-model tables and tracking)."""
    return [
        *(table_name(generation, t) for t in tables_at(LATEST_VERSION)),
        tracking_table(generation),
    ]
