"""Throwaway TLS material for a local immudb server: a CA, a server and a client certificate.

:func:`generate_tls_files` writes, into one folder (mode 0700, keys 0600)::

    ca.pem          the certificate authority (self-signed, 1 day)
    server.pem      the server certificate, signed by the CA; its subject
                    alternative names are ``hosts`` (default 127.0.0.1 and localhost)
    server.key      its private key (PEM, unencrypted: immudb's ``--pkey`` wants it so)
    client.pem      a client certificate for mutual TLS, signed by the same CA
    client.key      its private key

``launcher start --tls-dir D`` and ``ImmudbServer(tls=True)`` use it; so do the
tests, which also make a second CA (a "wrong CA") and certificates whose names do
not match the address, to check that the client refuses them. The material is for
tests and local work: a production server gets its certificates from the
operator's own CA (``docs/security.md``).

Keys are ECDSA P-256 (fast to make, accepted by Go's TLS stack and gRPC's).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
"""The names a throwaway server's certificate is valid for."""


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files :func:`generate_tls_files` wrote."""

    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def describe(self) -> str:
        """One line per file, for ``launcher start`` to print (no key material)."""
        return "\n".join(
            f"  {label}: {path}"
            for label, path in (
                ("CA certificate (IMMUDB_TLS_CA)", self.ca),
                ("server certificate", self.server_cert),
                ("server key", self.server_key),
                ("client certificate (IMMUDB_TLS_CERT)", self.client_cert),
                ("client key (IMMUDB_TLS_KEY)", self.client_key),
            )
        )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aethyr throwaway"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class CertificateAuthority:
    """A CA kept in memory that signs server and client certificates."""

    def __init__(self, common_name: str = "aethyr throwaway CA", days: int = 1) -> None:
        self.key = _key()
        self.days = days
        now = datetime.datetime.now(datetime.UTC)
        name = _name(common_name)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        """The CA certificate (what clients trust)."""
        return _pem_cert(self.certificate)

    def issue(
        self, common_name: str, *, hosts: Sequence[str] = (), client: bool = False
    ) -> tuple[bytes, bytes]:
        """A certificate and its key (both PEM) for a server (``hosts``) or a client."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if hosts:
            builder = builder.add_extension(_san(hosts), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _pem_cert(cert), _pem_key(key)


def _files_in(folder: Path) -> TlsFiles:
    return TlsFiles(
        directory=folder,
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )


def certificate_names(path: str | os.PathLike[str]) -> list[str]:
    """The subject alternative names (DNS names and IP addresses) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def existing_tls_files(directory: str | os.PathLike[str]) -> TlsFiles | None:
    """The files of an earlier :func:`generate_tls_files` in ``directory``, if all are there."""
    files = _files_in(Path(directory))
    paths = (files.ca, files.server_cert, files.server_key, files.client_cert, files.client_key)
    return files if all(p.is_file() for p in paths) else None


def generate_tls_files(
    directory: str | os.PathLike[str],
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    ca: CertificateAuthority | None = None,
) -> TlsFiles:
    """Write a CA, a server certificate for ``hosts`` and a client certificate into ``directory``.

    ``ca`` signs with an existing authority (default: a new one). Existing files
    of the same names are overwritten. Returns their paths.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    authority = ca or CertificateAuthority()
    files = _files_in(folder)
    _write(files.ca, authority.pem)
    server_cert, server_key = authority.issue(hosts[0] if hosts else "immudb", hosts=hosts)
    _write(files.server_cert, server_cert)
    _write(files.server_key, server_key, private=True)
    client_cert, client_key = authority.issue("aethyr client", client=True)
    _write(files.client_cert, client_cert)
    _write(files.client_key, client_key, private=True)
    return files
