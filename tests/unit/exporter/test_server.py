"""The HTTP surface: /metrics always answers 200 in time, /healthz is the process, deadlines from headers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from onprem.exporter.fakes import DownTransport, FakeTransport
from onprem.exporter.server import make_app, make_scraper, scrape_budget
from onprem.exporter.settings import ExporterSettings
from onprem.exporter.transport import Transport


def settings(tmp_path: Path) -> ExporterSettings:
    key = tmp_path / "key"
    key.write_text("k" * 24)
    return ExporterSettings(api_key_file=str(key))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 9.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "3"}, 2.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "0.2"}, 0.1),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, 9.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "nan"}, 9.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "-4"}, 9.5),
    ],
)
def test_the_budget_is_the_prometheus_timeout_minus_the_offset(
    headers: dict[str, str], expected: float
) -> None:
    assert scrape_budget(headers, ExporterSettings()) == pytest.approx(expected)


def get(
    transport: Transport, tmp_path: Path, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, str]:
    config = settings(tmp_path)

    async def call() -> tuple[int, str, str]:
        async with TestClient(TestServer(make_app(make_scraper(config, transport), config))) as client:
            resp = await client.get(path, headers=headers or {})
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()

    return asyncio.run(call())


def test_metrics_answers_the_exposition_format(tmp_path: Path) -> None:
    status, content_type, body = get(FakeTransport(), tmp_path, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "whatsapp_up 1.0" in body


def test_metrics_answers_200_with_up_0_when_the_upstream_is_down(tmp_path: Path) -> None:
    status, _, body = get(DownTransport(), tmp_path, "/metrics")
    assert status == 200
    assert "whatsapp_up 0.0" in body


def test_metrics_honours_the_scrape_timeout_header(tmp_path: Path) -> None:
    started = time.monotonic()
    status, _, body = get(
        FakeTransport(delay=10), tmp_path, "/metrics", {"X-Prometheus-Scrape-Timeout-Seconds": "1"}
    )
    assert time.monotonic() - started < 1.0
    assert status == 200
    assert "whatsapp_up 0.0" in body


def test_healthz_is_ok_even_when_the_upstream_is_down(tmp_path: Path) -> None:
    assert get(DownTransport(), tmp_path, "/healthz")[::2] == (200, "ok\n")
