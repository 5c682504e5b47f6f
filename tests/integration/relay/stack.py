"""A deployed, registered stack whose client calls back to the TLS relay, with a signed sink behind it.

Shared by the relay's in-stack delivery test and the monitoring live-traffic test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.conftest import free_port, free_ports
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
{relay_extra}  delivery:
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
    phone_number: "{phone}"
    cert_file: vname.cert
  webhooks: relay
"""


@contextmanager
def relay_stack(
    workdir: Path, name: str, phone: str, extra: str = "", relay_extra: str = ""
) -> Iterator[tuple[Stack, int]]:
    """Deploy `name` (plus the `extra` YAML sections and `relay_extra` keys of `relay:`), verify its
    registration and start the sink (`<name>-sink`, alias `sink`, logging what it receives); yields the
    stack and its Prometheus port. Takes everything down afterwards."""
    web, exporter, prom = free_ports(3)
    relay = free_port_run(4, avoid={web, exporter, prom})  # room for relay replicas, one port each
    config = CONFIG.format(
        name=name, web=web, relay=relay, exporter=exporter, prom=prom, phone=phone, relay_extra=relay_extra
    )
    (workdir / "onprem.yaml").write_text(config + extra)
    (workdir / "vname.cert").write_text(vname_cert(f"{name} Co") + os.linesep)
    deployed = Stack(workdir, name, web)
    sink = f"{name}-sink"
    try:
        done = deployed.run("deploy")
        assert done.returncode == 0, done.stdout + done.stderr
        assert deployed.ok("verify", deployed.last_registration_code())["status"] == "verified"
        network = ["--network", f"{name}_net", "--network-alias", "sink"]
        command = ["-v", f"{SINK}:/sink.py:ro", "onprem/onprem:0.1.0", "python3", "/sink.py"]
        subprocess.run(
            ["docker", "run", "-d", "--name", sink, *network, *command], check=True, capture_output=True
        )
        yield deployed, prom
    finally:
        subprocess.run(["docker", "rm", "-f", sink], capture_output=True, check=False)
        deployed.run("down", "--volumes", "--yes")


def inject(stack: Stack, sender: str, text: str) -> None:
    """An inbound message from `sender`, as the client would receive it (opens its 24-hour window)."""
    argv = ["docker", "exec", f"{stack.name}-waweb-1", "/bin/sh", "/onprem/secret-env.sh"]
    argv += ["onprem", "emulator", "inject", "--from", sender, "--text", text]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


def received(sink: str) -> list[dict[str, Any]]:
    """What the sink container logged: one JSON record per request (path, headers, base64 body)."""
    out = subprocess.run(["docker", "logs", sink], capture_output=True, text=True, check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def free_port_run(count: int, avoid: set[int]) -> int:
    """The first of `count` consecutive free loopback ports, none of them in `avoid`."""
    for _ in range(50):
        first = free_port()
        if first + count > 65535 or avoid & set(range(first, first + count)):
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError(f"no {count} consecutive free ports")
