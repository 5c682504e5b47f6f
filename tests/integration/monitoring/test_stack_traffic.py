"""The deployed, registered stack with monitoring: real traffic shows up live in the stack's Prometheus.

The stack is bootstrapped (certificates, registration, webhooks to the TLS relay, which forwards to a
downstream sink); the test sends messages with `onprem send` and injects inbound messages in the
emulated client, so status and message callbacks flow client -> relay -> sink. It then asks the stack's
own Prometheus (1 s scrapes) for `whatsapp_up`, the message rates from the exporter and the relay's
received/delivered rates, polling with a bounded deadline until they are live and non-zero.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.monitoring.prom import api
from tests.integration.ops.conftest import Stack
from tests.integration.relay.stack import inject, relay_stack

PROMETHEUS_IMAGE = "onprem/prometheus:2.42"
CUSTOMERS = ("16315559871", "16315559872", "16315559873")
MONITORING = """monitoring:
  enabled: true
  scrape_interval: 1s
"""


@pytest.fixture
def monitored(tmp_path: Path, stack_images: None) -> Iterator[tuple[Stack, int]]:
    """A registered stack with webhooks to the relay, a sink behind it and monitoring; its Prometheus
    port."""
    image = subprocess.run(["docker", "image", "inspect", PROMETHEUS_IMAGE], capture_output=True, check=False)
    assert image.returncode == 0, f"image {PROMETHEUS_IMAGE} is missing (make images)"
    with relay_stack(tmp_path, "it-monitoring-traffic", "6315550003", MONITORING) as deployed:
        yield deployed


def traffic(stack: Stack, round_: int) -> None:
    """One inbound message from each customer and a reply to each (inside the window, so it is sent)."""
    for customer in CUSTOMERS:
        inject(stack, customer, f"question {round_} from {customer}")
        stack.ok("send", "--to", customer, "--text", f"answer {round_} to {customer}")


def value(port: int, promql: str) -> float:
    """The single value of an instant query (0 when it has no result)."""
    result = api(port, "query", query=promql)["result"]
    assert len(result) <= 1, f"{promql}: {result}"
    return float(result[0]["value"][1]) if result else 0.0


def poll(port: int, queries: dict[str, str], minimum: dict[str, float], timeout: float) -> dict[str, float]:
    """Poll until every query reaches its minimum; the last values (the test fails naming the laggards)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {key: value(port, promql) for key, promql in queries.items()}
        short = {key: got for key, got in seen.items() if got < minimum[key]}
        if not short:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"still below minimum after {timeout:.0f}s: {short} (all: {seen})")
        time.sleep(1)


TOTALS = {
    "sent": 'sum(whatsapp_messages_sent_total{job="whatsapp"})',
    "received": 'sum(whatsapp_messages_received_total{job="whatsapp"})',
    "callbacks_ok": 'sum(whatsapp_callback_requests_total{job="whatsapp",result="success"})',
    "relay_received": 'sum(relay_received_total{job="relay"})',
    "relay_delivered": 'sum(relay_delivered_total{job="relay",endpoint="sink"})',
}
RATES = {
    "whatsapp_up": 'whatsapp_up{job="whatsapp"}',
    "sent_rate": 'sum(rate(whatsapp_messages_sent_total{job="whatsapp"}[1m]))',
    "received_increase": 'sum(increase(whatsapp_messages_received_total{job="whatsapp"}[1m]))',
    "relay_received_rate": 'sum(rate(relay_received_total{job="relay"}[1m]))',
    "relay_delivered_increase": 'sum(increase(relay_delivered_total{job="relay",endpoint="sink"}[1m]))',
    # The web process's own database requests (the client-side signal of WhatsAppDatabaseDown).
    "db_request_rate": 'sum(rate(whatsapp_app_db_request_duration_seconds_count{job="whatsapp"}[1m]))',
    # The kit's recording rules, evaluated by the stack's Prometheus on the same live series.
    "sent_rate_rule": "sum(instance:whatsapp_messages_sent:rate5m)",
    "relay_delivered_rule": 'sum(instance_endpoint:relay_delivered:rate5m{endpoint="sink"})',
}


def test_live_traffic_reaches_the_stack_prometheus_as_message_and_relay_rates(
    monitored: tuple[Stack, int],
) -> None:
    stack, prometheus = monitored
    # Round 1 makes every counter series exist in Prometheus (a labelled counter appears with its first
    # increment, which rate() cannot see); round 2 then moves them, which rate()/increase() must show.
    traffic(stack, 1)
    first = poll(prometheus, TOTALS, dict.fromkeys(TOTALS, 1.0), timeout=30)
    traffic(stack, 2)
    n = len(CUSTOMERS)
    minimum = {key: first[key] + 1 for key in TOTALS}
    minimum.update(sent=2.0 * n, received=2.0 * n)
    totals = poll(prometheus, TOTALS, minimum, timeout=30)
    rates = poll(prometheus, RATES, {"whatsapp_up": 1.0} | dict.fromkeys(list(RATES)[1:], 1e-9), timeout=15)
    # Shown with -s: the evidence of a live run.
    print(f"live values: {totals | rates}")
    assert rates["whatsapp_up"] == 1.0
    # The relay serves TLS; the stack's Prometheus scrapes it over https, verifying the internal CA.
    relay = [t for t in api(prometheus, "targets")["activeTargets"] if t["labels"]["job"] == "relay"]
    assert [(t["scrapeUrl"].split(":")[0], t["health"]) for t in relay] == [("https", "up")]
    failed = 'sum(whatsapp_app_db_request_error_duration_seconds_count{job="whatsapp"})'
    assert value(prometheus, failed) == 0.0
    # Every inbound message was delivered to the relay and forwarded downstream (plus status callbacks).
    assert totals["relay_received"] >= 2 * n
    assert totals["relay_delivered"] >= 2 * n
