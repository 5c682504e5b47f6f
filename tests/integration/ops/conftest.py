"""One deployed stack per database kind for every operations test (module scope, MySQL then
PostgreSQL), on free ports, torn down at the end.

The relay serves HTTPS with the certificate `onprem certs issue` made (issued before the deploy, so the
relay starts with it). Every command runs through the real CLI in a subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import free_ports

CONFIG = """deployment:
  name: {name}
  timeout_seconds: 240
network:
  web_port: {web}
  relay_port: {relay}
  exporter_port: {exporter}
  prometheus_port: {prom}
db:
  engine: {db}
relay:
  tls: {{}}
secrets:
  extra:
    RELAY_TLS_CERT: {{}}
    RELAY_TLS_KEY: {{}}
"""


def _field(number: int, payload: bytes) -> bytes:
    # One length-delimited protobuf field (wire type 2); lengths here stay below 128.
    return bytes([number << 3 | 2, len(payload)]) + payload


def vname_cert(name: str) -> str:
    """A verified-name certificate in Meta's layout: base64 of VerifiedNameCertificate{details, signature}
    with details = VerifiedNameDetails{issuer = 2, verified_name = 4}."""
    details = _field(2, b"smb:wa") + _field(4, name.encode())
    return base64.b64encode(_field(1, details) + _field(2, b"\x00" * 64)).decode()


@dataclass
class Stack:
    workdir: Path
    name: str
    web_port: int

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
        return subprocess.run(
            [sys.executable, "-m", "onprem.cli", *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str) -> dict[str, Any]:
        """Run with --json; assert exit 0; the JSON document."""
        done = self.run(*args, "--json")
        assert done.returncode == 0, (
            f"onprem {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        document: dict[str, Any] = json.loads(done.stdout)
        return document

    @property
    def state(self) -> Path:
        return self.workdir / ".onprem" / self.name

    def last_registration_code(self) -> str:
        """The code the client 'sent' (the emulator logs it, since no SMS leaves it)."""
        logs = self.run("logs", "waweb", "--tail", "400").stdout
        codes = re.findall(r"registration code (\d{6}) sent", logs)
        assert codes, "no registration code in the web container's log"
        return str(codes[-1])


@pytest.fixture(scope="module", params=["mysql", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, stack_images: None
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("ops")
    # The pid keeps two test runs on one engine (two engineers, or CI and a developer) apart.
    name = f"it-ops-{request.param}-{os.getpid()}"
    ports = free_ports(4)
    (workdir / "onprem.yaml").write_text(
        CONFIG.format(
            name=name, db=request.param, web=ports[0], relay=ports[1], exporter=ports[2], prom=ports[3]
        )
    )
    deployed = Stack(workdir, name, ports[0])
    try:
        deployed.ok("certs", "issue")
        deployed.ok("deploy")
        yield deployed
    finally:
        deployed.run("down", "--volumes", "--yes")
