"""TLS to immudb: real servers over TLS and mutual TLS, and every way a connection can
be set up wrong, each ending in one clear ``OperationalError`` (a ``TlsError``) that names
the cause, quickly and without retries.

The library's recorder suites run over TLS and mutual TLS too (a representative set:
application recorder with subscriptions, process recorder), see the classes at the end.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
)
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.errors import ConfigurationError, TlsError
from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer
from aethyr_immudb_recorder.recorders import ImmudbApplicationRecorder, ImmudbProcessRecorder
from aethyr_immudb_recorder.settings import ImmudbSettings
from aethyr_immudb_recorder.tls import TlsFiles, generate_tls_files
from tests import immudb_harness
from tests.recorder.support import SharedDatastoreCase

pytestmark = pytest.mark.immudb

#: A failed set-up must end well within this many seconds (no retry loop, no hang).
QUICK = 5.0


def _env(srv: ImmudbServer, **extra: str) -> dict[str, str]:
    env = {
        "IMMUDB_HOST": srv.host,
        "IMMUDB_PORT": str(srv.port),
        "IMMUDB_DATABASE": f"tls{uuid.uuid4().hex[:16]}",
        "IMMUDB_CONNECT_TIMEOUT": "3",
        "IMMUDB_TIMEOUT": "5",
        # small test databases (tests/immudb_harness.py: TEST_MAX_TX_ENTRIES)
        "IMMUDB_MAX_TX_ENTRIES": str(immudb_harness.TEST_MAX_TX_ENTRIES),
    }
    env.update(extra)
    return env


def _tls_env(srv: ImmudbServer, *, mutual: bool = False, **extra: str) -> dict[str, str]:
    env = _env(srv)
    env.update(srv.client_env())
    if not mutual:
        env.pop("IMMUDB_TLS_CERT", None)
        env.pop("IMMUDB_TLS_KEY", None)
    env.update(extra)
    return env


def _roundtrip(env: dict[str, str]) -> list[int]:
    """Write two events through a factory on ``env`` and read their notification ids."""
    factory = ImmudbFactory(Environment(env=env))
    try:
        recorder = factory.application_recorder()
        originator = uuid.uuid4()
        events = [
            StoredEvent(originator_id=originator, originator_version=v, topic="t", state=b"{}")
            for v in (1, 2)
        ]
        recorder.insert_events(events)
        return [n.id for n in recorder.select_notifications(1, 10)]
    finally:
        factory.close()


def _connect_error(env: dict[str, str]) -> tuple[OperationalError, float]:
    started = time.monotonic()
    with pytest.raises(OperationalError) as caught:
        _roundtrip(env)
    return caught.value, time.monotonic() - started


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Certificates from another CA: the client does not trust them, the server neither."""
    return generate_tls_files(tmp_path_factory.mktemp("wrong-ca"))


def test_tls_roundtrip_verifies_the_server() -> None:
    srv = immudb_harness.tls_server()
    assert srv.tls_files is not None
    assert _roundtrip(_tls_env(srv)) == [1, 2]
    # the certificate names localhost too
    assert _roundtrip(_tls_env(srv, IMMUDB_HOST="localhost")) == [1, 2]


def test_mutual_tls_roundtrip() -> None:
    srv = immudb_harness.tls_server(mtls=True)
    assert _roundtrip(_tls_env(srv, mutual=True)) == [1, 2]


def test_plaintext_client_against_tls_server() -> None:
    error, elapsed = _connect_error(_env(immudb_harness.tls_server()))
    assert isinstance(error, TlsError)
    assert "expects TLS" in str(error) and "IMMUDB_TLS_CA" in str(error)
    assert elapsed < QUICK


def test_tls_client_against_plaintext_server() -> None:
    tls = immudb_harness.tls_server()
    assert tls.tls_files is not None
    plain = immudb_harness.server()
    error, elapsed = _connect_error(_env(plain, IMMUDB_TLS_CA=str(tls.tls_files.ca)))
    assert isinstance(error, TlsError)
    assert "does not speak TLS" in str(error)
    assert elapsed < QUICK


def test_server_certificate_from_the_wrong_ca(wrong_ca: TlsFiles) -> None:
    srv = immudb_harness.tls_server()
    error, elapsed = _connect_error(_tls_env(srv, IMMUDB_TLS_CA=str(wrong_ca.ca)))
    assert isinstance(error, TlsError)
    assert "wrong CA" in str(error)
    assert elapsed < QUICK


def test_host_name_mismatch() -> None:
    srv = immudb_harness.tls_server()
    error, elapsed = _connect_error(_tls_env(srv, IMMUDB_TLS_SERVER_NAME="immudb.invalid"))
    assert isinstance(error, TlsError)
    assert "host-name mismatch" in str(error)
    assert elapsed < QUICK


def test_host_name_mismatch_with_a_certificate_for_another_name(tmp_path: Path) -> None:
    """The server's certificate names only immudb.invalid; the client dials 127.0.0.1."""
    files = generate_tls_files(tmp_path / "tls", hosts=("immudb.invalid",))
    # the launcher reuses the files in a given tls_dir (its own health check passes:
    # it verifies the chain, and the launcher's check dials the name in the certificate)
    with ImmudbServer(synced=False, tls_dir=files.directory) as srv:
        assert srv.tls_files == files
        error, elapsed = _connect_error(_env(srv, IMMUDB_TLS_CA=str(files.ca)))
    assert isinstance(error, TlsError) and "host-name mismatch" in str(error)
    assert elapsed < QUICK


