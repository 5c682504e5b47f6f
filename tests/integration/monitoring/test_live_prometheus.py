"""A real Prometheus on loopback scrapes the exporter and a relay exposition with the kit's config and rules.

Prometheus runs the stack's rendered config (compose_templates/prometheus.yml.j2) with the rule files of the
kit plus every dashboard expression as a recording rule: every rule must evaluate without error against
live data, and the key series must have live values.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from onprem.exporter.fakes import FakeTransport, documents
from onprem.exporter.server import make_app, make_scraper
from onprem.exporter.settings import ExporterSettings, StatsDbSettings
from onprem.exporter.transport import UpstreamResponse
from tests.integration.conftest import free_port
from tests.integration.monitoring.conftest import DASHBOARDS
from tests.integration.monitoring.prom import api, evaluated_groups, prometheus, wait_for
from tests.integration.monitoring.promql import as_rule_file, dashboard_exprs


class MovingUpstream(FakeTransport):
    """A multiconnect upstream (two masters, a shard owner and its standby) whose counters grow with every
    request (traffic is flowing)."""

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        self.bodies = documents(4, scale=len(self.calls) + 1)
        return await super().request(method, path, headers=headers, body=body)


def relay_exposition() -> bytes:
    from onprem.relay.metrics import RelayMetrics

    metrics = RelayMetrics()
    metrics.received.labels("onprem").inc(10)
    metrics.ack_latency.observe(0.002)
    metrics.delivered.labels("https://downstream.example/hook").inc(9)
    metrics.delivery_latency.labels("https://downstream.example/hook").observe(0.05)
    return metrics.render()


@contextlib.contextmanager
def serving(exporter_port: int, relay_port: int, key_file: Path) -> Iterator[None]:
    """The exporter (fake upstream) and a static relay /metrics on loopback, in a background event loop."""
    loop = asyncio.new_event_loop()
    settings = ExporterSettings(api_key_file=str(key_file), stats_db=StatsDbSettings(enabled=True))
    relay_body = relay_exposition()

    async def relay_metrics(_: web.Request) -> web.Response:
        return web.Response(body=relay_body, content_type="text/plain")

    async def start() -> list[web.AppRunner]:
        relay_app = web.Application()
        relay_app.router.add_get("/metrics", relay_metrics)
        runners = []
        apps = (
            (make_app(make_scraper(settings, MovingUpstream()), settings), exporter_port),
            (relay_app, relay_port),
        )
        for app, port in apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
        return runners

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield
    finally:
        for runner in runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_prometheus_scrapes_live_values_and_every_rule_evaluates(prometheus_bin: str, tmp_path: Path) -> None:
    exporter_port, relay_port = free_port(), free_port()
    key_file = tmp_path / "key"
    key_file.write_text(FakeTransport().api_key)
    dashboards = tmp_path / "dashboard-exprs.yml"
    dashboards.write_text(as_rule_file([expr for path in DASHBOARDS for expr in dashboard_exprs(path)]))
    with (
        serving(exporter_port, relay_port, key_file),
        prometheus(
            prometheus_bin,
            tmp_path,
            exporter=f"127.0.0.1:{exporter_port}",
            relay=f"127.0.0.1:{relay_port}",
            extra_rules=(dashboards,),
        ) as port,
    ):

        def up() -> list[Any]:
            """whatsapp_up == 1 scraped by Prometheus"""
            return list(api(port, "query", query='whatsapp_up{job="whatsapp"} == 1')["result"])

        def rates() -> list[Any]:
            """a non-zero message rate from the recording rule"""
            return list(api(port, "query", query="instance:whatsapp_messages_sent:rate5m > 0")["result"])

        wait_for(up)
        wait_for(rates)
        time.sleep(2.5)
        groups = wait_for(lambda: evaluated_groups(port))
        relay = api(port, "query", query='relay_received_total{job="relay"}')["result"]
        nodes = api(port, "query", query="instance:whatsapp_gateway_connected_nodes:sum")["result"]
        active = [a["labels"]["alertname"] for a in api(port, "alerts")["alerts"] if a["state"] != "inactive"]

    broken = [
        (rule.get("name"), rule.get("lastError"))
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert not broken, broken
    assert float(relay[0]["value"][1]) == 10.0
    assert float(nodes[0]["value"][1]) == 2.0  # primary master and one coreapp connected
    assert active == []
