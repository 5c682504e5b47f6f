"""A deployed multiconnect stack (or a single-instance one) on the real engine, and the probes the HA
tests drive it with: the client's API over HTTPS pinned to the deployment's CA, the exporter's metrics,
Prometheus's alerts and the engine's view of each container."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import Stack as OpsStack
from tests.integration.ops.conftest import vname_cert

NUMBER = ("1", "6315550000")
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.5) -> T:
    """Poll `check` until it returns something truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
            last = found
        except (requests.RequestException, OSError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class Stack(OpsStack):
    """One deployment driven through the real CLI (see tests/integration/ops), with direct HTTP access to
    what it publishes."""

    exporter_port: int = 0
    prometheus_port: int = 0

    def secret(self, name: str) -> str:
        return (self.state / "secrets" / name).read_text().strip()

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        auth = f"Bearer {token}" if token else f"Apikey {self.secret('WA_API_KEY')}"
        return requests.request(
            method,
            f"https://127.0.0.1:{self.web_port}{path}",
            headers={"Authorization": auth},
            verify=str(self.state / "ca.pem"),
            timeout=5,
            **kwargs,
        )

    def token(self) -> str:
        basic = base64.b64encode(f"admin:{self.secret('WA_ADMIN_PASSWORD')}".encode()).decode()
        answer = requests.post(
            f"https://127.0.0.1:{self.web_port}/v1/users/login",
            headers={"Authorization": f"Basic {basic}"},
            verify=str(self.state / "ca.pem"),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["users"][0]["token"])

    def health(self) -> dict[str, Any]:
        answer = self.api("GET", "/v1/health")
        assert answer.status_code == 200, answer.text
        health: dict[str, Any] = answer.json()["health"]
        return health

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.exporter_port}/metrics", timeout=10).text

    def alerts(self) -> dict[str, str]:
        """Alert name -> state (pending or firing) of the stack's Prometheus."""
        answer = requests.get(f"http://127.0.0.1:{self.prometheus_port}/api/v1/alerts", timeout=10)
        return {a["labels"]["alertname"]: a["state"] for a in answer.json()["data"]["alerts"]}

    def container(self, service: str) -> str:
        return f"{self.name}-{service}-1"

    def docker(self, *args: str) -> str:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def register(self) -> None:
        """Register and verify the number (its code is in the web container's log)."""
        (self.workdir / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
        assert self.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "code sent"
        assert self.ok("verify", self.last_registration_code())["status"] == "verified"


def deploy_stack(tmp_path: Path, name: str, extra: str) -> Iterator[Stack]:
    """Deploy `name` (the pid keeps two runs on one engine apart) and take it down with its volumes."""
    web, relay, exporter, prom = free_ports(4)
    name = f"{name}-{os.getpid()}"
    (tmp_path / "onprem.yaml").write_text(
        f"deployment:\n  name: {name}\n  timeout_seconds: 300\n"
        f"network:\n  web_port: {web}\n  relay_port: {relay}\n  exporter_port: {exporter}\n"
        f"  prometheus_port: {prom}\n" + extra
    )
    stack = Stack(tmp_path, name, web, exporter, prom)
    try:
        stack.ok("deploy")
        yield stack
    finally:
        stack.run("down", "--volumes", "--yes")


@pytest.fixture(scope="module")
def multiconnect(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    """Two masters, shards 2 over three coreapps (one standby), MySQL, Prometheus with the kit's rules;
    the number registered, the account at 2 shards, failover after 5 s of silence."""
    extra = (
        "client:\n  mode: multiconnect\n  shards: 2\nmonitoring:\n  enabled: true\n  scrape_interval: 2s\n"
    )
    for stack in deploy_stack(tmp_path_factory.mktemp("ha"), "it-ha", extra):
        stack.register()
        assert stack.ok("shards", "set", "2", "--cert", "vname.cert")["shards"] == 2
        patched = stack.api(
            "PATCH",
            "/v1/settings/application",
            token=stack.token(),
            json={"unhealthy_interval": 5, "heartbeat_interval": 1},
        )
        assert patched.status_code == 200, patched.text
        yield stack


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    """The default single-instance stack on MySQL."""
    yield from deploy_stack(tmp_path_factory.mktemp("outage"), "it-dbout", "")
