"""The public listener's certificate, replaced in place: new handshakes get the new one, open connections
keep theirs, and nothing restarts.

asyncio fixes a server's SSLContext when it starts listening. The listener therefore gets a front context
whose servername callback (called by OpenSSL on every ClientHello, with or without SNI) moves the
handshake onto the current context; a renewal builds a fresh context with `load_cert_chain` and makes it
current. A handshake that started before the swap finishes on the context it was given.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from cryptography import x509

from onprem.errors import ConfigError


@dataclass(frozen=True)
class Served:
    """A loaded certificate: its context and validity (Unix times)."""

    context: ssl.SSLContext
    not_before: float
    not_after: float


def server_context() -> ssl.SSLContext:
    """A server context with the relay's TLS floor (TLS 1.2+), no certificate yet."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load_served(chain_file: str, key_file: str) -> Served:
    """Load a PEM chain (server certificate first) and its key into a fresh context.

    Raises ConfigError naming the files when they cannot be read, parsed, or do not match.
    """
    context = server_context()
    try:
        context.load_cert_chain(chain_file, key_file)
        with open(chain_file, "rb") as handle:
            leaf = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"relay.public: cannot load {chain_file} / {key_file} ({exc})") from None
    return Served(context, leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp())


class CertificateSlot:
    """Holds the certificate the public listener presents; `swap` replaces it for new handshakes."""

    def __init__(self) -> None:
        self.current: Served | None = None
        self.swaps = 0
        self._front = server_context()
        self._front.sni_callback = self._select

    @property
    def listener_context(self) -> ssl.SSLContext:
        """The context to give the listener once; it never changes, what it hands over does."""
        return self._front

    def swap(self, served: Served) -> None:
        """Present `served` from the next handshake on."""
        if self.current is not None:
            self.swaps += 1
        self.current = served

    def _select(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        served = self.current
        if served is None:  # no certificate yet (ACME still ordering the first one): refuse the handshake
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        connection.context = served.context
        return None
