"""The launcher's TLS: throwaway certificates, immudb's TLS flags, ``start --tls-dir``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eventsourcing.utils import Environment

from aethyr_immudb_recorder.factory import ImmudbFactory
from aethyr_immudb_recorder.launcher import ImmudbServer, main
from aethyr_immudb_recorder.tls import certificate_names

pytestmark = pytest.mark.immudb


def test_tls_server_generates_material_and_removes_it(immudb_server):
    srv = ImmudbServer(synced=False, tls=True)
    command = srv.command()
    files = srv.tls_files
    assert files is not None
    assert command[command.index("--certificate") + 1] == str(files.server_cert)
    assert command[command.index("--pkey") + 1] == str(files.server_key)
    assert "--mtls=true" not in command and "--clientcas" not in command
    assert sorted(certificate_names(files.server_cert)) == ["127.0.0.1", "localhost"]
    with srv:
        env = srv.client_env()
        assert env["IMMUDB_TLS_CA"] == str(files.ca) and "IMMUDB_TLS_CERT" not in env
    assert not files.directory.exists()  # a temporary folder: removed with the data


def test_mtls_server_passes_the_client_ca(immudb_server):
    srv = ImmudbServer(synced=False, mtls=True)
    command = srv.command()
    assert srv.tls and srv.mtls and srv.tls_files is not None
    assert "--mtls=true" in command
    assert command[command.index("--clientcas") + 1] == str(srv.tls_files.ca)
    assert srv.client_env()["IMMUDB_TLS_CERT"] == str(srv.tls_files.client_cert)
    srv.stop()  # never started: removes what it made
    assert not srv.tls_dir.exists()


def test_cli_start_with_tls_dir_and_mtls_prints_the_paths(tmp_path, immudb_server):
    tls_dir = tmp_path / "tls"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aethyr_immudb_recorder.launcher",
            "start",
            "--unsynced",
            "--tls-dir",
            str(tls_dir),
            "--mtls",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert "immudb listening on 127.0.0.1:" in first and "mutual TLS" in first
        port = first.split("127.0.0.1:", 1)[1].split(" ", 1)[0]
        lines = [proc.stdout.readline() for _ in range(6)]  # type: ignore[union-attr]
        assert lines[0].startswith(f"TLS files in {tls_dir}")
        printed = {
            line.split(": ", 1)[0].strip(): line.split(": ", 1)[1].strip() for line in lines[1:]
        }
        ca = printed["CA certificate (IMMUDB_TLS_CA)"]
        cert = printed["client certificate (IMMUDB_TLS_CERT)"]
        key = printed["client key (IMMUDB_TLS_KEY)"]
        assert all(Path(p).is_file() for p in (ca, cert, key))
        env = {
            "IMMUDB_PORT": port,
            "IMMUDB_TLS_CA": ca,
            "IMMUDB_TLS_CERT": cert,
            "IMMUDB_TLS_KEY": key,
            "IMMUDB_DATABASE": "launched",
        }
        factory = ImmudbFactory(Environment(env=env))
        try:
            assert factory.application_recorder().max_notification_id() in (None, 0)
        finally:
            factory.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert (tls_dir / "ca.pem").is_file()  # a folder the user gave is kept


def test_cli_mtls_needs_a_tls_dir(capsys):
    assert main(["start", "--mtls"]) == 2
    assert "--tls-dir" in capsys.readouterr().err
