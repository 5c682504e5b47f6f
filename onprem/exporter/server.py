"""The exporter's HTTP server: `/metrics` (scrape-time collection) and `/healthz` (the process is serving).

`/healthz` says nothing about the upstream on purpose: a down client must show as `whatsapp_up 0`, not
as a restarting exporter. Every scrape's deadline comes from Prometheus's
`X-Prometheus-Scrape-Timeout-Seconds` header minus the configured offset.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import signal
from collections.abc import Mapping

from aiohttp import web

from onprem.exporter.collect import COLLECTORS, Scraper
from onprem.exporter.publiccert import relay_public_collector
from onprem.exporter.settings import ExporterSettings
from onprem.exporter.transport import AiohttpTransport, Transport
from onprem.exporter.upstream import UpstreamAuth, UpstreamClient
from onprem.sidecar import listen_hosts, split_listen

log = logging.getLogger(__name__)
# The text format generate_latest writes (prometheus_client's CONTENT_TYPE_LATEST moved on to 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
MIN_BUDGET_SECONDS = 0.1
_SCRAPER: web.AppKey[Scraper] = web.AppKey("scraper", Scraper)
_SETTINGS: web.AppKey[ExporterSettings] = web.AppKey("settings", ExporterSettings)


def scrape_budget(headers: Mapping[str, str], settings: ExporterSettings) -> float:
    """Seconds a scrape may take: the Prometheus timeout header (or the configured one) minus the offset."""
    timeout = settings.scrape_timeout_seconds
    raw = headers.get(TIMEOUT_HEADER)
    if raw:
        try:
            parsed = float(raw)
        except ValueError:
            parsed = math.nan
        if math.isfinite(parsed) and parsed > 0:
            timeout = parsed
    return max(timeout - settings.scrape_timeout_offset_seconds, MIN_BUDGET_SECONDS)


async def _metrics(request: web.Request) -> web.Response:
    budget = scrape_budget(request.headers, request.app[_SETTINGS])
    body = await request.app[_SCRAPER].scrape(budget)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _index(_: web.Request) -> web.Response:
    return web.Response(text="onprem exporter: see /metrics and /healthz\n")


def make_app(scraper: Scraper, settings: ExporterSettings) -> web.Application:
    """The aiohttp application serving one scraper."""
    app = web.Application()
    app[_SCRAPER] = scraper
    app[_SETTINGS] = settings
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _index)
    return app


def make_scraper(settings: ExporterSettings, transport: Transport | None = None) -> Scraper:
    """A scraper wired to the configured upstream (or to `transport`, for tests and benchmarks)."""
    transport = transport or AiohttpTransport(
        settings.upstream_url,
        ca_file=settings.ca_file,
        trusted_ca_file=settings.trusted_ca_file,
        server_name=settings.tls_server_name,
    )
    credentials = UpstreamAuth(transport, api_key_file=settings.api_key_file, login=settings.login)
    collectors = dict(COLLECTORS)
    if settings.relay_public is not None:
        collectors["relay_public_certificate"] = relay_public_collector(settings.relay_public)
    return Scraper(UpstreamClient(transport, credentials), stats_db=settings.stats_db, collectors=collectors)


async def serve(settings: ExporterSettings) -> None:
    """Serve until SIGINT/SIGTERM. Raises OSError if the listen address cannot be bound."""
    host, port = split_listen(settings.listen)
    scraper = make_scraper(settings)
    runner = web.AppRunner(make_app(scraper, settings), access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        for address in listen_hosts(host):
            await web.TCPSite(runner, address, port, reuse_address=True).start()
        log.info("exporter serving http://%s:%d/metrics for %s", host, port, settings.upstream_url)
        # Start-up objects (modules, pydantic schemas) never die: keep them out of the cyclic GC's full
        # collections, which otherwise land inside scrapes as multi-millisecond pauses.
        gc.freeze()
        await stop.wait()
    finally:
        await runner.cleanup()
        await scraper.close()
        await scraper.client.transport.close()
