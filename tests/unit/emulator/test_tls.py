"""The self-signed CA and server certificate: names, file modes, reuse, reissue, a real handshake."""

from __future__ import annotations

import asyncio
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import ClientSession, web
from cryptography import x509
from cryptography.x509.oid import NameOID

from onprem.emulator.tls import (
    CA_NAME,
    certificate_names,
    ensure_certificates,
    normalise_names,
    server_ssl_context,
)

NAMES = ["localhost", "127.0.0.1", "::1", "waweb", "wa.example.com", "10.0.0.7"]


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificate_covers_every_name_as_dns_or_ip(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    cert = load(paths.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "waweb", "wa.example.com"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1", "10.0.0.7"}
    assert certificate_names(cert) == normalise_names(NAMES)


def test_the_ca_is_the_clients_autogen_ca_and_signs_the_server_certificate(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    ca, cert = load(paths.ca), load(paths.cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_NAME
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    assert paths.ca.name == "ca.pem"
    assert paths.cert.name == "www.cert"
    assert paths.key.name == "www.key"


def test_private_keys_are_0600(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_certificates_are_reused_when_the_names_are_the_same(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    before = (paths.ca.read_bytes(), paths.cert.read_bytes(), paths.key.read_bytes())
    ensure_certificates(tmp_path, [*list(reversed(NAMES)), "LOCALHOST", ""])
    assert (paths.ca.read_bytes(), paths.cert.read_bytes(), paths.key.read_bytes()) == before


def test_new_names_reissue_the_server_certificate_but_keep_the_pinned_ca(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    ca_before, cert_before = paths.ca.read_bytes(), paths.cert.read_bytes()
    ensure_certificates(tmp_path, [*NAMES, "new.example.com"])
    assert paths.ca.read_bytes() == ca_before
    assert paths.cert.read_bytes() != cert_before
    assert "new.example.com" in certificate_names(load(paths.cert))
    load(paths.cert).verify_directly_issued_by(load(paths.ca))


def test_a_certificate_near_expiry_is_renewed(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    first = load(paths.cert)
    later = datetime.now(UTC) + timedelta(days=810)
    ensure_certificates(tmp_path, NAMES, now=later)
    assert load(paths.cert).not_valid_after_utc > first.not_valid_after_utc


def test_a_server_cert_from_another_ca_is_replaced(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)
    foreign = ensure_certificates(tmp_path / "other", NAMES)
    paths.cert.write_bytes(foreign.cert.read_bytes())
    paths.key.write_bytes(foreign.key.read_bytes())
    ensure_certificates(tmp_path, NAMES)
    load(paths.cert).verify_directly_issued_by(load(paths.ca))


def test_a_client_pinning_the_ca_completes_the_handshake(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, NAMES)

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hi")

    async def main() -> str:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(paths))
        await site.start()
        port = runner.addresses[0][1]
        client_ctx = ssl.create_default_context(cafile=str(paths.ca))
        try:
            async with (
                ClientSession() as session,
                session.get(f"https://127.0.0.1:{port}/", ssl=client_ctx) as response,
            ):
                return await response.text()
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == "hi"
