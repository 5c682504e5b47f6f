"""Checks of a PEM bundle for `POST /v1/certificates/external`, all done before anything is uploaded.

The client wants one text/plain bundle: the private key, the server certificate, then at least one
intermediate CA, in that order. A bundle it cannot load keeps the real web server from restarting, so
every problem is found here, each named with what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from onprem.errors import ConfigError
from onprem.pki import PEM_BLOCK, covers, sans_of, signed_by

KEY_KINDS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class CheckedBundle:
    """A bundle that passed every check: its text, server certificate and chain (intermediates on)."""

    text: str
    server: x509.Certificate
    chain: list[x509.Certificate]


def _label(index: int, cert: x509.Certificate) -> str:
    role = "the server certificate" if index == 0 else f"chain certificate {index}"
    return f"{role} ({cert.subject.rfc4514_string()})"


def _parse(text: str, origin: str) -> tuple[list[PrivateKeyTypes], list[x509.Certificate], list[str]]:
    keys: list[PrivateKeyTypes] = []
    certs: list[x509.Certificate] = []
    problems: list[str] = []
    blocks = list(PEM_BLOCK.finditer(text))
    if not blocks:
        raise ConfigError(f"{origin}: no PEM block found; give the key, certificate and intermediates as PEM")
    for position, block in enumerate(blocks, start=1):
        kind = block.group(1)
        try:
            if kind in KEY_KINDS:
                if certs:
                    problems.append(
                        f"{origin}: block {position} is a private key after a certificate; "
                        "put the key first (order: key, certificate, intermediates)"
                    )
                keys.append(serialization.load_pem_private_key(block.group(0).encode(), password=None))
            elif kind == "CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block.group(0).encode()))
            else:
                problems.append(
                    f"{origin}: block {position} is a {kind}; only keys and certificates belong here"
                )
        except (ValueError, TypeError) as exc:
            problems.append(
                f"{origin}: block {position} ({kind}) cannot be read ({exc}); is it encrypted or cut?"
            )
    return keys, certs, problems


def check_bundle(text: str, *, now: datetime, roots: list[x509.Certificate], origin: str) -> CheckedBundle:
    """Every check, or ConfigError listing each problem with what to fix.

    Order key -> certificate -> intermediates; exactly one unencrypted key, matching the server
    certificate; at least one intermediate; every certificate valid at `now`; each certificate signed by
    the next; the last one signed by (or one of) `roots` when roots are given.
    """
    keys, certs, problems = _parse(text, origin)
    if len(keys) != 1:
        problems.append(f"{origin}: found {len(keys)} private keys; the bundle needs exactly one, first")
    if not certs:
        problems.append(f"{origin}: no certificate; add the server certificate after the key")
        raise ConfigError(problems)
    if len(certs) < 2:
        problems.append(
            f"{origin}: no intermediate CA certificate after the server certificate; the client refuses a "
            "bundle without one: append the intermediate(s) that issued it"
        )
    if len(keys) == 1 and keys[0].public_key().public_bytes(*SPKI) != certs[0].public_key().public_bytes(
        *SPKI
    ):
        problems.append(
            f"{origin}: the private key does not match {_label(0, certs[0])}; use the key it was issued for"
        )
    for index, cert in enumerate(certs):
        if now < cert.not_valid_before_utc:
            problems.append(
                f"{origin}: {_label(index, cert)} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            )
        if now >= cert.not_valid_after_utc:
            problems.append(
                f"{origin}: {_label(index, cert)} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; renew it"
            )
    for index in range(len(certs) - 1):
        if not signed_by(certs[index], certs[index + 1]):
            problems.append(
                f"{origin}: {_label(index, certs[index])} is not signed by the next block, "
                f"{_label(index + 1, certs[index + 1])}; order the chain from the server up to the root"
            )
    last = certs[-1]
    if roots and not any(last == root or signed_by(last, root) for root in roots):
        problems.append(
            f"{origin}: the chain does not lead to the given CA: "
            f"{_label(len(certs) - 1, last)} is not issued by it"
        )
    if problems:
        raise ConfigError(problems)
    return CheckedBundle(text if text.endswith("\n") else text + "\n", certs[0], certs[1:])


def check_names(cert: x509.Certificate, needed: Sequence[tuple[str, str]], origin: str) -> None:
    """Raise ConfigError unless `cert`'s SANs cover every needed name (an IP only by an IP SAN)."""
    missing = [(name, who) for name, who in needed if not covers(cert, name)]
    if not missing:
        return
    found = ", ".join(sans_of(cert)) or "none"
    lacking = "; ".join(f"{name} (used by {who})" for name, who in missing)
    names = ", ".join(name for name, _ in needed)
    raise ConfigError(
        f"{origin}: the certificate's SANs ({found}) do not cover {lacking}; nothing was uploaded. Issue it "
        f"for {names} (IP addresses as IP SANs): `onprem certs issue` writes such a bundle to "
        "certs/web-bundle.pem in the state directory; or change client.web_servername"
    )


def check_public_chain(
    chain_text: str, key_text: str, host_name: str, *, now: datetime, origin: str
) -> CheckedBundle:
    """The checks of `certs upload` for the relay's public certificate (`relay.public`, source chain):
    the key matches the server certificate, each certificate is signed by the next, at least one
    intermediate, nothing expired or not yet valid, and the SANs cover `host_name`.

    Raises ConfigError listing every problem with what to fix.
    """
    if not key_text.strip() or not chain_text.strip():
        raise ConfigError(f"{origin}: the chain or key file is empty; give the PEM chain and its private key")
    checked = check_bundle(key_text.rstrip("\n") + "\n" + chain_text, now=now, roots=[], origin=origin)
    if not covers(checked.server, host_name):
        found = ", ".join(sans_of(checked.server)) or "none"
        raise ConfigError(
            f"{origin}: the certificate's SANs ({found}) do not cover relay.public.host_name {host_name}; "
            "use a certificate issued for that name, or set `certificate: {source: acme}` to have the relay "
            "get one"
        )
    return checked
