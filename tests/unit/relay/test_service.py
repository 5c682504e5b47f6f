"""The assembled relay: HTTPS listener from cert/key files, /healthz over it, clean start and stop."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from onprem.errors import ConfigError
from onprem.relay.secretfiles import load_secrets
from onprem.relay.service import Relay, RelayStartError, Seams
from tests.unit.relay.conftest import PATH_TOKEN, RecordingTransport, relay_settings, run


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_relay_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    settings = relay_settings(tmp_path, tls={"cert_file": str(cert_file), "key_file": str(key_file)})
    port = free_port()
    trust = ssl.create_default_context(cafile=str(cert_file))

    async def scenario() -> tuple[int, int, str]:
        relay = Relay(settings, load_secrets(settings), Seams(transport=RecordingTransport()))
        await relay.start("127.0.0.1", port)
        try:
            async with aiohttp.ClientSession() as session:
                base = f"https://127.0.0.1:{port}"
                async with session.get(f"{base}/healthz", ssl=trust) as health:
                    health_status = health.status
                body = b'{"statuses":[{"id":"x","status":"read","timestamp":"1"}]}'
                async with session.post(
                    f"{base}/webhooks/onprem/{PATH_TOKEN}",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    ssl=trust,
                ) as response:
                    post_status = response.status
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as plain:
                        plain_result = str(plain.status)
                except aiohttp.ClientError as exc:
                    plain_result = type(exc).__name__
        finally:
            await relay.stop()
        return health_status, post_status, plain_result

    health, posted, plain = run(scenario())
    assert (health, posted) == (200, 200)
    assert plain != "200", "plain HTTP is not served on a TLS listener"


def test_unreadable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    settings = relay_settings(
        tmp_path, tls={"cert_file": str(tmp_path / "nope.pem"), "key_file": str(tmp_path / "k")}
    )

    async def scenario() -> None:
        relay = Relay(settings, load_secrets(settings), Seams(transport=RecordingTransport()))
        try:
            await relay.start("127.0.0.1", free_port())
        finally:
            await relay.stop()

    with pytest.raises(ConfigError, match=r"relay\.tls"):
        run(scenario())


def test_a_busy_port_is_a_start_error(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        async def scenario() -> None:
            relay = Relay(settings, load_secrets(settings), Seams(transport=RecordingTransport()))
            await relay.start("127.0.0.1", port)

        with pytest.raises(RelayStartError, match="cannot listen"):
            run(scenario())


def test_missing_secret_files_are_a_config_error_naming_the_file_not_the_value(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    (tmp_path / "token").unlink()
    with pytest.raises(ConfigError, match=str(tmp_path / "token")):
        load_secrets(settings)
    (tmp_path / "token").write_text("short")
    with pytest.raises(ConfigError, match="at least 16"):
        load_secrets(settings)
