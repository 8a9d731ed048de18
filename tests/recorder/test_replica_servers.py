"""Replicas on servers of their own (not the module-wide pair of
``test_replication.py``, so that loadfile runs the two modules in parallel):

* ``promote`` switches a replica to a primary that accepts writes, and refuses while
  the primary still answers;
* ``launcher start --replica-of`` as a process replicates the databases created on the
  primary afterwards.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from eventsourcing.persistence import Notification
from prometheus_client import CollectorRegistry

from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.replicas import ReplicationError, promote
from tests import immudb_harness
from tests.recorder.test_replication import _env, _events, _fresh


def test_promote_makes_a_replica_writable_and_refuses_while_the_primary_answers() -> None:
    immudb_harness.server()
    with (
        ImmudbServer(synced=False) as primary,
        ImmudbServer(synced=False, replica_of=primary.address, watch=False) as replica,
    ):
        database = _fresh(primary, replica)
        writer = ImmudbFactory(
            _env(primary, database, IMMUDB_REPLICAS=replica.address), registry=CollectorRegistry()
        )
        try:
            recorder = writer.application_recorder()
            for batch in _events(10):
                recorder.insert_events(batch)
            assert writer.replicas is not None
            [lag] = writer.replicas.lag()  # waits until the replica has every transaction
            assert lag.caught_up
            with pytest.raises(ReplicationError, match="still answers"):
                promote(replica.address, database, user="immudb", password="immudb")
        finally:
            writer.close()
        primary.kill()
        result = promote(replica.address, database, user="immudb", password="immudb")
        assert result.was_replica and result.old_primary == primary.address
        again = promote(replica.address, database, user="immudb", password="immudb")
        assert not again.was_replica
        promoted = ImmudbFactory(_env(replica, database), registry=CollectorRegistry())
        try:
            recorder = promoted.application_recorder()
            before = recorder.max_notification_id()
            assert before == 10
            [batch] = _events(1)
            assert recorder.insert_events(batch) == [11]
        finally:
            promoted.close()


def test_launcher_start_replica_of_replicates_new_databases(tmp_path: Path) -> None:
    """``launcher start --replica-of`` as a process: a database created on the primary
    afterwards appears on the replica with the same events; SIGTERM stops it."""
    import os
    import signal
    import subprocess
    import sys

    from aethyr_immudb_recorder.launcher import free_port

    immudb_harness.server()
    port = free_port()
    with ImmudbServer(synced=False) as primary:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aethyr_immudb_recorder.launcher",
                "start",
                "--replica-of",
                primary.address,
                "--port",
                str(port),
                "--unsynced",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "asynchronous replica of " + primary.address in line
            name = "rep_" + uuid.uuid4().hex[:10]
            writer = ImmudbFactory(_env(primary, name), registry=CollectorRegistry())
            reader = ImmudbFactory(
                {
                    **_env(primary, name),
                    "IMMUDB_HOST": "127.0.0.1",
                    "IMMUDB_PORT": str(port),
                    "CREATE_TABLE": "no",
                    "IMMUDB_MAX_RETRIES": "0",
                },
                registry=CollectorRegistry(),
            )
            try:
                recorder = writer.application_recorder()
                for batch in _events(5):
                    recorder.insert_events(batch)
                deadline = time.monotonic() + 30
                found: list[Notification] = []
                while time.monotonic() < deadline and len(found) < 5:
                    try:
                        found = list(reader.application_recorder().select_notifications(None, 10))
                    except Exception:  # the replica database does not exist yet
                        time.sleep(0.2)
                assert found == list(recorder.select_notifications(None, 10))
            finally:
                writer.close()
                reader.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
