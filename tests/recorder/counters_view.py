"""An immudb materialised view for the library's projection suites (tests only)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.tests.projection import EventCountersView

from aethyr_immudb_recorder.datastore import Session, Transaction
from aethyr_immudb_recorder.recorders import existing_tables
from aethyr_immudb_recorder.sql_tracking import ImmudbSQLTrackingRecorder


class ImmudbEventCounters(ImmudbSQLTrackingRecorder, EventCountersView):
    """Counts created and subsequent events; each increment is atomic with its tracking."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counters_table_name = self.tracking_table_name.replace("_tracking", "_counters")

    def create_table(self) -> None:
        super().create_table()
        table = self.counters_table_name

        def ensure(session: Session) -> None:
            if table not in existing_tables(self.datastore, session):
                self.datastore.execute(
                    session,
                    f"CREATE TABLE IF NOT EXISTS {table} (counter_name VARCHAR[32] NOT NULL, "
                    "counter_value INTEGER NOT NULL, PRIMARY KEY counter_name)",
                )

        self.datastore.ensure_tables(table, ensure)

    def _get(self, name: str) -> int:
        sql = f"SELECT counter_value FROM {self.counters_table_name} WHERE counter_name = @n"
        rows = self.datastore.run(
            "select_counter", lambda s: self.datastore.query(s, sql, {"n": name})
        )
        return int(rows[0][0]) if rows else 0

    def _incr(self, name: str, tracking: Tracking) -> None:
        table = self.counters_table_name

        def work(tx: Transaction) -> None:
            self._insert_tracking(tx, tracking)
            rows = tx.query(
                f"SELECT counter_value FROM {table} WHERE counter_name = @n", {"n": name}
            )
            value = (int(rows[0][0]) if rows else 0) + 1
            tx.execute(
                f"UPSERT INTO {table} (counter_name, counter_value) VALUES (@n, @v)",
                {"n": name, "v": value},
            )

        self._write_with_tracking(work)

    def get_created_event_counter(self) -> int:
        return self._get("created")

    def get_subsequent_event_counter(self) -> int:
        return self._get("subsequent")

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._incr("created", tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._incr("subsequent", tracking)
