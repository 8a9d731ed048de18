"""The read model's schema, defined in code as ordered, versioned migrations.

A migration is a list of *operations* (:class:`CreateTable`, :class:`AddColumn`)
described as data, not as SQL text, so that every view backend (memory, SQLite,
immudb SQL) can render the same schema in its own dialect and the memory view
can apply it to plain dictionaries.

Each backend keeps a ``schema_migrations`` table with one row per applied
migration: ``version``, ``name``, ``applied_at`` (ISO-8601 UTC) and
``checksum`` (SHA-256 of the migration's canonical description). When a view
opens it compares that table with :data:`MIGRATIONS`:

* versions the code knows but the table lacks are *pending* and are applied,
  in order;
* a version the table has but the code does not know means the read model
  was written by newer code: :class:`SchemaTooNewError` stops the process
  before it writes anything;
* a known version whose stored checksum differs from the code means someone
  edited a migration after it was applied: :class:`SchemaChecksumError`.

How to add a migration: append a new :class:`Migration` with the next version
number to :data:`MIGRATIONS` (never edit an applied one), teach
``projection.py`` to write any new column, and add a test that upgrades a
populated read model of the previous version (see
``tests/projections/test_migrations.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import orjson

ColumnType = Literal["text", "integer", "boolean", "json"]
"""Portable column types. ``json`` columns hold any JSON value (stored as text)."""


@dataclass(frozen=True)
class Column:
    """One column of a read-model table.

    ``key`` marks a column that is part of the primary key (backends that need
    a bounded length for indexed text, such as immudb, use ``max_length``).
    """

    name: str
    type: ColumnType
    key: bool = False
    nullable: bool = True
    max_length: int = 64

    def describe(self) -> dict[str, object]:
        """A canonical description used for the checksum."""
        return {
            "name": self.name,
            "type": self.type,
            "key": self.key,
            "nullable": self.nullable,
            "max_length": self.max_length,
        }


@dataclass(frozen=True)
class CreateTable:
    """Create a table with the given columns; key columns form the primary key."""

    table: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def describe(self) -> dict[str, object]:
        return {
            "op": "create_table",
            "table": self.table,
            "columns": [c.describe() for c in self.columns],
        }


@dataclass(frozen=True)
class AddColumn:
    """Add a column to an existing table; existing rows get ``default`` (backfill)."""

    table: str
    column: Column
    default: str | int | bool | None = None

    def describe(self) -> dict[str, object]:
        return {
            "op": "add_column",
            "table": self.table,
            "column": self.column.describe(),
            "default": self.default,
        }


Operation = CreateTable | AddColumn


@dataclass(frozen=True)
class Migration:
    """One versioned step of the schema."""

    version: int
    name: str
    operations: tuple[Operation, ...] = field(default_factory=tuple)

    @property
    def checksum(self) -> str:
        """SHA-256 (hex) of the canonical JSON description of the migration."""
        body = {
            "version": self.version,
            "name": self.name,
            "operations": [op.describe() for op in self.operations],
        }
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    """A row of the ``schema_migrations`` table."""

    version: int
    name: str
    applied_at: str
    checksum: str

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "applied_at": self.applied_at,
            "checksum": self.checksum,
        }


class SchemaError(Exception):
    """Base class of read-model schema errors."""


class SchemaTooNewError(SchemaError):
    """The read model was migrated by newer code than this process runs."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"the read model's schema is at version {found}, but this code only knows "
            f"migrations up to version {known}; upgrade aethyr_domain (or rebuild the read "
            f"model with this version) before starting projections"
        )
        self.found = found
        self.known = known


class SchemaChecksumError(SchemaError):
    """An applied migration differs from the migration with that version in the code."""

    def __init__(self, version: int, stored: str, expected: str) -> None:
        super().__init__(
            f"migration {version} was applied with checksum {stored[:12]}..., but the code's "
            f"migration {version} has checksum {expected[:12]}...: an applied migration was "
            f"edited; add a new migration instead and rebuild the read model"
        )
        self.version = version


def _text(name: str, *, key: bool = False, nullable: bool = True) -> Column:
    return Column(name, "text", key=key, nullable=nullable)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create world tables",
        (
            CreateTable(
                "game_objects",
                (
                    _text("id", key=True, nullable=False),
                    _text("name"),
                    _text("generic"),
                    _text("container_id"),
                    Column("attributes", "json"),
                    Column("deleted", "boolean", nullable=False),
                ),
            ),
            CreateTable(
                "players",
                (
                    _text("id", key=True, nullable=False),
                    _text("name"),
                    Column("admin", "boolean", nullable=False),
                ),
            ),
            CreateTable(
                "rooms",
                (_text("id", key=True, nullable=False), _text("description")),
            ),
            CreateTable(
                "room_exits",
                (
                    _text("room_id", key=True, nullable=False),
                    _text("direction", key=True, nullable=False),
                    _text("target_room_id", nullable=False),
                ),
            ),
            CreateTable(
                "inventories",
                (
                    _text("holder_id", key=True, nullable=False),
                    _text("item_id", key=True, nullable=False),
                    Column("position", "json"),
                    Column("arrival", "integer", nullable=False),
                ),
            ),
            CreateTable(
                "equipment",
                (
                    _text("character_id", key=True, nullable=False),
                    _text("item_id", key=True, nullable=False),
                    _text("slot", nullable=False),
                ),
            ),
        ),
    ),
    Migration(
        2,
        "equipment layers",
        # The original's equipment had one item per slot; the port's layered
        # equipment (a shirt under armour) needs the layer of each worn item.
        # Items worn before this migration were on the base layer, 0.
        (AddColumn("equipment", Column("layer", "integer", nullable=False), default=0),),
    ),
)
"""Every migration, in order. Append only."""

LATEST_VERSION = MIGRATIONS[-1].version


def tables_at(version: int) -> dict[str, tuple[Column, ...]]:
    """The tables (name -> columns, in order) after applying migrations up to ``version``."""
    tables: dict[str, tuple[Column, ...]] = {}
    for migration in MIGRATIONS:
        if migration.version > version:
            break
        for op in migration.operations:
            if isinstance(op, CreateTable):
                tables[op.table] = op.columns
            else:
                tables[op.table] = (*tables[op.table], op.column)
    return tables


def primary_key(table: str) -> tuple[str, ...]:
    """The primary-key column names of ``table`` (the same in every version)."""
    return tuple(c.name for c in tables_at(LATEST_VERSION)[table] if c.key)


def pending(applied: list[AppliedMigration]) -> list[Migration]:
    """Check ``applied`` against the code's migrations; return those still to apply.

    Raises :class:`SchemaTooNewError` or :class:`SchemaChecksumError` as described
    in the module docstring.
    """
    known = {m.version: m for m in MIGRATIONS}
    for row in applied:
        if row.version not in known:
            raise SchemaTooNewError(max(r.version for r in applied), LATEST_VERSION)
    for row in applied:
        expected = known[row.version].checksum
        if row.checksum != expected:
            raise SchemaChecksumError(row.version, row.checksum, expected)
    done = {row.version for row in applied}
    return [m for m in MIGRATIONS if m.version not in done]
