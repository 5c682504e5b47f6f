"""A deployed stack on the real engine for the safe-change tests, driven through the real CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import Stack as OpsStack

CONFIG = """deployment:
  name: {name}
  timeout_seconds: 240
db:
  engine: {db}
client:
  version: "{version}"
{client}network:
  web_port: {web}
  relay_port: {relay}
  exporter_port: {exporter}
  prometheus_port: {prom}
"""


@dataclass
class Stack(OpsStack):
    """A deployed stack (see tests/integration/ops) whose config the test rewrites."""

    ports: list[int] = field(default_factory=list)
    db: str = "mysql"
    version: str = "2.57.2"
    extra: str = ""
    client: str = ""
    """More `client:` lines, indented (e.g. multiconnect)."""

    def write_config(self, extra: str | None = None, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        if extra is not None:
            self.extra = extra
        web, relay, exporter, prom = self.ports
        text = CONFIG.format(
            name=self.name,
            db=self.db,
            version=self.version,
            client=self.client,
            web=web,
            relay=relay,
            exporter=exporter,
            prom=prom,
        )
        (self.workdir / "onprem.yaml").write_text(text + self.extra)

    def watch(self) -> HealthWatch:
        """A poller of this stack's /v1/health (start it with `with`)."""
        api_key = (self.state / "secrets" / "WA_API_KEY").read_text()
        return HealthWatch(f"https://127.0.0.1:{self.web_port}/v1/health", self.state / "ca.pem", api_key)


def new_stack(
    workdir: Path, name: str, db: str = "mysql", version: str = "2.57.2", extra: str = "", client: str = ""
) -> Stack:
    ports = free_ports(4)
    stack = Stack(workdir, name, ports[0], ports, db, version, extra, client)
    stack.write_config()
    return stack


@pytest.fixture
def stack(tmp_path: Path, stack_images: None, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack deployed under a project name of its own; down with its volumes afterwards."""
    deployed = new_stack(tmp_path, f"it-chg-{request.node.name[5:30].replace('_', '-').lower()}")
    try:
        yield deployed
    finally:
        deployed.run("down", "--volumes", "--yes")


@dataclass
class HealthWatch:
    """Polls /v1/health with the API key, trusting the pinned CA, until stopped; 200 counts as up."""

    url: str
    ca_file: Path
    api_key: str
    interval: float = 0.1
    answers: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HealthWatch:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                headers = {"Authorization": f"Apikey {self.api_key}"}
                up = (
                    requests.get(self.url, headers=headers, timeout=5, verify=str(self.ca_file)).status_code
                    == 200
                )
            except requests.RequestException:
                up = False
            self.answers.append((time.time(), up))
            time.sleep(self.interval)

    def outages(self) -> list[tuple[float, float]]:
        """Each run of polls without an answer: (first failed poll, first answer after it), as
        time.time() values."""
        found, start = [], None
        for moment, up in self.answers:
            if not up and start is None:
                start = moment
            elif up and start is not None:
                found.append((start, moment))
                start = None
        if start is not None:
            found.append((start, self.answers[-1][0]))
        return found

    def longest_outage(self) -> float:
        """The longest run of polls without an answer, in seconds."""
        longest, start = 0.0, None
        for moment, up in self.answers:
            if not up and start is None:
                start = moment
            elif up and start is not None:
                longest, start = max(longest, moment - start), None
        if start is not None and self.answers:
            longest = max(longest, self.answers[-1][0] - start)
        return longest
