"""The view interface: a tracking recorder that holds the world read model.

A *view* (eventsourcing's name for a materialised view) is a subclass of a
persistence module's :class:`~eventsourcing.persistence.TrackingRecorder`
whose command method writes read-model rows **and** the tracking record of the
event that caused them in one transaction, so each event is applied exactly
once even if the projection process dies between two events.

Every backend (:mod:`.memory_view`, :mod:`.sqlite_view`, :mod:`.immudb_view`)
implements the small abstract surface below; everything else - the event
logic (:mod:`.projection`), the queries (:mod:`.queries`), migrations and
blue/green generations - is shared and written against :class:`Rows`.

Generations (blue/green)
    The read-model tables of one *generation* are named ``rm<N>_<table>``
    (``rm1_game_objects`` ...), each generation has its own tracking table
    and its own rows in ``schema_migrations``. The table
    ``read_model_generations`` says which generation readers use (status
    ``active``), which one a rebuild is filling (``building``). A view opened
    without a generation attaches to the active one, creating generation 1 with
    every migration on first use.

Closing
    :meth:`WorldView.close` releases what the view owns and is idempotent. A view
    built by :func:`~.opening.open_view` owns the infrastructure factory that
    made it (the SQLite connection pool, the immudb sessions and channel), so
    whoever opens a view closes it when done or when replacing it (e.g. after a
    rebuild switched readers to a new generation). Views from
    :meth:`WorldView.open_generation` share their parent's store and own nothing.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder

from aethyr_domain.read.projections.batch_rows import BatchRows
from aethyr_domain.read.projections.faults import ProjectionFault
from aethyr_domain.read.projections.migrations import (
    AppliedMigration,
    Migration,
    pending,
)

# re-exported: the backends and the handlers import them from here too
from aethyr_domain.read.projections.rows import Change as Change
from aethyr_domain.read.projections.rows import Row as Row
from aethyr_domain.read.projections.rows import Rows as Rows
from aethyr_domain.read.projections.rows import Transaction as Transaction

T = TypeVar("T")

META_GENERATIONS = "read_model_generations"
META_MIGRATIONS = "schema_migrations"

ACTIVE = "active"
BUILDING = "building"


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class WorldView(TrackingRecorder, ABC):
    """The abstract world read model (see the module docstring).

    Concrete views inherit from this class *and* from their persistence
    module's tracking recorder, so eventsourcing's ``ProjectionRunner`` can
    build them through ``InfrastructureFactory.tracking_recorder(view_class)``.
    """

    generation: int
    """The generation this view reads and writes."""
    version: int
    """The schema version of this view's generation (the latest after opening)."""

    _closed = False
    _owned: tuple[Callable[[], None], ...] = ()

    # -- backend surface -------------------------------------------------
    @abstractmethod
    def open_generation(self, generation: int) -> WorldView:
        """Another view on the same store, attached to ``generation`` (created if new,
        with status ``building``). Used by the blue/green rebuild."""

    @abstractmethod
    def _transaction(self, generation: int, *, write: bool) -> AbstractContextManager[Transaction]:
        """A transaction on ``generation``'s tables, committed on success when ``write``."""

    @abstractmethod
    def _ensure_meta(self) -> None:
        """Create the metadata tables if they do not exist (idempotent)."""

    @abstractmethod
    def _generations(self) -> dict[int, str]:
        """Generation number -> status, from ``read_model_generations``."""

    @abstractmethod
    def _set_generation(self, generation: int, status: str | None) -> None:
        """Insert/update a generation's status; ``None`` deletes its row."""

    @abstractmethod
    def _applied(self, generation: int) -> list[AppliedMigration]:
        """The generation's rows of ``schema_migrations``, ordered by version."""

    @abstractmethod
    def _apply_migration(self, generation: int, migration: Migration, applied_at: str) -> None:
        """Run the migration's DDL and record it in ``schema_migrations`` (atomically if the
        backend allows)."""

    @abstractmethod
    def _drop_generation_tables(self, generation: int) -> None:
        """Drop the generation's tables and its ``schema_migrations`` rows."""

    @abstractmethod
    def _put_fault(self, row: Row) -> None:
        """Insert or replace a ``projection_faults`` row (key: ``projection``)."""

    @abstractmethod
    def _delete_fault(self, projection: str) -> None:
        """Delete the ``projection_faults`` row of ``projection`` if there is one."""

    @abstractmethod
    def _fault_rows(self) -> list[Row]:
        """Every ``projection_faults`` row, ordered by projection name."""

    # -- shared behaviour --------------------------------------------------
    def _open(self, generation: int | None, schema_version: int | None = None) -> None:
        """Attach to ``generation`` (default: the active one), creating and migrating it.

        ``schema_version`` stops the migrations at that version (only for tests
        that build an old read model to upgrade it).
        """
        self._meta_lock = threading.RLock()
        with self._meta_lock:
            self._ensure_meta()
            generations = self._generations()
            if generation is None:
                active = [g for g, status in generations.items() if status == ACTIVE]
                if active:
                    generation = max(active)
                else:
                    generation = max(generations, default=0) + 1
                    self._set_generation(generation, ACTIVE)
            elif generation not in generations:
                self._set_generation(generation, BUILDING)
            self.generation = generation
            self.version = 0
            self.migrate(up_to=schema_version)

    # -- life cycle ----------------------------------------------------------
    def own(self, close: Callable[[], None]) -> None:
        """Have :meth:`close` call ``close`` too (``open_view`` passes the ``close`` of
        the factory that built this view, which owns its datastore)."""
        with self._meta_lock:
            self._owned = (*self._owned, close)

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release what this view owns (its factory's connections); idempotent.

        The view must not be used afterwards. A view that owns nothing (one from
        :meth:`open_generation`, or one built on a datastore the caller keeps) only
        records that it was closed.
        """
        with self._meta_lock:
            if self._closed:
                return
            self._closed = True
            owned, self._owned = self._owned, ()
        for close in reversed(owned):
            close()

    def migrate(self, up_to: int | None = None) -> list[AppliedMigration]:
        """Apply pending migrations (up to ``up_to``, default all) to this view's
        generation; return what was applied.

        Raises :class:`~.migrations.SchemaTooNewError` before writing anything if
        the generation was migrated by newer code.
        """
        done: list[AppliedMigration] = []
        with self._meta_lock:
            applied = self._applied(self.generation)
            todo = pending(applied)
            self.version = max((m.version for m in applied), default=0)
            for migration in todo:
                if up_to is not None and migration.version > up_to:
                    break
                applied_at = utc_now()
                self._apply_migration(self.generation, migration, applied_at)
                done.append(
                    AppliedMigration(
                        migration.version, migration.name, applied_at, migration.checksum
                    )
                )
                self.version = migration.version
        return done

    def applied_migrations(self) -> list[AppliedMigration]:
        """The migrations applied to this view's generation, in order."""
        return self._applied(self.generation)

    def schema_version(self) -> int:
        """The highest applied migration version of this view's generation."""
        return max((m.version for m in self.applied_migrations()), default=0)

    def generations(self) -> dict[int, str]:
        """Every generation the store knows, with its status."""
        return self._generations()

    def active_generation(self) -> int | None:
        """The generation readers should use now (``None`` before the first enable)."""
        active = [g for g, status in self._generations().items() if status == ACTIVE]
        return max(active, default=None)

    def activate(self) -> None:
        """Make this view's generation the one readers use (the blue/green switch)."""
        with self._meta_lock:
            for generation, status in self._generations().items():
                if status == ACTIVE and generation != self.generation:
                    self._set_generation(generation, "retired")
            self._set_generation(self.generation, ACTIVE)

    def drop_generation(self, generation: int) -> None:
        """Drop a generation that is not this view's (after a switch)."""
        if generation == self.generation:
            msg = f"refusing to drop generation {generation}: this view is attached to it"
            raise ValueError(msg)
        with self._meta_lock:
            self._drop_generation_tables(generation)
            self._set_generation(generation, None)

    # -- faults (see :mod:`.faults`) -----------------------------------------
    def record_fault(self, fault: ProjectionFault) -> None:
        """Store ``fault`` for other processes (``aethyr-es stats``) to read."""
        with self._meta_lock:
            self._put_fault(fault.row())

    def clear_fault(self, projection: str) -> None:
        """Forget the stored fault of ``projection`` (it applied the event)."""
        with self._meta_lock:
            self._delete_fault(projection)

    def faults(self) -> list[ProjectionFault]:
        """The stored faults, one per stuck projection."""
        return [ProjectionFault.from_row(row) for row in self._fault_rows()]

    def is_current(self) -> bool:
        """``True`` while this view's generation is the active one."""
        return self._generations().get(self.generation) == ACTIVE

    def _run(self, *, write: bool, body: Callable[[Transaction], T]) -> T:
        """Run ``body`` in one transaction on this view's generation (committed when
        ``write`` and ``body`` returns). Backends with transient faults override this
        to retry the whole body."""
        with self._transaction(self.generation, write=write) as tx:
            return body(tx)

    # -- TrackingRecorder --------------------------------------------------
    def insert_tracking(self, tracking: Tracking) -> None:
        self._run(write=True, body=lambda tx: tx.track(tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        return self._run(write=False, body=lambda tx: tx.max_tracking_id(application_name))

    # -- command and query methods -------------------------------------------
    def apply(
        self,
        tracking: Tracking | None,
        change: Callable[[Rows], None],
        *,
        first: int | None = None,
    ) -> None:
        """Run ``change`` on the rows and record ``tracking``, in one transaction.

        ``first``: the notification id of the first event ``change`` applies. The
        transaction then refuses (``IntegrityError``, nothing written) unless every
        event from ``first`` to ``tracking`` is after the view's position, checked
        inside the transaction: a batch that overlaps what another process applied
        meanwhile is not applied twice. Without it only ``tracking`` is checked."""

        def body(tx: Transaction) -> None:
            rows = BatchRows(tx)  # one read per row, one write per batch
            change(rows)
            rows.flush(tracking, first)

        self._run(write=True, body=body)

    def query(self, question: Callable[[Rows], T]) -> T:
        """Answer ``question(rows)`` from one consistent read of this view."""
        return self._run(write=False, body=question)

    def read(self) -> AbstractContextManager[Rows]:
        """A read-only transaction on this view's rows (for :mod:`.queries`)."""
        return self._transaction(self.generation, write=False)

    def rows(self, table: str) -> list[Row]:
        """Every row of ``table``, ordered by primary key."""
        return self.query(lambda rows: rows.select(table))
