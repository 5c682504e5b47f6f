"""In the deployed stack: an inbound message injected in the emulated client is called back to the
relay over TLS (the client trusts the CA `onprem webhooks set` uploaded), acknowledged, and forwarded to
a downstream sink with the original bytes and a Standard Webhooks signature."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onprem.relay.signing import parse_secrets, verify_headers
from tests.integration.conftest import free_port
from tests.integration.ops.conftest import Stack, vname_cert

SINK = Path(__file__).with_name("sink.py")
CONFIG = """deployment:
  name: {name}
  timeout_seconds: 240
network:
  web_port: {web}
  relay_port: {relay}
  exporter_port: {exporter}
  prometheus_port: {prom}
relay:
  tls: {{}}
  delivery:
    backoff_base_seconds: 0.5
    endpoints:
      - name: sink
        url: http://sink:8080/hook
        secret_file: /run/secrets/RELAY_SINK_SECRET
secrets:
  extra:
    RELAY_SINK_SECRET: {{}}
bootstrap:
  certs: true
  registration:
    cc: "1"
    phone_number: "6315550002"
    cert_file: vname.cert
  webhooks: relay
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("relay-stack")
    name = "it-relay-stack"
    web, relay, exporter, prom = (free_port() for _ in range(4))
    (workdir / "onprem.yaml").write_text(
        CONFIG.format(name=name, web=web, relay=relay, exporter=exporter, prom=prom)
    )
    (workdir / "vname.cert").write_text(vname_cert("Relay Co") + os.linesep)
    deployed = Stack(workdir, name, web)
    sink = f"{name}-sink"
    try:
        done = deployed.run("deploy")
        assert done.returncode == 0, done.stdout + done.stderr
        assert deployed.ok("verify", deployed.last_registration_code())["status"] == "verified"
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                sink,
                "--network",
                f"{name}_net",
                "--network-alias",
                "sink",
                "-v",
                f"{SINK}:/sink.py:ro",
                "onprem/onprem:0.1.0",
                "python3",
                "/sink.py",
            ],
            check=True,
            capture_output=True,
        )
        yield deployed
    finally:
        subprocess.run(["docker", "rm", "-f", sink], capture_output=True, check=False)
        deployed.run("down", "--volumes", "--yes")


def received(sink: str) -> list[dict[str, Any]]:
    out = subprocess.run(["docker", "logs", sink], capture_output=True, text=True, check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_injected_inbound_message_reaches_the_sink_signed_through_the_tls_relay(stack: Stack) -> None:
    waweb = f"{stack.name}-waweb-1"
    inject = subprocess.run(
        [
            "docker",
            "exec",
            waweb,
            "/bin/sh",
            "/onprem/secret-env.sh",
            "onprem",
            "emulator",
            "inject",
            "--from",
            "16315559876",
            "--text",
            "hello relay",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inject.returncode == 0, inject.stderr
    deadline = time.monotonic() + 90
    hits: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not hits:
        hits = [r for r in received(f"{stack.name}-sink") if b"hello relay" in base64.b64decode(r["body"])]
        time.sleep(0.5)
    assert hits, "the injected message never reached the downstream sink"
    record = hits[0]
    body = base64.b64decode(record["body"])
    document = json.loads(body)
    assert document["messages"][0]["from"] == "16315559876"
    assert document["messages"][0]["text"]["body"] == "hello relay"
    assert record["path"] == "/hook"
    keys = parse_secrets(
        (stack.workdir / ".onprem" / stack.name / "secrets" / "RELAY_SINK_SECRET").read_text()
    )
    assert verify_headers(keys, record["headers"], body, now=time.time())
    assert not verify_headers(keys, record["headers"], body + b" ", now=time.time())
