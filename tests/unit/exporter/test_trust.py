"""The exporter verifies the web endpoint against the client's own CA and, once `certs upload` wrote
them, the uploaded chain's roots: read from the data volume when they appear or change, no restart."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onprem import pki
from onprem.exporter.transport import AiohttpTransport, UpstreamError, ssl_context

NOW = datetime.now(UTC)


@asynccontextmanager
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    """A TLS server presenting a chain of a fresh CA for 127.0.0.1: (port, that CA's root PEM)."""
    root, inter = pki.issue_ca("uploaded", NOW)
    server = pki.issue_server(inter, ["127.0.0.1", "localhost"], NOW)
    (tmp_path / "chain.pem").write_text(server.cert_pem + inter.cert_pem)
    (tmp_path / "key.pem").write_text(server.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"))

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield listener.sockets[0].getsockname()[1], root.cert_pem
    finally:
        listener.close()
        await listener.wait_closed()


def test_the_uploaded_root_is_trusted_from_the_scrape_after_it_appears(tmp_path: Path) -> None:
    own_ca = tmp_path / "ca.pem"
    own_ca.write_text(pki.issue_ca("client's own", NOW)[0].cert_pem)
    trusted = tmp_path / "trusted.pem"

    async def scenario() -> None:
        async with tls_server(tmp_path) as (port, root):
            transport = AiohttpTransport(
                f"https://127.0.0.1:{port}", ca_file=str(own_ca), trusted_ca_file=str(trusted)
            )
            try:
                with pytest.raises(UpstreamError, match="CERTIFICATE_VERIFY_FAILED"):
                    await transport.certificate_expiry()
                trusted.write_text(root)
                assert await transport.certificate_expiry() > NOW.timestamp()
                trusted.write_text("")
                with pytest.raises(UpstreamError, match="CERTIFICATE_VERIFY_FAILED"):
                    await transport.certificate_expiry()
            finally:
                await transport.close()

    asyncio.run(scenario())


def test_missing_or_empty_trusted_roots_add_nothing_and_garbage_is_an_upstream_error(tmp_path: Path) -> None:
    own_ca = tmp_path / "ca.pem"
    own_ca.write_text(pki.issue_ca("client's own", NOW)[0].cert_pem)
    assert len(ssl_context(str(own_ca), str(tmp_path / "absent.pem")).get_ca_certs()) == 1
    (tmp_path / "empty.pem").write_text("")
    assert len(ssl_context(str(own_ca), str(tmp_path / "empty.pem")).get_ca_certs()) == 1
    (tmp_path / "roots.pem").write_text(pki.issue_ca("uploaded", NOW)[0].cert_pem)
    assert len(ssl_context(str(own_ca), str(tmp_path / "roots.pem")).get_ca_certs()) == 2
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(UpstreamError, match="cannot load the trusted roots"):
        ssl_context(str(own_ca), str(tmp_path / "garbage.pem"))
