"""In the deployed stack: two relay replicas on the bundled Redis. Inbound messages injected in the emulated
client reach the downstream sink, before and after one replica is killed; Prometheus sees both."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.monitoring.prom import api
from tests.integration.ops.conftest import Stack
from tests.integration.relay.stack import inject, received, relay_stack

REPLICAS = """  replicas: 2
  store:
    backend: redis
    lease_seconds: 15
"""
MONITORING = """monitoring:
  enabled: true
  scrape_interval: 1s
"""


@pytest.fixture
def stack(tmp_path: Path, stack_images: None) -> Iterator[tuple[Stack, int]]:
    with relay_stack(tmp_path, "it-relay-replicas", "6315550004", MONITORING, REPLICAS) as deployed:
        yield deployed


def relays(stack: Stack) -> list[str]:
    """Names of the running relay containers."""
    argv = ["docker", "ps", "--filter", f"label=com.docker.compose.project={stack.name}"]
    argv += ["--filter", "label=com.docker.compose.service=relay", "--format", "{{.Names}}"]
    return sorted(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())


def delivered_texts(stack: Stack) -> set[str]:
    return {base64.b64decode(r["body"]).decode() for r in received(f"{stack.name}-sink")}


def wait_for(stack: Stack, texts: list[str], timeout: float) -> list[str]:
    """Poll the sink until every text arrived; the ones still missing."""
    deadline = time.monotonic() + timeout
    while True:
        bodies = delivered_texts(stack)
        missing = [t for t in texts if not any(t in body for body in bodies)]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(1)


def redis_xlen(stack: Stack) -> int:
    script = 'REDISCLI_AUTH="$(cat /run/secrets/RELAY_REDIS_PASSWORD)" redis-cli XLEN "{onprem-relay}:events"'
    argv = ["docker", "exec", f"{stack.name}-redis-1", "sh", "-c", script]
    return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip())


def test_two_replicas_on_the_bundled_redis_keep_delivering_when_one_is_killed(
    stack: tuple[Stack, int],
) -> None:
    deployed, prometheus = stack
    assert relays(deployed) == [f"{deployed.name}-relay-1", f"{deployed.name}-relay-2"]
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout
    assert f"{deployed.name}_relayData" not in volumes, "the replicas share Redis, not a SQLite volume"

    before = [f"before the kill {n}" for n in range(4)]
    for n, text in enumerate(before):
        inject(deployed, f"1631555980{n}", text)
    assert wait_for(deployed, before, timeout=90) == []

    # Prometheus discovers both replicas by DNS and scrapes each over TLS (verified as `relay`).
    deadline = time.monotonic() + 60
    while True:
        targets = [t for t in api(prometheus, "targets")["activeTargets"] if t["labels"]["job"] == "relay"]
        if [t["health"] for t in targets] == ["up", "up"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [t["health"] for t in targets] == ["up", "up"], targets
    assert all(t["scrapeUrl"].startswith("https://") for t in targets)

    killed = f"{deployed.name}-relay-2"
    subprocess.run(["docker", "kill", killed], capture_output=True, check=True)
    after = [f"after the kill {n}" for n in range(4)]
    for n, text in enumerate(after):
        inject(deployed, f"1631555981{n}", text)
    missing = wait_for(deployed, after, timeout=150)
    assert missing == [], f"not delivered by the surviving replica: {missing}"
    assert redis_xlen(deployed) >= len(before) + len(after)
