"""The monitoring kit against real promtool/prometheus (Debian's `prometheus` package, `make tools`).

Missing binaries fail the tests under CI=true (skip elsewhere), like every other integration engine.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import jinja2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from onprem.exporter.collect import Scraper
from onprem.exporter.fakes import DownTransport, FakeTransport, documents
from onprem.exporter.settings import StatsDbSettings
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


def exposition(transport: Transport, *, stats_db: bool = False, tmp_dir: Path) -> str:
    """The exporter's answer to one scrape against `transport` (stats/db cache warmed first if enabled)."""
    key = tmp_dir / "key"
    key.write_text(FakeTransport().api_key)
    client = UpstreamClient(transport, UpstreamAuth(transport, api_key_file=str(key), login=None))
    scraper = Scraper(client, stats_db=StatsDbSettings(enabled=stats_db))

    async def twice() -> bytes:
        await scraper.scrape(2.0)
        await asyncio.sleep(0.05)  # let the background stats/db refresh land
        body = await scraper.scrape(2.0)
        await scraper.close()
        return body

    return asyncio.run(twice()).decode()


@pytest.fixture(scope="session")
def exporter_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Exporter expositions: single instance, 33-node multiconnect with stats/db, upstream down."""
    tmp = tmp_path_factory.mktemp("exporter")
    return {
        "single": exposition(FakeTransport(), tmp_dir=tmp),
        "multiconnect": exposition(FakeTransport(bodies=documents(33)), stats_db=True, tmp_dir=tmp),
        "down": exposition(DownTransport(), stats_db=True, tmp_dir=tmp),
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
