"""Multiconnect failover on the real engine: a shard owner's container killed (the standby takes the
shard, a steady sender's messages to it resume, the shard map never shows two owners), then a second
one with no standby left (status, exporter and alerts say no_spare and shard_unserved).

The two tests share one deployment and run in order: the second starts from the state the first left.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from onprem.emulator.ha import shard_of
from tests.integration.ha.conftest import Stack, wait_for

SHARDS = 2
UNHEALTHY_INTERVAL = 5


def owners(health: dict[str, Any]) -> dict[int, list[str]]:
    """Shard -> the nodes /v1/health shows serving it (gateway connected as its primary coreapp)."""
    found: dict[int, list[str]] = {}
    for node, info in health.items():
        if info.get("role") == "primary_coreapp" and info.get("gateway_status") == "connected":
            found.setdefault(int(info["shard"]), []).append(node)
    return found


def settled(stack: Stack) -> dict[int, str] | None:
    """Every shard served by exactly one node and a standby waiting: shard -> service name."""
    health = stack.health()
    served = owners(health)
    standby = [
        n for n, i in health.items() if i.get("role") == "secondary_coreapp" and not i.get("heartbeat")
    ]
    if sorted(served) != list(range(SHARDS)) or not standby:
        return None
    return {shard: nodes[0].split(":")[0] for shard, nodes in served.items()}


def recipient_in(shard: int) -> str:
    """A recipient (not the registered number itself) whose messages go to `shard`."""
    return next(r for r in (f"1631556{n:04d}" for n in range(10000)) if shard_of(r, SHARDS) == shard)


@dataclass
class Traffic:
    """A steady sender to one recipient and a sampler of the shard map, on two threads."""

    stack: Stack
    token: str
    recipient: str
    sends: list[tuple[float, int]] = field(default_factory=list)
    samples: list[dict[int, list[str]]] = field(default_factory=list)
    health_failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def _send(self) -> None:
        body = {"to": self.recipient, "type": "text", "text": {"body": "steady"}}
        while not self.stop.is_set():
            try:
                status = self.stack.api("POST", "/v1/messages", token=self.token, json=body).status_code
            except requests.RequestException:
                status = 0
            self.sends.append((time.monotonic(), status))
            self.stop.wait(0.2)

    def _sample(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(owners(self.stack.health()))
            except (requests.RequestException, AssertionError):
                self.health_failures += 1
            self.stop.wait(0.2)

    def __enter__(self) -> Traffic:
        self._threads = [threading.Thread(target=self._send), threading.Thread(target=self._sample)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def double_owners(self) -> list[dict[int, list[str]]]:
        return [sample for sample in self.samples if any(len(nodes) > 1 for nodes in sample.values())]


@pytest.fixture(scope="module")
def layout(multiconnect: Stack) -> dict[int, str]:
    return wait_for(lambda: settled(multiconnect), timeout=90, what="both shards served and a standby")


def kill(stack: Stack, service: str) -> float:
    """Kill `service`'s container as a lost host would (no restart): the time of the kill."""
    container = stack.container(service)
    stack.docker("update", "--restart=no", container)
    stack.docker("kill", container)
    return time.monotonic()


def test_a_killed_shard_owner_is_replaced_by_the_standby_and_sends_resume(
    multiconnect: Stack, layout: dict[int, str]
) -> None:
    stack = multiconnect
    victim = layout[0]
    with Traffic(stack, stack.token(), recipient_in(0)) as traffic:
        wait_for(lambda: len(traffic.sends) >= 10, timeout=30, what="a steady sender")
        assert {status for _, status in traffic.sends} == {201}
        killed = kill(stack, victim)
        taken = wait_for(
            lambda: (nodes := owners(stack.health()).get(0)) and nodes[0].split(":")[0] != victim and nodes,
            timeout=60,
            what="the standby serving shard 0",
        )
        wait_for(
            lambda: [s for t, s in traffic.sends if t > killed and s == 201 and t > last_failure(traffic)],
            timeout=30,
            what="sends to shard 0 succeeding again",
        )
        time.sleep(1)
    after = [(t, s) for t, s in traffic.sends if t > killed]
    failed = [t for t, s in after if s != 201]
    resumed = next(t for t, s in after if s == 201 and (not failed or t > max(failed)))
    print(
        f"\nfailover: {victim} killed; {taken[0]} serves shard 0 again; first successful send "
        f"{resumed - killed:.1f} s after the kill (unhealthy_interval {UNHEALTHY_INTERVAL} s); "
        f"{len(failed)} of {len(after)} sends failed meanwhile; {len(traffic.samples)} shard-map samples"
    )
    assert {s for _, s in after} <= {201, 503}, "sends fail only with 503 (1018, retry)"
    assert traffic.health_failures == 0, "the API stopped answering /v1/health"
    assert traffic.samples
    assert not traffic.double_owners(), traffic.double_owners()[:3]
    assert resumed - killed >= UNHEALTHY_INTERVAL - 1


def last_failure(traffic: Traffic) -> float:
    return max((t for t, s in traffic.sends if s != 201), default=0.0)


def test_a_second_loss_without_a_standby_shows_no_spare_and_an_unserved_shard(
    multiconnect: Stack, layout: dict[int, str]
) -> None:
    stack = multiconnect
    health = stack.health()
    live = owners(health)
    assert sorted(live) == [0, 1], f"the first test left both shards served: {health}"
    victim = live[1][0].split(":")[0]
    with Traffic(stack, stack.token(), recipient_in(1)) as traffic:
        kill(stack, victim)

        def findings() -> set[str]:
            done = stack.run("status", "--json")
            kinds = {f["kind"] for f in json.loads(done.stdout)["cluster"]}
            if not ({"no_spare", "shard_unserved", "node_lost"} <= kinds and done.returncode):
                raise ValueError(f"status exited {done.returncode} with findings {sorted(kinds)}")
            return kinds

        kinds = wait_for(findings, timeout=60, what="status naming no_spare and shard_unserved", every=2)
        metrics = wait_for(
            lambda: (m := stack.metrics()) and 'whatsapp_shard_served{shard="1"} 0.0' in m and m,
            timeout=60,
            what="the exporter reporting shard 1 unserved",
        )
        alerts = wait_for(
            lambda: (
                (a := stack.alerts()) and {"WhatsAppShardUnserved", "WhatsAppNoSpareCoreapp"} <= set(a) and a
            ),
            timeout=90,
            what="the kit's alerts pending or firing",
            every=2,
        )
        time.sleep(2)
    print(f"\nsecond loss: status {sorted(kinds)}; alerts {alerts}")
    assert "whatsapp_coreapp_spares 0.0" in metrics
    assert f'whatsapp_node_up{{node="{victim}",role="primary_coreapp"}} 0.0' in metrics
    assert 'whatsapp_shard_served{shard="0"} 1.0' in metrics
    assert traffic.sends
    assert traffic.sends[-1][1] == 503, "sends to the unserved shard fail (1018)"
    assert not traffic.double_owners()
