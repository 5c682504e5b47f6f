"""Live values end to end: traffic through the emulated client, the exporter, a real Prometheus and the kit.

The emulator's web and core roles run as processes on loopback (SQLite state, test hooks on); the number
is registered through the emulator's test channel, users write in (opening the 24-hour window) and the
business answers. Prometheus scrapes `onprem exporter serve` with the stack's rendered config, and its
HTTP API must show the client up and connected, and non-zero message rates from the recording rules.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.store import Store
from onprem.emulator.testing import register
from tests.integration.conftest import free_port
from tests.integration.monitoring.prom import api, prometheus, wait_for

pytestmark = pytest.mark.integration
API_KEY = "monitoring-it-api-key-0123456789"
PASSWORD = "Monitoring-it-1!"
USER = "16315551234"


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def emulated_client(workdir: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """Web and core roles on loopback, registered; yields the API URL, its CA and an admin auth header."""
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "ONPREM_", "COREAPP_"))}
    env.update(
        WA_API_KEY=API_KEY,
        ONPREM_EMULATOR_TEST_HOOKS="1",
        ONPREM_EMULATOR_STATUS_DELAY="0.1",
        COREAPP_EXTERNAL_PORTS=",".join(str(free_port()) for _ in range(4)),
    )
    state, data = workdir / "state.db", workdir / "data"
    common = ["--data-dir", str(data), "--state", str(state), "--log-level", "warning"]
    cli = [sys.executable, "-m", "onprem.cli", "emulator"]
    ca = data / "certs" / "external" / "ca.pem"
    url = f"https://127.0.0.1:{web_port}"
    with process([*cli, "web", "--port", str(web_port), *common], env, workdir / "web.log"):
        wait_for(
            lambda: ca.exists() and requests.get(url + "/v1/health", verify=str(ca), timeout=2).status_code
        )
        with process([*cli, "core", *common], env, workdir / "core.log"):
            login = requests.post(
                url + "/v1/users/login",
                auth=("admin", "secret"),
                json={"new_password": PASSWORD},
                verify=str(ca),
                timeout=10,
            )
            login.raise_for_status()
            register(Store(lambda: open_sqlite(state), Dialect("SQLITE")))
            yield url, ca, {"Authorization": f"Bearer {login.json()['users'][0]['token']}"}


def converse(url: str, ca: Path, auth: dict[str, str]) -> None:
    """A user writes in and the business answers (a 201 for each)."""
    inbound = requests.post(
        url + "/_emulator/inbound",
        headers=auth,
        json={"from": USER, "text": "hi"},
        verify=str(ca),
        timeout=10,
    )
    outbound = requests.post(
        url + "/v1/messages",
        headers=auth,
        verify=str(ca),
        timeout=10,
        json={"to": USER, "type": "text", "text": {"body": "hello"}},
    )
    assert (inbound.status_code, outbound.status_code) == (201, 201), outbound.text


def value(port: int, query: str) -> float:
    result = api(port, "query", query=query)["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_traffic_shows_as_live_rates_in_prometheus(prometheus_bin: str, tmp_path: Path) -> None:
    key = tmp_path / "WA_API_KEY"
    key.write_text(API_KEY + "\n")
    exporter_port = free_port()
    with emulated_client(tmp_path) as (url, ca, auth):
        config = tmp_path / "exporter.yaml"
        config.write_text(yaml.safe_dump({"upstream_url": url, "ca_file": str(ca), "api_key_file": str(key)}))
        serve = [
            sys.executable,
            "-m",
            "onprem.cli",
            "exporter",
            "serve",
            "--settings",
            str(config),
            "--listen",
            f"127.0.0.1:{exporter_port}",
        ]
        with (
            process(serve, dict(os.environ), tmp_path / "exporter.log"),
            prometheus(prometheus_bin, tmp_path, exporter=f"127.0.0.1:{exporter_port}") as port,
        ):
            wait_for(lambda: value(port, 'whatsapp_up{job="whatsapp"}') == 1.0)
            found: dict[str, float] = {}

            def rates() -> bool:
                """non-zero sent and received rates and read statuses in Prometheus"""
                converse(url, ca, auth)
                found["sent"] = value(port, "instance:whatsapp_messages_sent:rate5m")
                found["received"] = value(port, "instance:whatsapp_messages_received:rate5m")
                found["read"] = value(port, 'sum(whatsapp_message_statuses_total{status="read"})')
                return all(found.values())

            wait_for(rates, timeout=45)
            connected = value(port, "instance:whatsapp_gateway_connected_nodes:sum")
            alerts: list[Any] = api(port, "alerts")["alerts"]

    assert found["sent"] > 0
    assert found["received"] > 0
    assert connected == 1.0
    assert not [
        a for a in alerts if a["labels"]["alertname"] in ("WhatsAppClientDown", "WhatsAppGatewayDisconnected")
    ]
    assert API_KEY not in (tmp_path / "exporter.log").read_text()
