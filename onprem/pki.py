"""Certificates, pure: an internal CA (root + intermediate), server certificates, and the checks a PEM
bundle must pass before it is uploaded to the web endpoint (a bad one keeps the real web server down).

Keys are ECDSA P-256. Every function takes the time (`now`) instead of reading a clock.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)
ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
SERVER_DAYS = 397  # the longest validity browsers and most TLS stacks accept for a server certificate

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    """A private key and its certificate."""

    key: Key
    cert: x509.Certificate

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)


def key_pem(key: Key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "onprem"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: str, issuer: x509.Name, public: ec.EllipticCurvePublicKey, now: datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def issue_ca(name: str, now: datetime) -> tuple[Issued, Issued]:
    """A self-signed root and an intermediate signed by it: (root, intermediate)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        _builder(f"{name} Root CA", _name(f"{name} Root CA"), root_key.public_key(), now, ROOT_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = (
        _builder(f"{name} Intermediate CA", root.subject, inter_key.public_key(), now, INTERMEDIATE_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    return Issued(root_key, root), Issued(inter_key, inter)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_server(issuer: Issued, sans: list[str], now: datetime, days: int = SERVER_DAYS) -> Issued:
    """A TLS server certificate for `sans` (DNS names or IP addresses; the first is the CN)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(sans[0], issuer.cert.subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in sans]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(key, cert)


def sans_of(cert: x509.Certificate) -> list[str]:
    """The certificate's subject alternative names as text (DNS names and IP addresses)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]


def covers(cert: x509.Certificate, name: str) -> bool:
    """Whether `cert`'s SANs cover `name` as TLS clients check it: an IP address only by an IP SAN, a
    DNS name by the same name or a wildcard for its left-most label (`*.example.com`)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return address in ext.get_values_for_type(x509.IPAddress)
    wanted = name.lower().rstrip(".")
    parent = wanted.split(".", 1)[1] if "." in wanted else None
    for pattern in (str(v).lower().rstrip(".") for v in ext.get_values_for_type(x509.DNSName)):
        if pattern == wanted or (pattern.startswith("*.") and parent is not None and pattern[2:] == parent):
            return True
    return False


def load_certs(text: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order. Raises ValueError on a malformed block."""
    return [
        x509.load_pem_x509_certificate(m.group(0).encode())
        for m in PEM_BLOCK.finditer(text)
        if "CERTIFICATE" in m.group(1)
    ]


def load_key(text: str) -> Key:
    """The private key in a PEM text. Raises ValueError when it is missing or not an EC/RSA key."""
    key = serialization.load_pem_private_key(text.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("only ECDSA keys are issued by onprem")
    return key


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` issued `cert` (names match and the signature verifies)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def valid_at(cert: x509.Certificate, now: datetime, margin: timedelta = timedelta(0)) -> bool:
    return cert.not_valid_before_utc <= now and now + margin < cert.not_valid_after_utc


def describe(cert: x509.Certificate, now: datetime) -> dict[str, object]:
    """Subject, issuer, expiry and days left of a certificate, for `certs status`."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": (cert.not_valid_after_utc - now).days,
        "sans": sans_of(cert),
    }
