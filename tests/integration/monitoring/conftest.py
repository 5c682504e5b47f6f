"""The monitoring kit against real promtool/prometheus (Debian's `prometheus` package, `make tools`).

Missing binaries fail the tests under CI=true (skip elsewhere), like every other integration engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from onprem import pki
from onprem.exporter.collect import COLLECTORS, Scraper
from onprem.exporter.fakes import DownTransport, FakeTransport, documents
from onprem.exporter.publiccert import relay_public_collector
from onprem.exporter.settings import RelayPublicProbeSettings, StatsDbSettings
from onprem.exporter.transport import Transport
from onprem.exporter.upstream import UpstreamAuth, UpstreamClient
from tests.conftest import ROOT, require

KIT = ROOT / "monitoring"
RULE_FILES = sorted((KIT / "rules").glob("*.yml"))
RULE_TESTS = sorted((KIT / "tests").glob("*.yml"))
DASHBOARDS = sorted((KIT / "grafana" / "dashboards").glob("*.json"))
TEMPLATE = ROOT / "compose_templates" / "prometheus.yml.j2"


def _binary(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed (make tools: apt-get install prometheus)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("prometheus")


def run_promtool(
    promtool: str, *args: str | Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller asserts on returncode and output."""
    return subprocess.run(
        [promtool, *map(str, args)], input=stdin, capture_output=True, text=True, check=False, timeout=120
    )


def render_template(**values: str) -> str:
    """compose_templates/prometheus.yml.j2 rendered the way the lead's renderer does (StrictUndefined)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    return env.get_template(TEMPLATE.name).render(**values)


def exposition(
    transport: Transport,
    *,
    stats_db: bool = False,
    tmp_dir: Path,
    relay_public: RelayPublicProbeSettings | None = None,
) -> str:
    """The exporter's answer to one scrape against `transport` (stats/db cache warmed first if enabled),
    probing a relay public listener when `relay_public` names one."""
    key = tmp_dir / "key"
    key.write_text(FakeTransport().api_key)
    client = UpstreamClient(transport, UpstreamAuth(transport, api_key_file=str(key), login=None))
    collectors = dict(COLLECTORS)
    if relay_public is not None:
        collectors["relay_public_certificate"] = relay_public_collector(relay_public)
    scraper = Scraper(client, stats_db=StatsDbSettings(enabled=stats_db), collectors=collectors)

    async def twice() -> bytes:
        await scraper.scrape(2.0)
        await asyncio.sleep(0.05)  # let the background stats/db refresh land
        body = await scraper.scrape(2.0)
        await scraper.close()
        return body

    return asyncio.run(twice()).decode()


PUBLIC_NAME = "relay.example.test"


def public_exposition(tmp_dir: Path) -> str:
    """The exporter's scrape with its probe of a relay public listener: a real TLS listener on loopback
    serving a certificate for PUBLIC_NAME, chained to a root the probe trusts."""
    now = datetime.now(UTC)
    root, intermediate = pki.issue_ca("monitoring-test", now)
    server = pki.issue_server(intermediate, [PUBLIC_NAME], now)
    (tmp_dir / "public-chain.pem").write_text(server.cert_pem + intermediate.cert_pem)
    (tmp_dir / "public-key.pem").write_text(server.key_pem)
    (tmp_dir / "public-root.pem").write_text(root.cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_dir / "public-chain.pem", tmp_dir / "public-key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        while True:  # one handshake per scrape, until the listener is closed
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError, ssl.SSLError), context.wrap_socket(conn, server_side=True):
                pass

    threading.Thread(target=accept, daemon=True).start()
    probe = RelayPublicProbeSettings(
        address=f"127.0.0.1:{port}", host_name=PUBLIC_NAME, ca_file=str(tmp_dir / "public-root.pem")
    )
    try:
        return exposition(FakeTransport(), tmp_dir=tmp_dir, relay_public=probe)
    finally:
        listener.close()


@pytest.fixture(scope="session")
def exporter_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Exporter expositions: single instance, 33-node multiconnect with stats/db, upstream down, and a
    single instance probing a relay public listener."""
    tmp = tmp_path_factory.mktemp("exporter")
    return {
        "single": exposition(FakeTransport(), tmp_dir=tmp),
        "multiconnect": exposition(FakeTransport(bodies=documents(33)), stats_db=True, tmp_dir=tmp),
        "down": exposition(DownTransport(), stats_db=True, tmp_dir=tmp),
        "relay_public": public_exposition(tmp),
    }


@pytest.fixture(scope="session")
def relay_output() -> str:
    """The relay's exposition (every family it declares, with or without samples)."""
    from onprem.relay.metrics import RelayMetrics

    return RelayMetrics().render().decode()


def series_names(texts: Iterable[str]) -> set[str]:
    """Every series name the expositions can carry: samples seen plus the names implied by each family type."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    names: set[str] = set()
    for text in texts:
        for family in text_string_to_metric_families(text):
            names.update(sample.name for sample in family.samples)
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names
