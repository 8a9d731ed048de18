"""The ``verify`` scenario: checking a whole store against immudb's proofs (events/s).

``aethyr-es verify`` proves that what the store returns is what immudb committed
(:mod:`aethyr_immudb_recorder.verification`). This scenario times that check over a
log of ``Size.verify_events`` events (100k in the full run): the store is filled
once per backend and run (batches of 100 events for new originators, under an
application name of its own), then every round verifies the whole log from a new
state file (trust on first use, as a first ``aethyr-es verify`` does).

Only immudb stores can be verified; other backends are skipped. :func:`verify_store`
is the one function to change when the verification API changes.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from benchmarks.backends import Backend
from benchmarks.scenarios import Measure, Size, Skip, application, recorder_of, stored_events

FILL_BATCH = 100

_filled: set[tuple[str, str]] = set()


# ------------------------------------------------------------------ the adapter
def verify_store(app: Application[UUID], state_file: Path) -> int:
    """Verify every event of ``app``'s store against immudb's proofs; return the rows verified.

    Today's API: :func:`aethyr_immudb_recorder.verification.verify_events` over the
    recorder's datastore and events table (one inclusion proof per row).
    """
    from aethyr_immudb_recorder.verification import verify_events

    recorder: Any = app.recorder
    report = verify_events(recorder.datastore, recorder.events_table_name, state_file)
    return int(report.rows)


# ------------------------------------------------------------------ the scenario
def verify(backend: Backend, app_name: str, size: Size) -> list[Measure]:
    """Verify a ``size.verify_events``-event store (events/s)."""
    if not backend.name.startswith("immudb"):
        raise Skip("only immudb stores carry proofs")
    name = f"bench_verify_{size.verify_events}"
    key = (backend.name, json.dumps(backend.env_for(name), sort_keys=True))
    with application(backend, name) as app:
        if key not in _filled:
            recorder = recorder_of(app)
            have = recorder.max_notification_id() or 0
            for _ in range(have, size.verify_events, FILL_BATCH):
                recorder.insert_events(stored_events(FILL_BATCH))
            _filled.add(key)
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
            started = time.perf_counter()
            rows = verify_store(app, Path(tmp) / "state.json")
            elapsed = time.perf_counter() - started
    if rows < size.verify_events:
        raise RuntimeError(f"verified {rows} rows, expected {size.verify_events}")
    return [Measure("verify", rows / elapsed, "events/s")]
