"""The PEM bundle of `POST /v1/certificates/external` and the webhook CA bundle, checked purely.

An external bundle is, in this order: the private key, the server certificate, then one or more
intermediate CA certificates. `parse_bundle` checks that shape (what the upload itself refuses);
`check_bundle` checks what only bites when the web server loads it at start: the key matches the
certificate, each certificate is signed by the next one, and every one is within its validity dates.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}


class BundleError(ValueError):
    """The bundle is not usable; the message says why."""


@dataclass(frozen=True)
class Bundle:
    key: PrivateKeyTypes
    cert: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    key_pem: bytes
    chain_pem: bytes  # the certificate followed by the intermediates, as a server presents them


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(match.group(1), match.group(0)) for match in _BLOCK.finditer(text)]


def _certificate(pem: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise BundleError(f"{what} is not a valid PEM certificate") from None


def parse_bundle(text: str) -> Bundle:
    """Split and parse `text` as key, certificate, intermediates. Raises BundleError on a wrong shape."""
    blocks = _blocks(text)
    if not blocks:
        raise BundleError("no PEM blocks found")
    label, key_pem = blocks[0]
    if label not in _KEY_LABELS:
        raise BundleError(
            "the bundle must start with the private key (order: key, certificate, intermediates)"
        )
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise BundleError("the private key cannot be read (encrypted keys are not supported)") from None
    rest = blocks[1:]
    if any(label != "CERTIFICATE" for label, _ in rest):
        raise BundleError(
            "after the key only CERTIFICATE blocks may follow (order: key, certificate, intermediates)"
        )
    if len(rest) < 2:
        raise BundleError("the bundle needs the certificate and at least one intermediate CA certificate")
    cert = _certificate(rest[0][1], "the certificate")
    intermediates = tuple(_certificate(pem, f"intermediate {i}") for i, (_, pem) in enumerate(rest[1:], 1))
    chain = "\n".join(pem for _, pem in rest) + "\n"
    return Bundle(key, cert, intermediates, key_pem.encode("ascii") + b"\n", chain.encode("ascii"))


def check_bundle(bundle: Bundle, now: datetime | None = None) -> None:
    """Raise BundleError unless the key matches, the chain links up by signature, and all are valid now."""
    now = now or datetime.now(UTC)
    if bundle.key.public_key() != bundle.cert.public_key():
        raise BundleError("the private key does not match the certificate")
    chain = (bundle.cert, *bundle.intermediates)
    for index, (child, parent) in enumerate(itertools.pairwise(chain)):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise BundleError(
                f"certificate {index} is not signed by the next certificate in the bundle"
            ) from None
    for index, cert in enumerate(chain):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise BundleError(
                f"certificate {index} is outside its validity dates "
                f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
            )


def parse_ca_bundle(text: str) -> list[x509.Certificate]:
    """The certificates of a webhook CA bundle (one or more). Raises BundleError if there is none or
    any block is not a certificate."""
    blocks = _blocks(text)
    if not blocks:
        raise BundleError("no PEM certificate found")
    if any(label != "CERTIFICATE" for label, _ in blocks):
        raise BundleError("only CERTIFICATE blocks are accepted")
    return [_certificate(pem, f"certificate {i}") for i, (_, pem) in enumerate(blocks)]
