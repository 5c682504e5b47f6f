"""relay.public: its settings, the renewal decision (injected clock), the HTTP-01 responder and redirect,
the certificate swap on a live TLS listener, the public routes, and the exporter's probe of it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from onprem.errors import ConfigError
from onprem.exporter.publiccert import probe_expiry
from onprem.exporter.settings import RelayPublicProbeSettings
from onprem.exporter.transport import UpstreamError
from onprem.pki import Issued, issue_ca, issue_server
from onprem.relay.acmeissue import AcmeError, CertificateFiles, ChallengeTokens, write_private
from onprem.relay.http01 import Http01App
from onprem.relay.metrics import RelayMetrics
from onprem.relay.publictls import CertificateSlot, Served, load_served
from onprem.relay.renewal import Renewer, next_step, renew_at, retry_delay
from onprem.relay.secretfiles import load_secrets
from onprem.relay.service import Relay, Seams
from onprem.relay.settings import AcmeCertificateSettings, parse_settings
from tests.integration.conftest import free_ports
from tests.unit.relay.conftest import Clock, RecordingTransport, relay_settings, run

HOST = "relay.example.com"
DAY = 86400.0


def acme(**extra: Any) -> dict[str, Any]:
    return {"host_name": HOST, "certificate": {"source": "acme", **extra}}


# ------------------------------------------------------------------------------------------- settings
def test_public_settings_default_to_443_and_80_with_acme_renewing_30_days_ahead() -> None:
    settings = parse_settings({"cloud": {"enabled": True}, "public": acme(email="ops@example.com")})
    assert settings.public is not None
    assert settings.public.acme is not None
    assert (settings.public.port, settings.public.http01_port) == (443, 80)
    assert settings.public.acme.renew_before_days == 30
    assert settings.public.acme.state_dir.startswith(settings.store.data_dir)
    assert parse_settings(settings.model_dump(mode="json")) == settings


def test_an_operator_chain_is_read_from_secret_files() -> None:
    settings = parse_settings(
        {"cloud": {"enabled": True}, "public": {"host_name": HOST, "certificate": {"source": "chain"}}}
    )
    files = settings.secret_files()
    assert "/run/secrets/RELAY_PUBLIC_CHAIN" in files
    assert "/run/secrets/RELAY_PUBLIC_KEY" in files


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"cloud": {"enabled": True}, "public": acme() | {"host_name": "203.0.113.7"}},
            "relay.public.host_name: must be",
        ),
        ({"cloud": {"enabled": True}, "public": acme() | {"host_name": "Relay"}}, "relay.public.host_name"),
        ({"cloud": {"enabled": True}, "public": acme() | {"port": 80}}, "port and http01_port must differ"),
        ({"public": acme()}, "set cloud.enabled: true"),
        (
            {"cloud": {"enabled": True}, "replicas": 2, "store": {"backend": "redis"}, "public": acme()},
            "source: acme needs replicas: 1",
        ),
        ({"cloud": {"enabled": True}, "public": acme(directory_url="http://ca.test/dir")}, "https:// URL"),
        ({"cloud": {"enabled": True}, "public": acme(ca_file="ca.pem")}, "absolute path"),
        (
            {"cloud": {"enabled": True}, "public": {"host_name": HOST, "certificate": {"source": "pem"}}},
            "'chain', 'acme'",
        ),
        (
            {"cloud": {"enabled": True}, "public": acme(retry_min_seconds=10, retry_max_seconds=5)},
            "retry_min",
        ),
        ({"cloud": {"enabled": True}, "public": acme() | {"bind_address": "0.0.0.0.1"}}, "bind_address"),
    ],
)
def test_bad_public_settings_name_the_field_and_the_file(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"relay\.yaml: relay") as caught:
        parse_settings(data, origin="relay.yaml")
    assert message in str(caught.value)


# ----------------------------------------------------------------------------------- renewal decision
def test_a_90_day_certificate_is_renewed_30_days_before_expiry() -> None:
    assert renew_at(0.0, 90 * DAY, renew_before_days=30) == 60 * DAY


def test_a_short_certificate_is_renewed_with_a_third_of_its_lifetime_left() -> None:
    assert renew_at(1000.0, 1060.0, renew_before_days=30) == pytest.approx(1040.0)


def test_no_certificate_is_due_at_once_and_a_fresh_one_waits_until_its_renewal_time() -> None:
    served = Served(ssl.create_default_context(), not_before=0.0, not_after=90 * DAY)
    assert next_step(None, 5.0, 30) == 0.0
    assert next_step(served, 10 * DAY, 30) == 50 * DAY
    assert next_step(served, 70 * DAY, 30) == 0.0


def test_failed_orders_back_off_doubling_up_to_the_cap() -> None:
    assert [retry_delay(n, 60, 600) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


# ----------------------------------------------------------------------------------- test certificates
def issued_chain(
    tmp_path: Path, name: str, lifetime: timedelta, now: datetime | None = None
) -> tuple[Path, Path, Issued]:
    now = now or datetime.now(UTC)
    root, intermediate = issue_ca("test", now)
    server = issue_server(intermediate, [HOST], now, days=1)
    if lifetime != timedelta(days=1):  # pki issues whole days: re-sign with the lifetime asked for
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        builder = (
            x509.CertificateBuilder()
            .subject_name(server.cert.subject)
            .issuer_name(intermediate.cert.subject)
            .public_key(server.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(seconds=1))
            .not_valid_after(now + lifetime)
        )
        for extension in server.cert.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        server = Issued(server.key, builder.sign(intermediate.key, hashes.SHA256()))
    chain, key = tmp_path / f"{name}-chain.pem", tmp_path / f"{name}-key.pem"
    chain.write_text(server.cert_pem + intermediate.cert_pem)
    write_private(key, server.key_pem.encode())
    (tmp_path / f"{name}-root.pem").write_text(root.cert_pem)
    return chain, key, root


class FakeIssuer:
    """Stands in for AcmeIssuer: fails `failures` times, then writes a fresh chain each call."""

    def __init__(
        self,
        tmp_path: Path,
        failures: int = 0,
        lifetime: timedelta = timedelta(days=90),
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.clock = clock
        self.tmp_path = tmp_path
        self.failures = failures
        self.lifetime = lifetime
        self.calls = 0
        self.files = CertificateFiles(
            tmp_path / "state" / "fullchain.pem", tmp_path / "state" / "privkey.pem"
        )

    def issue(self) -> CertificateFiles:
        self.calls += 1
        if self.calls <= self.failures:
            raise AcmeError("challenge failed: relay.example.com: connection refused")
        now = datetime.fromtimestamp(self.clock(), UTC) if self.clock is not None else None
        chain, key, _ = issued_chain(self.tmp_path, f"issued{self.calls}", self.lifetime, now)
        write_private(self.files.chain, chain.read_bytes())
        write_private(self.files.key, key.read_bytes())
        return self.files


def renewer(
    tmp_path: Path, issuer: FakeIssuer, clock: Callable[[], float], slot: CertificateSlot | None = None
) -> tuple[Renewer, CertificateSlot, RelayMetrics]:
    settings = AcmeCertificateSettings(
        source="acme", state_dir=str(tmp_path / "state"), retry_min_seconds=60, retry_max_seconds=600
    )
    slot = slot or CertificateSlot()
    metrics = RelayMetrics()
    return Renewer(settings, slot, issuer, metrics, clock=clock), slot, metrics  # type: ignore[arg-type]


def test_the_renewer_backs_off_on_failures_then_serves_and_exports_the_new_certificate(
    tmp_path: Path,
) -> None:
    issuer = FakeIssuer(tmp_path, failures=2)
    renew, slot, metrics = renewer(tmp_path, issuer, Clock(datetime.now(UTC).timestamp()))
    delays = [run(renew.renew_once()) for _ in range(3)]
    assert delays[:2] == [60, 120]
    assert slot.current is not None
    assert delays[2] == pytest.approx(60 * DAY, abs=5)  # 90-day certificate: next check 30 days before expiry
    assert metrics.public_not_after._value.get() == slot.current.not_after  # type: ignore[attr-defined]
    assert metrics.public_renewals.labels("failure")._value.get() == 2  # type: ignore[attr-defined]
    assert renew.failures == 0


def test_the_renewer_loop_sleeps_until_due_and_renews_without_a_second_order_in_between(
    tmp_path: Path,
) -> None:
    clock = Clock(datetime.now(UTC).timestamp())
    issuer = FakeIssuer(tmp_path, lifetime=timedelta(seconds=60), clock=clock)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds
        if len(sleeps) == 3:
            raise asyncio.CancelledError

    renew, slot, _ = renewer(tmp_path, issuer, clock)
    renew._sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        run(renew.run())
    assert issuer.calls == 3  # ordered at once, then each time a third of the lifetime was left
    assert all(35 < s < 45 for s in sleeps), sleeps
    assert slot.swaps == 2


def test_a_stored_certificate_is_served_at_start_and_an_expired_one_is_not(tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC).timestamp())
    issuer = FakeIssuer(tmp_path)
    issuer.issue()
    renew, slot, _ = renewer(tmp_path, issuer, clock)
    assert renew.load_stored()
    assert slot.current is not None
    clock.now += 100 * DAY
    renew2, slot2, _ = renewer(tmp_path, issuer, clock)
    assert not renew2.load_stored()
    assert slot2.current is None


def test_state_files_are_written_mode_0600(tmp_path: Path) -> None:
    write_private(tmp_path / "deep" / "k.pem", b"secret")
    assert (tmp_path / "deep" / "k.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700


# ------------------------------------------------------------------------------- HTTP-01 and redirect
async def _http01(
    path: str, tokens: ChallengeTokens, port: int = 443, **kw: Any
) -> tuple[int, str, dict[str, str]]:
    client: TestClient[Any, Any] = TestClient(
        TestServer(Http01App(tokens, HOST, port).build(), host="127.0.0.1")
    )
    await client.start_server()
    try:
        async with client.request(kw.pop("method", "GET"), path, allow_redirects=False, **kw) as response:
            return response.status, await response.text(), dict(response.headers)
    finally:
        await client.close()


def test_a_pending_challenge_token_is_answered_with_its_key_authorization() -> None:
    tokens = ChallengeTokens()
    tokens.put("tok-EN_1", "tok-EN_1.thumbprint")
    status, text, headers = run(_http01("/.well-known/acme-challenge/tok-EN_1", tokens))
    assert (status, text) == (200, "tok-EN_1.thumbprint")
    assert headers["Content-Type"].startswith("text/plain")
    tokens.drop("tok-EN_1")
    assert run(_http01("/.well-known/acme-challenge/tok-EN_1", tokens))[0] == 404


def test_anything_else_on_http_redirects_to_the_configured_https_name_not_the_host_header() -> None:
    status, _, headers = run(
        _http01(
            "/webhooks/cloud?hub.mode=subscribe",
            ChallengeTokens(),
            headers={"Host": "evil.test"},
            method="POST",
        )
    )
    assert status == 308
    assert headers["Location"] == f"https://{HOST}/webhooks/cloud?hub.mode=subscribe"
    assert run(_http01("/x", ChallengeTokens(), port=8443))[2]["Location"] == f"https://{HOST}:8443/x"


# ----------------------------------------------------------------------------- the certificate swap
def _handshake(port: int, root: Path) -> dict[str, Any]:
    import socket

    context = ssl.create_default_context(cafile=str(root))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=HOST) as tls,
    ):
        return dict(tls.getpeercert() or {})


def test_a_swap_serves_new_handshakes_the_new_certificate_while_an_open_connection_keeps_working(
    tmp_path: Path,
) -> None:
    chain_a, key_a, root_a = issued_chain(tmp_path, "a", timedelta(days=1))
    chain_b, key_b, _ = issued_chain(tmp_path, "b", timedelta(days=2))
    (tmp_path / "roots.pem").write_text(root_a.cert_pem + (tmp_path / "b-root.pem").read_text())
    slot = CertificateSlot()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    async def scenario() -> tuple[bool, str, str, bytes]:
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=slot.listener_context)
        port = server.sockets[0].getsockname()[1]
        try:
            refused = False
            try:
                await asyncio.to_thread(_handshake, port, tmp_path / "roots.pem")
            except ssl.SSLError:
                refused = True  # no certificate yet: handshakes are refused, not served something else
            slot.swap(load_served(str(chain_a), str(key_a)))
            context = ssl.create_default_context(cafile=str(tmp_path / "roots.pem"))
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname=HOST
            )
            before = (await asyncio.to_thread(_handshake, port, tmp_path / "roots.pem"))["notAfter"]
            slot.swap(load_served(str(chain_b), str(key_b)))
            after = (await asyncio.to_thread(_handshake, port, tmp_path / "roots.pem"))["notAfter"]
            writer.write(b"still here\n")
            echoed = await reader.readline()
            writer.close()
            return refused, before, after, echoed
        finally:
            server.close()
            await server.wait_closed()

    refused, before, after, echoed = run(scenario())
    assert refused
    assert ssl.cert_time_to_seconds(after) > ssl.cert_time_to_seconds(before)
    assert echoed == b"still here\n"
    assert slot.swaps == 1


def test_a_bad_chain_file_is_a_config_error_naming_the_files(tmp_path: Path) -> None:
    chain, _, _ = issued_chain(tmp_path, "a", timedelta(days=1))
    _, other_key, _ = issued_chain(tmp_path, "b", timedelta(days=1))
    with pytest.raises(ConfigError, match=r"relay\.public: cannot load .*a-chain\.pem"):
        load_served(str(chain), str(other_key))


# ------------------------------------------------------------------------------------ public routes
def test_the_public_listener_serves_only_the_cloud_ingress_and_healthz(tmp_path: Path) -> None:
    chain, key, _ = issued_chain(tmp_path, "a", timedelta(days=1))
    settings = relay_settings(
        tmp_path,
        public={
            "host_name": HOST,
            "certificate": {"source": "chain", "chain_file": str(chain), "key_file": str(key)},
        },
    )

    async def scenario() -> dict[str, int]:
        relay = Relay(settings, load_secrets(settings), Seams(transport=RecordingTransport()))
        await relay.store.open()
        client: TestClient[Any, Any] = TestClient(TestServer(relay.app.build_public(), host="127.0.0.1"))
        await client.start_server()
        try:
            statuses = {}
            for method, path in [
                ("GET", "/healthz"),
                ("GET", "/metrics"),
                ("POST", "/webhooks/onprem/x"),
                (
                    "GET",
                    "/webhooks/cloud?hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=42",
                ),
            ]:
                async with client.request(method, path) as response:
                    statuses[f"{method} {path.split('?')[0]}"] = response.status
            return statuses
        finally:
            await client.close()
            await relay.store.close()

    assert run(scenario()) == {
        "GET /healthz": 200,
        "GET /metrics": 404,
        "POST /webhooks/onprem/x": 404,
        "GET /webhooks/cloud": 200,
    }


def test_the_relay_starts_the_public_listeners_with_the_operator_chain(tmp_path: Path) -> None:
    chain, key, _ = issued_chain(tmp_path, "a", timedelta(days=1))
    main, public, http01 = free_ports(3)
    settings = relay_settings(
        tmp_path,
        public={
            "host_name": HOST,
            "certificate": {"source": "chain", "chain_file": str(chain), "key_file": str(key)},
        },
    )

    async def scenario() -> tuple[dict[str, Any], float]:
        relay = Relay(settings, load_secrets(settings), Seams(transport=RecordingTransport()))
        await relay.start("127.0.0.1", main, public=("127.0.0.1", public), http01=("127.0.0.1", http01))
        try:
            peer = await asyncio.to_thread(_handshake, public, tmp_path / "a-root.pem")
            probed = await probe_expiry(
                RelayPublicProbeSettings(
                    address=f"127.0.0.1:{public}", host_name=HOST, ca_file=str(tmp_path / "a-root.pem")
                )
            )
            return peer, probed
        finally:
            await relay.stop()

    peer, probed = run(scenario())
    assert ("DNS", HOST) in peer["subjectAltName"]
    assert probed == ssl.cert_time_to_seconds(peer["notAfter"])


def test_the_exporter_probe_refuses_a_certificate_it_cannot_verify(tmp_path: Path) -> None:
    chain, key, _ = issued_chain(tmp_path, "a", timedelta(days=1))
    _, _, _ = issued_chain(tmp_path, "other", timedelta(days=1))
    slot = CertificateSlot()
    slot.swap(load_served(str(chain), str(key)))

    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=slot.listener_context)
        port = server.sockets[0].getsockname()[1]
        try:
            await probe_expiry(
                RelayPublicProbeSettings(
                    address=f"127.0.0.1:{port}", host_name=HOST, ca_file=str(tmp_path / "other-root.pem")
                )
            )
        finally:
            server.close()
            await server.wait_closed()

    with pytest.raises(UpstreamError, match="the relay's public listener: TLS handshake with"):
        run(scenario())


def test_an_unreachable_ca_is_an_acme_error_and_leaves_only_the_account_key(tmp_path: Path) -> None:
    from onprem.relay.acmeissue import AcmeIssuer

    port = free_ports(1)[0]  # nothing listens there
    settings = AcmeCertificateSettings(
        source="acme", directory_url=f"https://127.0.0.1:{port}/dir", state_dir=str(tmp_path / "acme")
    )
    issuer = AcmeIssuer(settings, HOST, ChallengeTokens())
    with pytest.raises(AcmeError, match="ConnectionError"):
        issuer.issue()
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == ["account-key.pem"]
    assert (tmp_path / "acme" / "account-key.pem").stat().st_mode & 0o777 == 0o600
    assert not issuer.files.exist()


def test_stopping_mid_order_does_not_wait_for_the_ca(tmp_path: Path) -> None:
    import threading
    import time

    release = threading.Event()

    class StuckIssuer(FakeIssuer):
        def issue(self) -> CertificateFiles:
            release.wait(30)  # a CA that does not answer
            return super().issue()

    renew, _, _ = renewer(tmp_path, StuckIssuer(tmp_path), Clock(datetime.now(UTC).timestamp()))

    async def scenario() -> float:
        task = asyncio.create_task(renew.run())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    try:
        assert run(scenario()) < 1.0
    finally:
        release.set()
