"""Schema migrations: created on first use, upgraded in place, refused when too new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from aethyr_domain.read.projections import migrations
from aethyr_domain.read.projections.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    AppliedMigration,
    SchemaChecksumError,
    SchemaTooNewError,
)
from aethyr_domain.read.projections.view import Rows
from tests.projections.conftest import MakeView


def test_first_enable_creates_every_table_at_the_latest_version(make_view: MakeView) -> None:
    view = make_view()
    assert view.schema_version() == LATEST_VERSION == 2
    applied = view.applied_migrations()
    assert [(m.version, m.name, m.checksum) for m in applied] == [
        (m.version, m.name, m.checksum) for m in MIGRATIONS
    ]
    assert all(m.applied_at.endswith("+00:00") for m in applied)
    for table in migrations.tables_at(LATEST_VERSION):
        assert view.rows(table) == []
    assert view.generations() == {1: "active"}


def test_a_later_start_applies_nothing(make_view: MakeView) -> None:
    first = make_view()
    before = first.applied_migrations()
    again = make_view()
    assert again.migrate() == []
    assert again.applied_migrations() == before


def test_upgrading_a_populated_v1_read_model(make_view: MakeView) -> None:
    """Version 1 had no equipment layers; version 2 adds them, existing rows on layer 0."""
    old = make_view(schema_version=1)
    assert old.schema_version() == 1

    def v1_rows(rows: Rows) -> None:
        rows.put(
            "game_objects",
            {
                "id": "hero",
                "name": "Hero",
                "generic": "player",
                "container_id": "hall",
                "attributes": {},
                "deleted": False,
            },
        )
        rows.put("equipment", {"character_id": "hero", "item_id": "helm", "slot": "head"})
        rows.put("equipment", {"character_id": "hero", "item_id": "blade", "slot": "left_wield"})

    old.apply(Tracking("World", 3), v1_rows)
    with old.read() as rows:
        assert "layer" not in rows.select("equipment")[0]

    upgraded = make_view()  # the current code opens it: pending migration 2 runs
    assert upgraded.schema_version() == 2
    assert [m.version for m in upgraded.applied_migrations()] == [1, 2]
    assert upgraded.rows("equipment") == [
        {"character_id": "hero", "item_id": "blade", "slot": "left_wield", "layer": 0},
        {"character_id": "hero", "item_id": "helm", "slot": "head", "layer": 0},
    ]
    assert upgraded.rows("game_objects")[0]["name"] == "Hero"
    assert upgraded.max_tracking_id("World") == 3
    upgraded.apply(
        Tracking("World", 4),
        lambda rows: rows.put(
            "equipment", {"character_id": "hero", "item_id": "cloak", "slot": "back", "layer": 1}
        ),
    )
    assert [r["layer"] for r in upgraded.rows("equipment")] == [0, 1, 0]


def test_a_schema_newer_than_the_code_stops_with_a_clear_error(
    make_view: MakeView, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_view()
    future = migrations.Migration(3, "from the future", ())
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, future))
    make_view()  # newer code migrates the read model to version 3
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    with pytest.raises(SchemaTooNewError, match=r"version 3.*only knows.*version 2"):
        make_view()


def test_an_edited_migration_is_detected() -> None:
    applied = [AppliedMigration(1, MIGRATIONS[0].name, "t", "0" * 64)]
    with pytest.raises(SchemaChecksumError, match="migration 1 was applied with checksum"):
        migrations.pending(applied)


def test_checksums_are_stable_and_differ_per_migration() -> None:
    assert len({m.checksum for m in MIGRATIONS}) == len(MIGRATIONS)
    assert (
        MIGRATIONS[0].checksum
        == migrations.Migration(1, MIGRATIONS[0].name, MIGRATIONS[0].operations).checksum
    )
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.immudb
def test_processes_opening_a_new_immudb_read_model_at_once_migrate_it_once() -> None:
    """Regression: immudb does not check DDL against concurrent transactions, so two
    openers (the game and ``aethyr-es project``) racing through the migrations
    could leave v2 recorded but the ``layer`` column lost. Each opener here has its
    own datastore (its own connections), as separate processes would."""
    import threading

    from aethyr_domain.read.projections.immudb_view import ImmudbWorldView
    from aethyr_immudb_recorder.datastore import ImmudbDatastore
    from tests import immudb_harness
    from tests.recorder.support import settings_for

    for _round in range(3):
        database = immudb_harness.fresh_database("race")
        stores = [ImmudbDatastore(settings_for(database)) for _ in range(3)]
        barrier = threading.Barrier(len(stores))
        views: list[ImmudbWorldView] = []
        errors: list[BaseException] = []

        def open_one(
            store: ImmudbDatastore,
            barrier: threading.Barrier = barrier,
            views: list[ImmudbWorldView] = views,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                views.append(ImmudbWorldView(datastore=store))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_one, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert errors == []
            assert [v.schema_version() for v in views] == [2, 2, 2]
            assert [m.version for m in views[0].applied_migrations()] == [1, 2]
            # the metadata tables were created once: one generation, each migration once
            assert [v.generations() for v in views] == [{1: "active"}] * 3
            assert {v.generation for v in views} == {1}
            row = {"character_id": "ada", "item_id": "helm", "slot": "head", "layer": 1}

            def put_row(rows: Rows, row: dict[str, Any] = row) -> None:
                rows.put("equipment", row)

            views[0].apply(Tracking("World", 1), put_row)
            assert views[1].rows("equipment") == [row]
        finally:
            for store in stores:
                store.close()


@pytest.mark.immudb
def test_creating_the_metadata_tables_loses_to_a_concurrent_creator_and_retries() -> None:
    """Deterministic interleaving of the race above, at the metadata tables: another
    opener creates the whole read model (metadata tables, generation 1, every
    migration) after this one has read the catalog and found the tables missing.
    This one's commit must fail with a read conflict and its retry create nothing,
    so the other's rows survive and both use one generation."""
    from aethyr_domain.read.projections.immudb_view import ImmudbWorldView
    from aethyr_immudb_recorder.datastore import ImmudbDatastore
    from aethyr_immudb_recorder.datastore import Transaction as ImmudbTransaction
    from tests import immudb_harness
    from tests.recorder.support import settings_for

    database = immudb_harness.fresh_database("meta")
    mine = ImmudbDatastore(settings_for(database))
    theirs = ImmudbDatastore(settings_for(database))
    seen: list[list[str]] = []
    others: list[ImmudbWorldView] = []

    class Interleaved(ImmudbWorldView):
        def _missing_meta(self, tx: ImmudbTransaction) -> list[str]:
            missing = super()._missing_meta(tx)
            seen.append(missing)
            if not others:  # the other process wins the race right here
                others.append(ImmudbWorldView(datastore=theirs))
            return missing

    try:
        conflicts = mine.metrics.retries.labels(reason="conflict")._value.get()
        view = Interleaved(datastore=mine)
        assert seen[0] == ["read_model_generations", "schema_migrations", "projection_faults"]
        assert seen[-1] == []  # the retry found every table
        assert mine.metrics.retries.labels(reason="conflict")._value.get() > conflicts
        assert view.generations() == {1: "active"} == others[0].generations()
        assert [m.version for m in view.applied_migrations()] == [1, 2]
        assert view.applied_migrations() == others[0].applied_migrations()
    finally:
        mine.close()
        theirs.close()