def test_mutual_tls_refuses_a_client_certificate_from_another_ca(wrong_ca: TlsFiles) -> None:
    srv = immudb_harness.tls_server(mtls=True)
    env = _tls_env(
        srv,
        IMMUDB_TLS_CERT=str(wrong_ca.client_cert),
        IMMUDB_TLS_KEY=str(wrong_ca.client_key),
    )
    error, elapsed = _connect_error(env)
    assert isinstance(error, TlsError)
    assert "client certificate" in str(error)
    assert elapsed < QUICK


def test_immudb_mtls_accepts_a_client_without_certificate() -> None:
    """immudb 1.11's ``--mtls`` verifies a client certificate *if one is given*
    (Go's ``VerifyClientCertIfGiven``): a client without one still gets in with a
    password. docs/security.md says so; this pins the behaviour."""
    srv = immudb_harness.tls_server(mtls=True)
    assert _roundtrip(_tls_env(srv)) == [1, 2]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"IMMUDB_TLS_CA": "/nonexistent/ca.pem"}, "cannot read the file"),
        ({"IMMUDB_TLS_CERT": "x"}, "IMMUDB_TLS_KEY"),
        ({"IMMUDB_TLS_CERT": "x", "IMMUDB_TLS_KEY": "y"}, "IMMUDB_TLS_CA"),
    ],
)
def test_bad_tls_settings_fail_before_connecting(
    extra: dict[str, str], expected: str, tmp_path: Path
) -> None:
    for key in ("IMMUDB_TLS_CERT", "IMMUDB_TLS_KEY"):
        if key in extra:
            path = tmp_path / key
            path.write_text("pem")
            extra = {**extra, key: str(path)}
    with pytest.raises(ConfigurationError, match=expected):
        ImmudbSettings.from_env(Environment(env={"IMMUDB_PORT": "1", **extra}))


# -- the library's suites over TLS and mutual TLS -------------------------------------


#: The database of the suites below on each TLS server (each test has tables of its own),
#: created by the first class's datastore: the next class's datastore takes over its
#: sessions instead of logging in again (a bcrypt check, about 66 ms of immudb's CPU).
SUITE_DATABASE = f"tls{uuid.uuid4().hex[:16]}"


class _TlsDatastore(SharedDatastoreCase):
    mutual = False

    @classmethod
    def make_datastore(cls) -> ImmudbDatastore:
        srv = immudb_harness.tls_server(mtls=cls.mutual)
        env = _tls_env(
            srv, mutual=cls.mutual, IMMUDB_POOL_SIZE="12", IMMUDB_DATABASE=SUITE_DATABASE
        )
        datastore = ImmudbDatastore(ImmudbSettings.from_env(Environment(env=env)))
        assert datastore.settings.tls
        assert datastore.settings.mutual_tls is cls.mutual
        return datastore


class TestApplicationRecorderOverTls(
    _TlsDatastore, ApplicationRecorderTestCase[ImmudbApplicationRecorder]
):
    def create_recorder(self) -> ImmudbApplicationRecorder:
        recorder = ImmudbApplicationRecorder(
            datastore=self.datastore, events_table_name=self.events_table
        )
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestProcessRecorderOverTls(_TlsDatastore, ProcessRecorderTestCase):
    def create_recorder(self) -> ImmudbProcessRecorder:
        recorder = ImmudbProcessRecorder(
            datastore=self.datastore,
            events_table_name=self.events_table,
            tracking_table_name=self.tracking_table,
        )
        recorder.create_table()
        return recorder


class TestApplicationRecorderOverMutualTls(TestApplicationRecorderOverTls):
    mutual = True


class TestProcessRecorderOverMutualTls(TestProcessRecorderOverTls):
    mutual = True


@pytest.mark.parametrize("case", ["plaintext", "wrong-ca", "name"])
def test_cli_reports_a_tls_failure_in_one_line(
    case: str, wrong_ca: TlsFiles, tmp_path: Path
) -> None:
    import contextlib
    import os
    import subprocess
    import sys

    with contextlib.ExitStack() as stack:
        if case == "name":  # a server whose certificate names another host only
            files = generate_tls_files(tmp_path / "tls", hosts=("immudb.invalid",))
            srv = stack.enter_context(ImmudbServer(synced=False, tls_dir=files.directory))
        else:
            srv = immudb_harness.tls_server()
        assert srv.tls_files is not None
        env = {
            **os.environ,
            "PYTHONPATH": os.getcwd(),
            "AETHYR_EVENT_SOURCING_ENABLED": "1",
            "AETHYR_IMMUDB_ADDRESS": srv.host,
            "AETHYR_IMMUDB_PORT": str(srv.port),
            "AETHYR_OUTBOX_PATH": str(tmp_path / "outbox.sqlite"),
        }
        env.pop("GRPC_VERBOSITY", None)
        if case == "wrong-ca":
            env["AETHYR_IMMUDB_TLS_CA"] = str(wrong_ca.ca)
        elif case == "name":
            env["AETHYR_IMMUDB_TLS_CA"] = str(srv.tls_files.ca)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "aethyr_domain.cli", "world", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    expected = {"plaintext": "expects TLS", "wrong-ca": "wrong CA", "name": "host-name mismatch"}
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("aethyr-es: cannot open the event store: TlsError:")
    assert expected[case] in result.stderr
    assert time.monotonic() - started < 30
