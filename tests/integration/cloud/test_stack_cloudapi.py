"""`cloud.emulator: true` on the real engine: `onprem deploy` brings the cloudapi service up healthy on
the host's network, the tool reaches it at network.bind_address:cloud.emulator_port with the generated
CLOUD_API_TOKEN, and it reaches the TLS relay's published port as Meta reaches the outside address."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.cloud.harness import wait_until
from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import CONFIG, Stack, vname_cert

NUMBER_ID, WABA_ID = "106540352242922", "102290129340398"
CLOUD = """  cloud:
    enabled: true
cloud:
  emulator: true
  emulator_port: {port}
  phone_number_id: "{number}"
  waba_id: "{waba}"
bootstrap:
  registration:
    cc: "1"
    phone_number: "6315550077"
    cert_file: vname.cert
"""


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, stack_images: None
) -> Iterator[tuple[Stack, int, int]]:
    workdir: Path = tmp_path_factory.mktemp("cloudapi-stack")
    name = f"it-cloudapi-{os.getpid()}"
    web, relay, exporter, prom, emulator = free_ports(5)
    config = CONFIG.format(name=name, db="mysql", web=web, relay=relay, exporter=exporter, prom=prom)
    # The relay section of CONFIG ends with `tls: {}`: its Cloud ingress goes under it.
    config = config.replace(
        "relay:\n  tls: {}\n",
        "relay:\n  tls: {}\n" + CLOUD.format(port=emulator, number=NUMBER_ID, waba=WABA_ID),
    )
    (workdir / "onprem.yaml").write_text(config)
    (workdir / "vname.cert").write_text(vname_cert("Cloud Co") + os.linesep)
    stack = Stack(workdir, name, web)
    try:
        stack.ok("certs", "issue")
        yield stack, relay, emulator
    finally:
        stack.run("down", "--volumes", "--yes")


def volumes(name: str) -> list[str]:
    done = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_the_stack_runs_the_emulator_healthy_and_it_reaches_the_relay(
    deployed: tuple[Stack, int, int],
) -> None:
    stack, relay_port, port = deployed
    images = stack.run("images")
    assert "onprem-emulator/cloudapi:0.1.0" in images.stdout.split()

    document = stack.ok("deploy")
    assert document["healthy"] is True, document
    health = {s["service"]: s["health"] for s in document["services"]}
    assert health["cloudapi"] == "healthy"
    assert any(v.endswith("cloudapiData") for v in volumes(stack.name))
    status = stack.ok("status")
    assert status["healthy"] is True, status

    token = (stack.state / "secrets" / "CLOUD_API_TOKEN").read_text().strip()
    assert (stack.state / "secrets" / "CLOUD_API_TOKEN").stat().st_mode & 0o777 == 0o600
    graph = f"http://127.0.0.1:{port}/v21.0"
    auth = {"Authorization": f"Bearer {token}"}
    number = requests.get(f"{graph}/{NUMBER_ID}", headers=auth, timeout=10).json()
    assert number["id"] == NUMBER_ID
    assert "".join(ch for ch in number["display_phone_number"] if ch.isdigit()) == "16315550077"
    assert requests.get(f"{graph}/{NUMBER_ID}", timeout=10).json()["error"]["code"] == 190

    registered = requests.post(
        f"{graph}/{NUMBER_ID}/register",
        headers=auth,
        json={"messaging_product": "whatsapp", "pin": "112233"},
        timeout=30,
    )
    assert registered.json() == {"success": True}
    verify_token = (stack.state / "secrets" / "RELAY_VERIFY_TOKEN").read_text().strip()
    subscribed = requests.post(
        f"{graph}/{WABA_ID}/subscribed_apps",
        headers=auth,
        json={
            "override_callback_uri": f"https://127.0.0.1:{relay_port}/webhooks/cloud",
            "verify_token": verify_token,
        },
        timeout=30,
    )
    assert subscribed.json() == {"success": True}, "the handshake reached the relay's published port over TLS"
    inbound = requests.post(
        f"http://127.0.0.1:{port}/__emulator/inbound",
        headers=auth,
        json={"phone_number_id": NUMBER_ID, "from": "4915112345678", "text": "über die Grenze"},
        timeout=10,
    )
    assert inbound.status_code == 200

    def delivered() -> bool:
        state: dict[str, Any] = json.loads(
            requests.get(f"http://127.0.0.1:{port}/__emulator/state", timeout=5).text
        )
        return [row["state"] for row in state["webhooks"]] == ["delivered"]

    wait_until(delivered, "the relay accepted the signed webhook (RELAY_APP_SECRET shared)", timeout=30)

    again = stack.run("deploy")
    assert "nothing changed" in again.stdout, again.stdout + again.stderr
    down = stack.run("down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
    assert volumes(stack.name) == []