def _open_sqlite_views(paths: list[str], barrier: Any, results: Any) -> None:
    """One process opening the world view on each new SQLite file in turn, at the same
    moment as the others (see the test below)."""
    from eventsourcing.sqlite import SQLiteDatastore

    from aethyr_domain.read.projections.sqlite_view import SQLiteWorldView

    for round_, path in enumerate(paths):
        store = SQLiteDatastore(path, lock_timeout=10)
        try:
            barrier.wait()
            view = SQLiteWorldView(store)
            results.put((round_, view.schema_version(), view.generation, None))
        except BaseException as exc:  # reported by the parent
            results.put((round_, None, None, f"{type(exc).__name__}: {exc}"))
        finally:
            store.close()


def test_processes_opening_a_new_sqlite_read_model_at_once_migrate_it_once(
    tmp_path: Path,
) -> None:
    """Four processes (the game, ``aethyr-es project``, ...) open the read model of
    one events file at once, three times over (a new file each round; the same four
    processes, as a new process costs more than the race). The file exists already (in
    WAL mode, as the game's World leaves it): two processes switching a brand-new file
    to WAL at once is a race in the library's ``SQLiteDatastore`` itself, not the read
    model's."""
    import multiprocessing

    from eventsourcing.sqlite import SQLiteDatastore

    context = multiprocessing.get_context("spawn")
    rounds, racers = 3, 4
    paths = [str(tmp_path / f"race{round_}.sqlite") for round_ in range(rounds)]
    for path in paths:
        first = SQLiteDatastore(path)
        with first.transaction(commit=False) as cursor:  # creates the file, sets WAL mode
            cursor.execute("SELECT 1")
        first.close()
    barrier, results = context.Barrier(racers), context.Queue()
    processes = [
        context.Process(target=_open_sqlite_views, args=(paths, barrier, results))
        for _ in range(racers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in range(rounds * racers)]
    for process in processes:
        process.join(timeout=60)
    for round_ in range(rounds):
        mine = [outcome for outcome in outcomes if outcome[0] == round_]
        assert [error for _, _, _, error in mine] == [None] * racers
        assert {(version, generation) for _, version, generation, _ in mine} == {
            (len(MIGRATIONS), 1)
        }
