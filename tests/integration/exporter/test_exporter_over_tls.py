"""The exporter against a real TLS upstream on loopback: pinned CA, certificate expiry, down/slow/garbage."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from onprem.exporter.fakes import documents
from onprem.exporter.server import make_app, make_scraper
from onprem.exporter.settings import ExporterSettings
from onprem.exporter.transport import CERTIFICATE_TTL_SECONDS, AiohttpTransport, UpstreamError
from tests.integration.exporter.conftest import API_KEY, Pki, fake_upstream, make_pki

pytestmark = pytest.mark.integration
TIMEOUT = {"X-Prometheus-Scrape-Timeout-Seconds": "2"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def scrape(settings: ExporterSettings, headers: dict[str, str] = TIMEOUT) -> tuple[int, str, float]:
    """One /metrics over a real loopback socket: status, body and seconds taken."""
    scraper = make_scraper(settings)
    try:
        async with TestClient(TestServer(make_app(scraper, settings))) as client:
            started = time.monotonic()
            resp = await client.get("/metrics", headers=headers)
            return resp.status, await resp.text(), time.monotonic() - started
    finally:
        await scraper.client.transport.close()


def settings_for(url: str, ca_file: Path, api_key_file: Path) -> ExporterSettings:
    return ExporterSettings(upstream_url=url, ca_file=str(ca_file), api_key_file=str(api_key_file))


def test_a_healthy_upstream_over_pinned_tls(pki: Pki, api_key_file: Path) -> None:
    async def run() -> tuple[int, str, float]:
        async with fake_upstream(pki, documents(1)) as url:
            return await scrape(settings_for(url, pki.ca_file, api_key_file))

    status, body, _ = asyncio.run(run())
    assert status == 200
    assert "whatsapp_up 1.0" in body
    assert 'whatsapp_gateway_status{node="single",role="single",status="connected"} 1.0' in body
    expiry = [
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "whatsapp_tls_certificate_expiry_timestamp_seconds"
    ]
    assert expiry == [pki.not_after.timestamp()]


@pytest.mark.parametrize("mode", ["garbage", "slow"])
def test_a_garbage_or_slow_upstream_gives_up_0_within_the_deadline(
    pki: Pki, api_key_file: Path, mode: str
) -> None:
    async def run() -> tuple[int, str, float]:
        async with fake_upstream(pki, documents(1), mode=mode) as url:
            return await scrape(settings_for(url, pki.ca_file, api_key_file))

    status, body, took = asyncio.run(run())
    assert status == 200
    assert "whatsapp_up 0.0" in body
    assert took < 2.0  # the Prometheus timeout header said 2 s
    assert 'whatsapp_exporter_collector_success{collector="stats_app"} 0.0' in body


def test_a_down_upstream_gives_up_0_at_once(pki: Pki, api_key_file: Path) -> None:
    settings = settings_for(f"https://127.0.0.1:{free_port()}", pki.ca_file, api_key_file)
    status, body, took = asyncio.run(scrape(settings))
    assert (status, "whatsapp_up 0.0" in body) == (200, True)
    assert took < 1.0


def test_a_certificate_from_another_ca_is_refused(pki: Pki, api_key_file: Path, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "other")

    async def run() -> tuple[int, str, float]:
        async with fake_upstream(pki, documents(1)) as url:
            return await scrape(settings_for(url, stranger.ca_file, api_key_file))

    status, body, _ = asyncio.run(run())
    assert (status, "whatsapp_up 0.0" in body) == (200, True)
    assert "whatsapp_tls_certificate_expiry_timestamp_seconds" not in body


def test_the_ca_file_is_picked_up_once_it_appears(pki: Pki, api_key_file: Path, tmp_path: Path) -> None:
    ca_file = tmp_path / "certs" / "ca.pem"

    async def run() -> list[str]:
        async with fake_upstream(pki, documents(1)) as url:
            settings = settings_for(url, ca_file, api_key_file)
            scraper = make_scraper(settings)
            try:
                before = (await scraper.scrape(1.0)).decode()
                ca_file.parent.mkdir()
                ca_file.write_bytes(pki.ca_file.read_bytes())
                after = (await scraper.scrape(1.0)).decode()
            finally:
                await scraper.client.transport.close()
            return [before, after]

    before, after = asyncio.run(run())
    assert "whatsapp_up 0.0" in before
    assert "whatsapp_up 1.0" in after


def test_onprem_exporter_serve_runs_binds_and_stops_on_sigterm(
    pki: Pki, api_key_file: Path, tmp_path: Path
) -> None:
    port = free_port()

    async def run() -> tuple[int, str, str, int]:
        async with fake_upstream(pki, documents(3)) as url:
            config = tmp_path / "exporter.yaml"
            config.write_text(
                yaml.safe_dump(settings_for(url, pki.ca_file, api_key_file).model_dump(mode="json"))
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "onprem.cli",
                "exporter",
                "serve",
                "--settings",
                str(config),
                "--listen",
                f"127.0.0.1:{port}",
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            try:
                async with aiohttp.ClientSession() as session:
                    for _ in range(100):
                        try:
                            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                                health_status = resp.status
                                break
                        except aiohttp.ClientConnectionError:
                            await asyncio.sleep(0.1)
                    else:
                        pytest.fail("the exporter never served /healthz")
                    async with session.get(f"http://127.0.0.1:{port}/metrics", headers=TIMEOUT) as resp:
                        body = await resp.text()
            finally:
                proc.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(proc.communicate(), 10)
            return health_status, body, stderr.decode(), proc.returncode or 0

    health_status, body, stderr, code = asyncio.run(run())
    assert health_status == 200
    assert "whatsapp_up 1.0" in body
    assert body.count('whatsapp_gateway_status{node="wacore1') == 5
    assert code == 0
    assert API_KEY not in stderr


def test_the_certificate_reading_is_reused_for_a_minute(pki: Pki) -> None:
    now = [0.0]

    async def run() -> tuple[float, float]:
        async with fake_upstream(pki, documents(1)) as url:
            transport = AiohttpTransport(url, ca_file=str(pki.ca_file), clock=lambda: now[0])
            first = await transport.certificate_expiry()
        # The upstream is gone now: a fresh reading is impossible, the cached one is still served.
        now[0] += CERTIFICATE_TTL_SECONDS - 1
        second = await transport.certificate_expiry()
        now[0] += 2
        with pytest.raises(UpstreamError):
            await transport.certificate_expiry()
        await transport.close()
        return first, second

    first, second = asyncio.run(run())
    assert first == second == pki.not_after.timestamp()
