"""The deployed stack with the `monitoring` profile: its Prometheus runs the kit against live services.

`onprem deploy` with monitoring enabled renders compose_templates/prometheus.yml.j2 and the kit's rules
into the bundle; the test asks that Prometheus's HTTP API for the targets, `whatsapp_up`, the relay's
series and the rules' health, and runs `promtool check metrics` on the live exporter and relay output.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require
from tests.integration.monitoring.conftest import run_promtool
from tests.integration.test_deploy import Deployment, make_deployment

PROMETHEUS_IMAGE = "onprem/prometheus:2.42"


@pytest.fixture
def monitored(tmp_path: Path, stack_images: None) -> Iterator[tuple[Deployment, dict[str, int]]]:
    """A deployment with the monitoring profile, and its published ports by service."""
    image = subprocess.run(["docker", "image", "inspect", PROMETHEUS_IMAGE], capture_output=True, check=False)
    require(image.returncode == 0, f"image {PROMETHEUS_IMAGE} is missing (make images)")
    dep = make_deployment(tmp_path, "it-monitoring", "monitoring:\n  enabled: true\n  scrape_interval: 2s\n")
    network = yaml.safe_load((tmp_path / "onprem.yaml").read_text())["network"]
    ports = {name: int(network[f"{name}_port"]) for name in ("relay", "exporter", "prometheus")}
    try:
        yield dep, ports
    finally:
        dep.run("down", "--volumes", "--yes")


def query(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_the_stack_prometheus_scrapes_exporter_and_relay_and_evaluates_every_rule(
    monitored: tuple[Deployment, dict[str, int]], promtool: str
) -> None:
    dep, ports = monitored
    dep.run("deploy", check=True)
    prometheus = ports["prometheus"]
    deadline = time.monotonic() + 90
    while True:
        targets = {t["labels"]["job"]: t["health"] for t in query(prometheus, "targets")["activeTargets"]}
        groups = query(prometheus, "rules")["groups"]
        up = query(prometheus, "query", query='whatsapp_up{job="whatsapp"}')["result"]
        evaluated = groups and all(g["lastEvaluation"] > "2000" for g in groups)
        if targets.get("whatsapp") == "up" and targets.get("relay") == "up" and up and evaluated:
            break
        assert time.monotonic() < deadline, f"targets {targets}, whatsapp_up {up}"
        time.sleep(1)

    assert float(up[0]["value"][1]) == 1.0
    relay = query(prometheus, "query", query='relay_queued_deliveries{job="relay"}')["result"]
    assert relay
    assert float(relay[0]["value"][1]) >= 0
    alerts = {r.get("name") for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"WhatsAppClientDown", "RelayDeadLetters"} <= alerts
    broken = [(r.get("name"), r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert not broken
    # Pending is possible (Prometheus may scrape before a service listens); firing is not.
    firing = {
        a["labels"]["alertname"] for a in query(prometheus, "alerts")["alerts"] if a["state"] == "firing"
    }
    assert not firing & {"WhatsAppClientDown", "WhatsAppExporterDown", "RelayDown"}

    for service in ("exporter", "relay"):
        done = run_promtool(promtool, "check", "metrics", stdin=scrape(ports[service]))
        assert done.returncode == 0, done.stdout + done.stderr
        assert not (done.stdout + done.stderr).strip(), f"{service}: {done.stdout}{done.stderr}"
