"""Measuring a failover from outside, as a client would: a steady sender to one shard's recipients and a
watcher of /v1/health's shard owners, both started before the failure (used by tests and bench)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onprem.api.client import ApiClient
from onprem.config import load_settings
from onprem.deployment import Deployment
from onprem.emulator.ha import shard_of
from onprem.errors import ApiError
from tests.integration.remote.hosts_lab import lose
from tests.integration.remote.isolated_host import IsolatedHost


@contextmanager
def deployed_api(workdir: Path) -> Iterator[ApiClient]:
    """The API of the deployment of `workdir/onprem.yaml` as onprem reaches it (over SSH, through the
    tunnel to the web host), as admin."""
    loaded = load_settings(workdir / "onprem.yaml", environ={}, cwd=workdir)
    with Deployment.open(loaded, environ={}) as deployment:
        yield deployment.api()


def owners(health: Mapping[str, Any]) -> dict[int, list[str]]:
    """The live nodes that serve each shard, as /v1/health reports them."""
    found: dict[int, list[str]] = {}
    for key, info in health.items():
        if not isinstance(info, dict) or info.get("heartbeat") or info.get("gateway_status") != "connected":
            continue
        if isinstance(info.get("shard"), int):
            found.setdefault(info["shard"], []).append(key)
    return found


def recipient_in(shard: int, shards: int) -> str:
    """A phone number (digits) whose messages go to `shard`."""
    # From 1000: 16315550000 is the number the tests register (a message to it is refused).
    return next(f"1631555{n:04d}" for n in range(1000, 10000) if shard_of(f"1631555{n:04d}", shards) == shard)


def wait_for_owners(api: ApiClient, shards: int, timeout: float = 60) -> dict[int, list[str]]:
    """The shard owners once every shard has one (or what there is after `timeout`)."""
    deadline = time.monotonic() + timeout
    found = owners(api.health())
    while len(found) < shards and time.monotonic() < deadline:
        time.sleep(0.5)
        found = owners(api.health())
    return found


@dataclass
class Failover:
    """What a steady sender and a health watcher saw around one failure."""

    failed_at: float = 0.0
    sends: list[tuple[float, bool]] = field(default_factory=list)
    samples: list[dict[int, list[str]]] = field(default_factory=list)
    unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """How many sends failed with each error (its first line)."""
    last_health: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_sends(self) -> int:
        return sum(1 for moment, ok in self.sends if not ok and moment > self.failed_at)

    def resumed_after(self) -> float | None:
        """Seconds from the failure to the first successful send after the last failed one (None: the
        sends failed to the end, or never failed)."""
        failed = [moment for moment, ok in self.sends if not ok and moment > self.failed_at]
        if not failed:
            return None
        after = [moment for moment, ok in self.sends if ok and moment > failed[-1]]
        return after[0] - self.failed_at if after else None

    def double_owners(self) -> list[dict[int, list[str]]]:
        """The samples in which a shard had more than one serving owner (expected: none)."""
        return [sample for sample in self.samples if any(len(nodes) > 1 for nodes in sample.values())]


def measure_failover(
    api: ApiClient, to: Sequence[str], fail: Callable[[], object], *, timeout: float = 120
) -> Failover:
    """Send to the recipients `to` in turn every 100 ms and read the shard owners every 250 ms (an answer within 5 s counts); after 2 s
    call `fail`, then wait until sends that failed have resumed (or `timeout`; 0: not at all)."""
    seen = Failover()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.last_health = api.health(timeout=5)
                seen.samples.append(owners(seen.last_health))
            except ApiError:
                seen.unanswered += 1
            time.sleep(0.25)

    def send() -> None:
        turn = 0
        while not stop.is_set():
            turn += 1
            try:
                api.send_text(f"+{to[turn % len(to)]}", "steady")
                seen.sends.append((time.monotonic(), True))
            except ApiError as exc:
                seen.sends.append((time.monotonic(), False))
                first = str(exc).splitlines()[0][:200]
                seen.errors[first] = seen.errors.get(first, 0) + 1
            time.sleep(0.1)

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=send, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        seen.failed_at = time.monotonic()
        fail()
        deadline = seen.failed_at + timeout
        while seen.resumed_after() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    return seen


def lose_a_coreapp_host(
    api: ApiClient, hosts: Sequence[IsolatedHost], unhealthy_interval: float
) -> tuple[int, int, Failover]:
    """With one Coreapp per host (wacoreN on host N) and the web app on the first host: set the client's
    `unhealthy_interval`, pick a host other than the first whose Coreapp owns a shard, and lose it under
    a steady sender to that shard. Returns (the host's index, the shard, what was seen)."""
    api.patch_application_settings({"unhealthy_interval": unhealthy_interval})
    before = wait_for_owners(api, 2)
    assert sorted(before) == [0, 1], before
    victim, shard = next(
        (index, s)
        for index in range(len(hosts) - 1, 0, -1)
        for s, nodes in before.items()
        if nodes[0].startswith(f"wacore{index + 1}:")
    )
    return victim, shard, measure_failover(api, [recipient_in(shard, 2)], lambda: lose(hosts[victim]))
