"""The web role's TLS material: a self-signed CA and a server certificate it signs.

Files live where the real web container keeps them, `<data>/certs/external/`: `ca.pem` (served at
`/v1/certificates/external/ca` and pinned by the tool), `www.cert`, `www.key` (0600) and the CA's key
`ca.key` (0600). Both are reused across restarts; when the wanted names change, only the server
certificate is reissued, so a CA the operator already pinned stays valid.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onprem.errors import StateError

CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE = "ca.pem", "ca.key", "www.cert", "www.key"
CA_NAME = "Enterprise Client - AutoGen CA"
CA_LIFETIME = timedelta(days=3650)
CERT_LIFETIME = timedelta(days=825)  # the longest lifetime clients such as Apple's still accept
RENEW_BEFORE = timedelta(days=30)

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    cert: Path
    key: Path


def normalise_names(names: Iterable[str]) -> set[str]:
    """The SAN set for `names`: IPs in canonical form, DNS names lower-cased, blanks dropped."""
    result = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            result.add(str(ipaddress.ip_address(name)))
        except ValueError:
            result.add(name.lower())
    return result


def certificate_names(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses in `cert`'s subjectAltName (empty when it has none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return normalise_names([*dns, *ips])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Write beside the target then rename: a crash never leaves a half-written key or certificate.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, PrivateKey) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _usable(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - RENEW_BEFORE > now


def _new_ca(now: datetime) -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server_cert(
    ca: x509.Certificate, ca_key: PrivateKey, names: list[str], now: datetime
) -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + CERT_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure_certificates(certs_dir: Path, names: Iterable[str], *, now: datetime | None = None) -> CertPaths:
    """Make sure `certs_dir` holds a usable CA and a server certificate for exactly `names`.

    Reuses what is there when it is valid, matches its key, was issued by the CA and covers the same
    names; otherwise issues anew (a new CA only when the old one is missing or unusable).
    Raises OSError when the directory cannot be written.
    """
    now = now or datetime.now(UTC)
    wanted = sorted(normalise_names(names))
    if not wanted:
        raise ValueError("a server certificate needs at least one name")
    certs_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(certs_dir / CA_FILE, certs_dir / CERT_FILE, certs_dir / KEY_FILE)
    loaded_ca = _load(paths.ca, certs_dir / CA_KEY_FILE)
    if loaded_ca is None or not _usable(loaded_ca[0], now):
        ca, ca_key = _new_ca(now)
        _write(certs_dir / CA_KEY_FILE, _key_pem(ca_key), 0o600)
        _write(paths.ca, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    else:
        ca, ca_key = loaded_ca
    current = _load(paths.cert, paths.key)
    if current is not None and _usable(current[0], now) and certificate_names(current[0]) == set(wanted):
        try:
            current[0].verify_directly_issued_by(ca)
            return paths
        except (ValueError, TypeError, InvalidSignature):
            pass  # signed by another CA: reissue below
    # Put the most specific name first: it becomes the subject's common name.
    ordered = sorted(wanted, key=lambda n: (n in ("localhost", "127.0.0.1", "::1"), n))
    cert, key = _new_server_cert(ca, ca_key, ordered, now)
    _write(paths.key, _key_pem(key), 0o600)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def server_ssl_context(paths: CertPaths) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting the server certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(paths.cert), str(paths.key))
    return context


UPLOADED_FILE = "uploaded.pem"  # written by POST /v1/certificates/external
_UPLOADED_CHAIN, _UPLOADED_KEY = "uploaded.chain.pem", "uploaded.key.pem"


class UnusableCertificate(StateError):
    """The uploaded certificate bundle cannot be served: the web role must not start. Exit code 6."""


def uploaded_certificate(certs_dir: Path, *, now: datetime | None = None) -> CertPaths | None:
    """The paths to serve an uploaded bundle from, or None when nothing was uploaded.

    Raises UnusableCertificate when the bundle is unusable (key mismatch, broken chain, expired), as the
    real web server fails to restart after a bad upload; the message says how to recover.
    """
    from onprem.emulator.certbundle import BundleError, check_bundle, parse_bundle

    source = certs_dir / UPLOADED_FILE
    try:
        text = source.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    try:
        bundle = parse_bundle(text)
        check_bundle(bundle, now)
    except (BundleError, UnicodeDecodeError) as exc:
        raise UnusableCertificate(
            f"the uploaded certificate bundle {source} is unusable ({exc}); the web server cannot start. "
            f"Recover by deleting {source} from the data volume (back to the self-signed certificate)"
        ) from None
    _write(certs_dir / _UPLOADED_KEY, bundle.key_pem, 0o600)
    _write(certs_dir / _UPLOADED_CHAIN, bundle.chain_pem, 0o644)
    return CertPaths(certs_dir / CA_FILE, certs_dir / _UPLOADED_CHAIN, certs_dir / _UPLOADED_KEY)
