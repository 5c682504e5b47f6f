"""The relay's public certificate, as Meta sees it: a verifying TLS handshake with the relay's public
HTTPS listener (`exporter.relay_public`), and its expiry as a gauge.

Probing the listener rather than reading the relay's files shows what is actually served (a renewal
that was stored but not swapped in would show here). The handshake verifies the chain and the name like
any client (system roots, or `ca_file` for a private CA): an expired or wrong certificate fails the
collector (`whatsapp_exporter_collector_success{collector="relay_public_certificate"} 0`), which alerts.
"""

from __future__ import annotations

import asyncio

from onprem.exporter.collect import CollectFn
from onprem.exporter.families import FamilyBuilder
from onprem.exporter.settings import RelayPublicProbeSettings
from onprem.exporter.transport import UpstreamError, handshake_expiry, ssl_context
from onprem.exporter.upstream import UpstreamClient
from onprem.sidecar import split_listen

METRIC = "whatsapp_relay_public_certificate_expiry_timestamp_seconds"
HANDSHAKE_SECONDS = 5.0


async def probe_expiry(settings: RelayPublicProbeSettings, timeout: float = HANDSHAKE_SECONDS) -> float:
    """The notAfter (Unix time) of the verified certificate the listener presents. Raises UpstreamError."""
    host, port = split_listen(settings.address)
    context = ssl_context(settings.ca_file)
    try:
        async with asyncio.timeout(timeout):
            return await handshake_expiry(host, port, context, settings.host_name)
    except TimeoutError:
        raise UpstreamError(
            f"TLS handshake with the relay's public listener {host}:{port}: no answer in {timeout:g} s"
        ) from None
    except UpstreamError as exc:
        raise UpstreamError(f"the relay's public listener: {exc}") from None


def relay_public_collector(settings: RelayPublicProbeSettings) -> CollectFn:
    """A collector (see collect.COLLECTORS) adding the relay public certificate's expiry gauge."""

    async def collect(_: UpstreamClient, out: FamilyBuilder) -> None:
        out.gauge(
            METRIC,
            "When the certificate of the relay's public HTTPS listener expires (Unix time).",
            await probe_expiry(settings),
        )

    return collect
